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

/* A 4-bit code book laid out for a branch-free search over its 15 ascending midpoints. Lanes carry
 * k = position / 2 (0…7): its top two bits count the midpoints m3, m7, m11 below the value (three
 * independent compares, where a binary search would wait on one before the next: 7% less time per
 * value in the analysis's lockstep loop), the next bit compares with m1/m5/m9/m13, and
 * permutevar8x32 picks each lane's candidate from one register. The last comparison, with m(2k),
 * chooses between the code values at 2k and 2k+1, so the position itself is never formed. */
typedef struct {
    __m256 m3, m7, m11, level3, level4, even, odd;
} code_book;

AVX2 static code_book make_code_book(const float *m, const float *values) {
    code_book book;
    book.m3 = _mm256_set1_ps(m[3]);
    book.m7 = _mm256_set1_ps(m[7]);
    book.m11 = _mm256_set1_ps(m[11]);
    book.level3 = _mm256_setr_ps(m[1], m[5], m[9], m[13], 0, 0, 0, 0);
    book.level4 = _mm256_setr_ps(m[0], m[2], m[4], m[6], m[8], m[10], m[12], m[14]);
    book.even = _mm256_setr_ps(values[0], values[2], values[4], values[6], values[8], values[10], values[12], values[14]);
    book.odd = _mm256_setr_ps(values[1], values[3], values[5], values[7], values[9], values[11], values[13], values[15]);
    return book;
}

/* Code value at each lane's position = number of midpoints strictly below the scaled value. */
AVX2 static inline __m256 code_value(const code_book *book, __m256 scaled) {
    /* Compares give 0 or -1: the negated sum counts m3, m7, m11 below (0…3). */
    __m256i below = _mm256_add_epi32(_mm256_add_epi32(_mm256_castps_si256(_mm256_cmp_ps(scaled, book->m3, _CMP_GT_OQ)),
                                                      _mm256_castps_si256(_mm256_cmp_ps(scaled, book->m7, _CMP_GT_OQ))),
                                     _mm256_castps_si256(_mm256_cmp_ps(scaled, book->m11, _CMP_GT_OQ)));
    __m256i quarter = _mm256_sub_epi32(_mm256_setzero_si256(), below);
    __m256i above = _mm256_castps_si256(_mm256_cmp_ps(scaled, _mm256_permutevar8x32_ps(book->level3, quarter), _CMP_GT_OQ));
    __m256i half = _mm256_sub_epi32(_mm256_slli_epi32(quarter, 1), above);  /* above is 0 or -1 */
    __m256 last = _mm256_cmp_ps(scaled, _mm256_permutevar8x32_ps(book->level4, half), _CMP_GT_OQ);
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(book->even, half), _mm256_permutevar8x32_ps(book->odd, half), last);
}

AVX2 static inline __m256 clamp_unit_ps(__m256 x) {
    return _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-1.0f)), _mm256_set1_ps(1.0f));
}

#endif
