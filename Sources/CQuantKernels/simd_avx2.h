#ifndef QK_SIMD_AVX2_H
#define QK_SIMD_AVX2_H
/* AVX2 helpers shared by the analysis (analyze.c) and export (quantize.c) kernels. Each function is
 * compiled for AVX2/FMA/F16C and only called behind qk_has_avx2(). */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include "qk_kernels.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float max_ps(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    float result = lanes[0];
    for (int k = 1; k < 8; k++) result = fmaxf(result, lanes[k]);
    return result;
}

/* Eight elements from i on, converted to float on the way in. */
AVX2 static inline __m256 load8(const void *data, int dtype, int64_t i) {
    const unsigned char *bytes = data;
    if (dtype == QK_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(bytes + 2 * i)));
    if (dtype == QK_BF16) {
        __m128i top = _mm_loadu_si128((const __m128i *)(bytes + 2 * i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(top), 16));
    }
    return _mm256_loadu_ps((const float *)(bytes + 4 * i));
}

/* A 4-bit code book laid out for a 4-level branch-free binary search over its 15 midpoints. Lanes
 * carry k = position / 2 (0…7), built a bit per level: level 1 compares with m7, level 2 with m3 or
 * m11, level 3 with m1/m5/m9/m13, level 4 with m(2k); each level's candidates sit in one register and
 * permutevar8x32 picks each lane's. The last comparison chooses between the code values at 2k and
 * 2k+1, so the position itself is never formed. */
typedef struct {
    __m256 m7, level2, level3, level4, even, odd;
} code_book;

AVX2 static code_book make_code_book(const float *m, const float *values) {
    code_book book;
    book.m7 = _mm256_set1_ps(m[7]);
    book.level2 = _mm256_setr_ps(m[3], m[11], 0, 0, 0, 0, 0, 0);
    book.level3 = _mm256_setr_ps(m[1], m[5], m[9], m[13], 0, 0, 0, 0);
    book.level4 = _mm256_setr_ps(m[0], m[2], m[4], m[6], m[8], m[10], m[12], m[14]);
    book.even = _mm256_setr_ps(values[0], values[2], values[4], values[6], values[8], values[10], values[12], values[14]);
    book.odd = _mm256_setr_ps(values[1], values[3], values[5], values[7], values[9], values[11], values[13], values[15]);
    return book;
}

/* Code value at each lane's position = number of midpoints strictly below the scaled value. */
AVX2 static inline __m256 code_value(const code_book *book, __m256 scaled) {
    __m256i above = _mm256_castps_si256(_mm256_cmp_ps(scaled, book->m7, _CMP_GT_OQ));
    __m256i half = _mm256_and_si256(above, _mm256_set1_epi32(4));
    __m256 bound = _mm256_permutevar8x32_ps(book->level2, _mm256_srli_epi32(half, 2));
    above = _mm256_castps_si256(_mm256_cmp_ps(scaled, bound, _CMP_GT_OQ));
    half = _mm256_add_epi32(half, _mm256_and_si256(above, _mm256_set1_epi32(2)));
    bound = _mm256_permutevar8x32_ps(book->level3, _mm256_srli_epi32(half, 1));
    above = _mm256_castps_si256(_mm256_cmp_ps(scaled, bound, _CMP_GT_OQ));
    half = _mm256_sub_epi32(half, above);  /* above is 0 or -1 */
    bound = _mm256_permutevar8x32_ps(book->level4, half);
    __m256 last = _mm256_cmp_ps(scaled, bound, _CMP_GT_OQ);
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(book->even, half), _mm256_permutevar8x32_ps(book->odd, half), last);
}

AVX2 static inline __m256 clamp_unit_ps(__m256 x) {
    return _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-1.0f)), _mm256_set1_ps(1.0f));
}

#endif
