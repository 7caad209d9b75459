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
    int64_t k4 = depth_quads(k), whole = k / 4;
    /* Row by row: each quad of a row is 4 contiguous bytes of its tile; a row past n and the depth
     * past k are zeros. */
    for (int64_t j = 0; j < column_blocks(n) * 16; j++) {
        int8_t *out = packed + (j / 16) * k4 * 64 + (j % 16) * 4;
        uint32_t sum = 0;
        if (j < n) {
            const int8_t *row = b + j * k;
            for (int64_t kb = 0; kb < whole; kb++) memcpy(out + kb * 64, row + kb * 4, 4);
            if (whole < k4) {
                int8_t quad[4] = {0, 0, 0, 0};
                memcpy(quad, row + whole * 4, (size_t)(k - whole * 4));
                memcpy(out + whole * 64, quad, 4);
            }
            for (int64_t kk = 0; kk < k; kk++) sum += (uint32_t)(int32_t)row[kk];
        } else {
            for (int64_t kb = 0; kb < k4; kb++) memset(out + kb * 64, 0, 4);
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

/* Blocking, both fast paths: a chunk of depth (KC_QUADS quads) of B's tiles stays in L2 while every
 * row group of A passes over it, and a tile's accumulators stay in registers through the chunk;
 * chunk sums are added into an int32 scratch of the rows × the range's whole tiles. Integer sums
 * in any order are the same, so the blocking cannot change a result. (Rows outside and columns
 * inside streamed all of B from memory once per row group, 8 times for 64 rows: VNNI on one core at
 * 64 × 14336 × 4096 ran at 120–147 GOPS that way, 367–378 blocked.)
 * A is re-laid once per call into rows of k4 · 4 entries (shifted to unsigned, or widened to int16),
 * padded with the entry of a zero code, and padded to whole row groups: the inner loops read whole
 * quads and whole groups without a tail; padded rows' sums are never stored. */
#define INLINE static inline __attribute__((always_inline))
enum { KC_QUADS = 256 };

static inline int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

/* ============================================================= AVX-512 VNNI ==== */

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
enum { VNNI_ROWS = 8, VNNI_TILES = 3 };

/* vpdpbusd multiplies unsigned by signed bytes: a + 128 (a XOR 0x80) is unsigned, and the
 * 128 · Σ_k B[j][k] it adds is subtracted at the end (column_offsets). Padding: a = 0 becomes 128,
 * times B's zero padding, so it adds nothing. One call: VNNI_ROWS rows × `tiles` tiles of 16 columns
 * over quads kb0..<kb1, added to (or, on the first chunk, stored in) sums. 8 × 3 accumulators: 6 × 4
 * measured 3% slower, 12 × 2 spills. */
VNNI INLINE void vnni_block(const uint8_t *shifted, int64_t lda, int tiles, const int8_t *tile, int64_t tile_stride,
                            int64_t kb0, int64_t kb1, int32_t *sums, int64_t ld_sums, int first_chunk) {
    __m512i acc[VNNI_ROWS][VNNI_TILES];
    for (int r = 0; r < VNNI_ROWS; r++)
        for (int t = 0; t < tiles; t++)
            acc[r][t] = first_chunk ? _mm512_setzero_si512() : _mm512_loadu_si512(sums + r * ld_sums + t * 16);
    for (int64_t kb = kb0; kb < kb1; kb++) {
        __m512i bq[VNNI_TILES];
        for (int t = 0; t < tiles; t++) bq[t] = _mm512_loadu_si512(tile + t * tile_stride + kb * 64);
        for (int r = 0; r < VNNI_ROWS; r++) {
            int32_t quad;
            memcpy(&quad, shifted + r * lda + kb * 4, 4);
            __m512i aq = _mm512_set1_epi32(quad);
            for (int t = 0; t < tiles; t++) acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], aq, bq[t]);
        }
    }
    for (int r = 0; r < VNNI_ROWS; r++)
        for (int t = 0; t < tiles; t++) _mm512_storeu_si512(sums + r * ld_sums + t * 16, acc[r][t]);
}

VNNI static void product_vnni(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *column_offsets,
                              int64_t first_column, int64_t columns, int32_t *c, int64_t ldc) {
    int64_t k4 = depth_quads(k), lda = k4 * 4, rows = round_up(m, VNNI_ROWS);
    int64_t first_tile = first_column / 16, tiles = column_blocks(columns), ld_sums = tiles * 16;
    uint8_t *shifted = malloc((size_t)(rows * lda));
    int32_t *sums = malloc((size_t)(rows * ld_sums) * sizeof(int32_t));
    memset(shifted, 0x80, (size_t)(rows * lda));
    for (int64_t i = 0; i < m; i++)
        for (int64_t kk = 0; kk < k; kk++) shifted[i * lda + kk] = (uint8_t)a[i * k + kk] ^ 0x80;
    const int8_t *first = packed + first_tile * k4 * 64;
    for (int64_t kb0 = 0; kb0 < k4; kb0 += KC_QUADS) {
        int64_t kb1 = kb0 + KC_QUADS < k4 ? kb0 + KC_QUADS : k4;
        for (int64_t t = 0; t < tiles; t += VNNI_TILES) {
            int group = tiles - t < VNNI_TILES ? (int)(tiles - t) : VNNI_TILES;
            for (int64_t i = 0; i < rows; i += VNNI_ROWS) {
                const uint8_t *block_a = shifted + i * lda;
                const int8_t *block_b = first + t * k4 * 64;
                int32_t *block_sums = sums + i * ld_sums + t * 16;
                /* A constant tile count lets the compiler keep the accumulators in registers. */
                switch (group) {
                
                case 3: vnni_block(block_a, lda, 3, block_b, k4 * 64, kb0, kb1, block_sums, ld_sums, kb0 == 0); break;
                case 2: vnni_block(block_a, lda, 2, block_b, k4 * 64, kb0, kb1, block_sums, ld_sums, kb0 == 0); break;
                default: vnni_block(block_a, lda, 1, block_b, k4 * 64, kb0, kb1, block_sums, ld_sums, kb0 == 0); break;
                }
            }
        }
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < columns; j++)
            c[i * ldc + j] = (int32_t)((uint32_t)sums[i * ld_sums + j] - (uint32_t)column_offsets[first_column + j]);
    free(sums);
    free(shifted);
}

/* ===================================================================== AVX2 ==== */

#define AVX2 __attribute__((target("avx2")))
enum { AVX2_ROWS = 2 };

/* Bytes widened to int16 and multiplied with vpmaddwd, which sums pairs of int16 products into int32
 * exactly (vpmaddubsw would saturate at 16 bits). One tile row of 16 bytes is 4 columns × 4 depths;
 * multiplied by a row's quad (a0 a1 a2 a3 repeated) it gives, per column, two partial sums
 * (a0b0 + a1b1, a2b2 + a3b3), added together at the end. Two rows × 4 quads of accumulators and the
 * tile's 4 widened quads fill the 16 registers. (Three rows reading a pre-widened tile from memory
 * was slower: 93 against 128 GOPS on one core at 64 × 14336 × 4096.) */
AVX2 INLINE void avx2_block(const int16_t *widened, int64_t lda, const int8_t *tile, int64_t kb0, int64_t kb1,
                            int32_t *sums, int64_t ld_sums, int first_chunk) {
    __m256i acc[AVX2_ROWS][4];
    for (int r = 0; r < AVX2_ROWS; r++)
        for (int q = 0; q < 4; q++)
            acc[r][q] = first_chunk ? _mm256_setzero_si256() : _mm256_loadu_si256((const __m256i *)(sums + r * ld_sums + q * 8));
    for (int64_t kb = kb0; kb < kb1; kb++) {
        __m256i bq[4];
        for (int q = 0; q < 4; q++) bq[q] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(tile + kb * 64 + q * 16)));
        for (int r = 0; r < AVX2_ROWS; r++) {
            int64_t quad;
            memcpy(&quad, widened + r * lda + kb * 4, 8);
            __m256i aq = _mm256_set1_epi64x(quad);
            for (int q = 0; q < 4; q++) acc[r][q] = _mm256_add_epi32(acc[r][q], _mm256_madd_epi16(aq, bq[q]));
        }
    }
    for (int r = 0; r < AVX2_ROWS; r++)
        for (int q = 0; q < 4; q++) _mm256_storeu_si256((__m256i *)(sums + r * ld_sums + q * 8), acc[r][q]);
}

AVX2 static void product_avx2(const int8_t *a, int64_t m, int64_t k, const int8_t *packed,
                              int64_t first_column, int64_t columns, int32_t *c, int64_t ldc) {
    int64_t k4 = depth_quads(k), lda = k4 * 4, rows = round_up(m, AVX2_ROWS);
    int64_t first_tile = first_column / 16, tiles = column_blocks(columns);
    /* Per row and tile: 4 quads × 8 pair sums. */
    int64_t ld_sums = tiles * 32;
    int16_t *widened = calloc((size_t)(rows * lda), sizeof(int16_t));
    int32_t *sums = malloc((size_t)(rows * ld_sums) * sizeof(int32_t));
    for (int64_t i = 0; i < m; i++)
        for (int64_t kk = 0; kk < k; kk++) widened[i * lda + kk] = a[i * k + kk];
    for (int64_t kb0 = 0; kb0 < k4; kb0 += KC_QUADS) {
        int64_t kb1 = kb0 + KC_QUADS < k4 ? kb0 + KC_QUADS : k4;
        for (int64_t t = 0; t < tiles; t++) {
            const int8_t *tile = packed + (first_tile + t) * k4 * 64;
            for (int64_t i = 0; i < rows; i += AVX2_ROWS)
                avx2_block(widened + i * lda, lda, tile, kb0, kb1, sums + i * ld_sums + t * 32, ld_sums, kb0 == 0);
        }
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t t = 0; t < tiles; t++) {
            /* hadd pairs within 128-bit lanes: (c0 c1 c4 c5 | c2 c3 c6 c7); the permute restores order. */
            const int32_t *pairs = sums + i * ld_sums + t * 32;
            int32_t column_sums[16];
            __m256i q0 = _mm256_loadu_si256((const __m256i *)pairs), q1 = _mm256_loadu_si256((const __m256i *)(pairs + 8));
            __m256i q2 = _mm256_loadu_si256((const __m256i *)(pairs + 16)), q3 = _mm256_loadu_si256((const __m256i *)(pairs + 24));
            _mm256_storeu_si256((__m256i *)column_sums, _mm256_permute4x64_epi64(_mm256_hadd_epi32(q0, q1), 0xD8));
            _mm256_storeu_si256((__m256i *)(column_sums + 8), _mm256_permute4x64_epi64(_mm256_hadd_epi32(q2, q3), 0xD8));
            int64_t width = columns - t * 16 < 16 ? columns - t * 16 : 16;
            memcpy(c + i * ldc + t * 16, column_sums, (size_t)width * sizeof(int32_t));
        }
    free(sums);
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
