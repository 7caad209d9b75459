#include "qk_kernels.h"
#include <string.h>
#include <immintrin.h>

/* F16: IEEE binary16, little endian. _Float16 conversion is exact (every half is a float). */
void qk_decode_f16_scalar(const void *src, float *dst, int64_t count) {
    const unsigned char *bytes = src;
    for (int64_t i = 0; i < count; i++) {
        _Float16 h;
        memcpy(&h, bytes + 2 * i, 2);
        dst[i] = (float)h;
    }
}

__attribute__((target("avx2,f16c")))
static void decode_f16_f16c(const void *src, float *dst, int64_t count) {
    const unsigned char *bytes = src;
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i halves = _mm_loadu_si128((const __m128i *)(bytes + 2 * i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(halves));
    }
    qk_decode_f16_scalar(bytes + 2 * i, dst + i, count - i);
}

void qk_decode_f16(const void *src, float *dst, int64_t count) {
    if (qk_has_avx2()) decode_f16_f16c(src, dst, count);
    else qk_decode_f16_scalar(src, dst, count);
}

/* BF16 is the top half of a float32: shift it back. Plain C; the compiler vectorises it. */
void qk_decode_bf16(const void *src, float *dst, int64_t count) {
    const unsigned char *bytes = src;
    for (int64_t i = 0; i < count; i++) {
        uint16_t top;
        memcpy(&top, bytes + 2 * i, 2);
        uint32_t bits = (uint32_t)top << 16;
        memcpy(dst + i, &bits, 4);
    }
}

void qk_decode_f32(const void *src, float *dst, int64_t count) { memcpy(dst, src, (size_t)count * 4); }
