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

/* bitsandbytes' packed 4-bit values back to float, as its dequantize_4bit computes them:
 *     byte i = index[2i] << 4 | index[2i+1]   (first value in the high nibble)
 *     value i = code[index i] × absmax[i / blocksize]
 * The AVX2 path takes 8 values (4 bytes) at a time inside blocks of a multiple of 8 values. */
void qk_dequantize_4bit_scalar(const uint8_t *packed, const float *absmax, const float *code, int64_t count, int64_t blocksize,
                               float *out) {
    for (int64_t i = 0; i < count; i++) {
        uint8_t byte = packed[i >> 1];
        out[i] = code[(i & 1) ? byte & 0x0F : byte >> 4] * absmax[i / blocksize];
    }
}

__attribute__((target("avx2,fma,f16c")))
static void dequantize_4bit_avx2(const uint8_t *packed, const float *absmax, const float *code, int64_t count, int64_t blocksize,
                                 float *out) {
    const __m256 low = _mm256_loadu_ps(code), high = _mm256_loadu_ps(code + 8);
    const __m128i each_byte_twice = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i high_nibble_first = _mm256_setr_epi32(4, 0, 4, 0, 4, 0, 4, 0);
    for (int64_t b = 0, start = 0; start < count; b++, start += blocksize) {
        int64_t end = start + blocksize < count ? start + blocksize : count;
        const __m256 scale = _mm256_set1_ps(absmax[b]);
        int64_t i = start;
        for (; i + 8 <= end; i += 8) {
            int32_t four;
            memcpy(&four, packed + i / 2, 4);
            __m128i bytes = _mm_shuffle_epi8(_mm_cvtsi32_si128(four), each_byte_twice);
            __m256i index = _mm256_and_si256(_mm256_srlv_epi32(_mm256_cvtepu8_epi32(bytes), high_nibble_first), _mm256_set1_epi32(15));
            __m256 upper = _mm256_castsi256_ps(_mm256_slli_epi32(index, 28));  /* bit 3 → sign: the table's upper half */
            __m256 value = _mm256_blendv_ps(_mm256_permutevar8x32_ps(low, index), _mm256_permutevar8x32_ps(high, index), upper);
            _mm256_storeu_ps(out + i, _mm256_mul_ps(value, scale));
        }
        for (; i < end; i++) {
            uint8_t byte = packed[i >> 1];
            out[i] = code[(i & 1) ? byte & 0x0F : byte >> 4] * absmax[b];
        }
    }
}

void qk_dequantize_4bit(const uint8_t *packed, const float *absmax, const float *code, int64_t count, int64_t blocksize, float *out) {
    if (qk_has_avx2() && blocksize % 8 == 0) dequantize_4bit_avx2(packed, absmax, code, count, blocksize, out);
    else qk_dequantize_4bit_scalar(packed, absmax, code, count, blocksize, out);
}
