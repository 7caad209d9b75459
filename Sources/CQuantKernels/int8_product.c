#include "qk_kernels.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* The int8 × int8 → int32 product of LLM.int8 (torch._int_mm in bitsandbytes' int8_mixed_scaled_mm),
 * exact: C[i][j] = Σ_k A[i][k] · B[j][k] in int32. With |a|, |b| ≤ 128 every sum fits int32 for
 * k ≤ QK_INT8_PRODUCT_MAX_K; the fast variants' intermediate sums may wrap, their results do not.
 *
 * B is packed once per weight, 16 columns × 4 depths per 64-byte tile, zero-padded:
 *
 *     packed[((jb · k4) + kb) · 64 + (j % 16) · 4 + (k % 4)] = B[j][k]    jb = j / 16, kb = k / 4,
 *                                                                        k4 = ceil(k / 4)
 *
 * so one 64-byte load is what vpdpbusd multiplies by a broadcast 4 bytes of a row of A, and what
 * vpmovsxbw widens 16 bytes (4 columns) at a time for vpmaddwd. */

static inline int64_t depth_quads(int64_t k) { return (k + 3) / 4; }
static inline int64_t column_blocks(int64_t n) { return (n + 15) / 16; }

int64_t qk_int8_packed_size(int64_t n, int64_t k) { return column_blocks(n) * depth_quads(k) * 64; }

void qk_int8_pack(const int8_t *b, int64_t n, int64_t k, int8_t *packed, int32_t *column_offsets) {
    int64_t k4 = depth_quads(k);
    memset(packed, 0, (size_t)qk_int8_packed_size(n, k));
    for (int64_t j = 0; j < column_blocks(n) * 16; j++) {
        uint32_t sum = 0;
        if (j < n)
            for (int64_t kk = 0; kk < k; kk++) {
                int8_t value = b[j * k + kk];
                packed[((j / 16) * k4 + kk / 4) * 64 + (j % 16) * 4 + kk % 4] = value;
                sum += (uint32_t)(int32_t)value;
            }
        /* 128 · Σ_k B[j][k], modulo 2^32 like the VNNI accumulators it corrects. */
        column_offsets[j] = (int32_t)(sum * 128u);
    }
}

static inline int8_t packed_at(const int8_t *packed, int64_t k4, int64_t j, int64_t kk) {
    return packed[((j / 16) * k4 + kk / 4) * 64 + (j % 16) * 4 + kk % 4];
}

void qk_int8_product_scalar(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *column_offsets,
                            int64_t first_column, int64_t columns, int32_t *c, int64_t ldc) {
    (void)column_offsets;
    int64_t k4 = depth_quads(k);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = first_column; j < first_column + columns; j++) {
            int32_t sum = 0;
            for (int64_t kk = 0; kk < k; kk++) sum += (int32_t)a[i * k + kk] * (int32_t)packed_at(packed, k4, j, kk);
            c[i * ldc + (j - first_column)] = sum;
        }
}

/* Rows of A are taken in groups (8 for AVX-512, 2 for AVX2) and re-laid once per group into scratch
 * rows of k4 · 4 entries (shifted to unsigned, or widened to int16), padded with the entry of a zero
 * code: the inner loops then read whole quads without a tail. */
#define INLINE static inline __attribute__((always_inline))

/* ============================================================= AVX-512 VNNI ==== */

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/* vpdpbusd multiplies unsigned by signed bytes: a + 128 (a XOR 0x80) is unsigned, and the
 * 128 · Σ_k B[j][k] it adds is subtracted at the end (column_offsets). Padding: a = 0 becomes 128,
 * times B's zero padding, so it adds nothing. */
VNNI INLINE void vnni_rows(const uint8_t *shifted, int rows, int64_t k4, const int8_t *packed, const int32_t *column_offsets,
                           int64_t first_column, int64_t columns, int32_t *c, int64_t ldc) {
    int64_t first_block = first_column / 16, end = first_column + columns;
    for (int64_t jb = first_block; jb * 16 < end; jb++) {
        __m512i acc[8];
        for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_si512();
        const int8_t *tile = packed + jb * k4 * 64;
        for (int64_t kb = 0; kb < k4; kb++) {
            __m512i bq = _mm512_loadu_si512(tile + kb * 64);
            for (int r = 0; r < rows; r++) {
                int32_t quad;
                memcpy(&quad, shifted + r * k4 * 4 + kb * 4, 4);
                acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(quad), bq);
            }
        }
        __m512i offsets = _mm512_loadu_si512(column_offsets + jb * 16);
        int64_t width = end - jb * 16 < 16 ? end - jb * 16 : 16;
        __mmask16 mask = (__mmask16)((1u << width) - 1);
        for (int r = 0; r < rows; r++)
            _mm512_mask_storeu_epi32(c + r * ldc + (jb * 16 - first_column), mask, _mm512_sub_epi32(acc[r], offsets));
    }
}

VNNI static void product_vnni(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *column_offsets,
                         int64_t first_column, int64_t columns, int32_t *c, int64_t ldc) {
    int64_t k4 = depth_quads(k);
    uint8_t *shifted = malloc((size_t)(8 * k4 * 4));
    for (int64_t i = 0; i < m; i += 8) {
        int rows = m - i < 8 ? (int)(m - i) : 8;
        memset(shifted, 0x80, (size_t)(rows * k4 * 4));
        for (int r = 0; r < rows; r++)
            for (int64_t kk = 0; kk < k; kk++) shifted[r * k4 * 4 + kk] = (uint8_t)a[(i + r) * k + kk] ^ 0x80;
        int32_t *out = c + i * ldc;
        /* A constant row count lets the compiler keep the accumulators in registers. */
        switch (rows) {
        case 8: vnni_rows(shifted, 8, k4, packed, column_offsets, first_column, columns, out, ldc); break;
        case 7: vnni_rows(shifted, 7, k4, packed, column_offsets, first_column, columns, out, ldc); break;
        case 6: vnni_rows(shifted, 6, k4, packed, column_offsets, first_column, columns, out, ldc); break;
        case 5: vnni_rows(shifted, 5, k4, packed, column_offsets, first_column, columns, out, ldc); break;
        case 4: vnni_rows(shifted, 4, k4, packed, column_offsets, first_column, columns, out, ldc); break;
        case 3: vnni_rows(shifted, 3, k4, packed, column_offsets, first_column, columns, out, ldc); break;
        case 2: vnni_rows(shifted, 2, k4, packed, column_offsets, first_column, columns, out, ldc); break;
        default: vnni_rows(shifted, 1, k4, packed, column_offsets, first_column, columns, out, ldc); break;
        }
    }
    free(shifted);
}

/* ===================================================================== AVX2 ==== */

#define AVX2 __attribute__((target("avx2")))

/* Bytes widened to int16 and multiplied with vpmaddwd, which sums pairs of int16 products into int32
 * exactly (vpmaddubsw would saturate at 16 bits). One tile row of 16 bytes is 4 columns × 4 depths;
 * multiplied by a row's quad (a0 a1 a2 a3 repeated) it gives, per column, two partial sums
 * (a0b0 + a1b1, a2b2 + a3b3), added together at the end. */
AVX2 INLINE void avx2_rows(const int16_t *widened, int rows, int64_t k4, const int8_t *packed,
                           int64_t first_column, int64_t columns, int32_t *c, int64_t ldc) {
    int64_t first_block = first_column / 16, end = first_column + columns;
    for (int64_t jb = first_block; jb * 16 < end; jb++) {
        __m256i acc[2][4];
        for (int r = 0; r < rows; r++)
            for (int q = 0; q < 4; q++) acc[r][q] = _mm256_setzero_si256();
        const int8_t *tile = packed + jb * k4 * 64;
        for (int64_t kb = 0; kb < k4; kb++) {
            __m256i bq[4];
            for (int q = 0; q < 4; q++) bq[q] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(tile + kb * 64 + q * 16)));
            for (int r = 0; r < rows; r++) {
                int64_t quad;
                memcpy(&quad, widened + r * k4 * 4 + kb * 4, 8);
                __m256i aq = _mm256_set1_epi64x(quad);
                for (int q = 0; q < 4; q++) acc[r][q] = _mm256_add_epi32(acc[r][q], _mm256_madd_epi16(aq, bq[q]));
            }
        }
        int64_t width = end - jb * 16 < 16 ? end - jb * 16 : 16;
        for (int r = 0; r < rows; r++) {
            /* hadd pairs within 128-bit lanes: (c0 c1 c4 c5 | c2 c3 c6 c7); the permute restores order. */
            int32_t sums[16];
            __m256i low = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][0], acc[r][1]), 0xD8);
            __m256i high = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][2], acc[r][3]), 0xD8);
            _mm256_storeu_si256((__m256i *)sums, low);
            _mm256_storeu_si256((__m256i *)(sums + 8), high);
            memcpy(c + r * ldc + (jb * 16 - first_column), sums, (size_t)width * 4);
        }
    }
}

AVX2 static void product_avx2(const int8_t *a, int64_t m, int64_t k, const int8_t *packed,
                         int64_t first_column, int64_t columns, int32_t *c, int64_t ldc) {
    int64_t k4 = depth_quads(k);
    int16_t *widened = malloc((size_t)(2 * k4 * 4) * sizeof(int16_t));
    for (int64_t i = 0; i < m; i += 2) {
        int rows = m - i < 2 ? (int)(m - i) : 2;
        memset(widened, 0, (size_t)(rows * k4 * 4) * sizeof(int16_t));
        for (int r = 0; r < rows; r++)
            for (int64_t kk = 0; kk < k; kk++) widened[r * k4 * 4 + kk] = a[(i + r) * k + kk];
        if (rows == 2) avx2_rows(widened, 2, k4, packed, first_column, columns, c + i * ldc, ldc);
        else avx2_rows(widened, 1, k4, packed, first_column, columns, c + i * ldc, ldc);
    }
    free(widened);
}

/* ================================================================= dispatch ==== */

int qk_int8_product_variant(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *column_offsets,
                            int64_t first_column, int64_t columns, int32_t *c, int64_t ldc, int variant) {
    switch (variant) {
    case 0: qk_int8_product_scalar(a, m, k, packed, column_offsets, first_column, columns, c, ldc); return 0;
    case 1:
        if (!qk_has_avx2()) return -1;
        product_avx2(a, m, k, packed, first_column, columns, c, ldc);
        return 0;
    case 2:
        if (!qk_has_avx512_vnni()) return -1;
        product_vnni(a, m, k, packed, column_offsets, first_column, columns, c, ldc);
        return 0;
    default: return -1;
    }
}

void qk_int8_product(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *column_offsets,
                     int64_t first_column, int64_t columns, int32_t *c, int64_t ldc) {
    if (qk_int8_product_variant(a, m, k, packed, column_offsets, first_column, columns, c, ldc, 2) == 0) return;
    if (qk_int8_product_variant(a, m, k, packed, column_offsets, first_column, columns, c, ldc, 1) == 0) return;
    qk_int8_product_scalar(a, m, k, packed, column_offsets, first_column, columns, c, ldc);
}
