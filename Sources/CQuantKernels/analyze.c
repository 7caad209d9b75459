#include "qk_kernels.h"
#include <math.h>
#include <string.h>
#include <immintrin.h>
#include "simd_avx2.h"

/* bitsandbytes dequantizes int8 by multiplying with this float32 constant, not dividing by 127. */
static const float RECIPROCAL_127 = 7.874015718698502e-3f;
static const float ABSMAX_FLOOR = 1e-38f;

void qk_accum_init(qk_accum *acc) {
    memset(acc, 0, sizeof *acc);
    acc->min = INFINITY;
    acc->max = -INFINITY;
}

void qk_accum_merge(qk_accum *into, const qk_accum *from) {
    into->sum += from->sum;
    into->sum_sq += from->sum_sq;
    into->min = fminf(into->min, from->min);
    into->max = fmaxf(into->max, from->max);
    into->nan_count += from->nan_count;
    into->inf_count += from->inf_count;
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        into->err_sq[m] += from->err_sq[m];
        into->err_max[m] = fmaxf(into->err_max[m], from->err_max[m]);
    }
    for (int b = 0; b < QK_HIST_BINS; b++) into->hist[b] += from->hist[b];
}

void qk_accum_take_sums(qk_accum *acc, double sums[QK_ACCUM_SUMS]) {
    sums[0] = acc->sum;
    sums[1] = acc->sum_sq;
    for (int m = 0; m < QK_METHOD_COUNT; m++) sums[2 + m] = acc->err_sq[m];
    acc->sum = acc->sum_sq = 0;
    for (int m = 0; m < QK_METHOD_COUNT; m++) acc->err_sq[m] = 0;
}

void qk_accum_add_sums(qk_accum *acc, const double sums[QK_ACCUM_SUMS]) {
    acc->sum += sums[0];
    acc->sum_sq += sums[1];
    for (int m = 0; m < QK_METHOD_COUNT; m++) acc->err_sq[m] += sums[2 + m];
}

static inline uint32_t float_bits(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    return bits;
}

static inline int histogram_bin(float x) { return (int)((float_bits(x) & 0x7fffffffu) >> 21); }

/* ============================================================ scalar reference ==== */

/* Element i of a range as float. */
static inline float element(const void *data, int dtype, int64_t i) {
    const unsigned char *bytes = data;
    if (dtype == QK_F16) {
        _Float16 h;
        memcpy(&h, bytes + 2 * i, 2);
        return (float)h;
    }
    if (dtype == QK_BF16) {
        uint16_t top;
        memcpy(&top, bytes + 2 * i, 2);
        uint32_t bits = (uint32_t)top << 16;
        float x;
        memcpy(&x, &bits, 4);
        return x;
    }
    float x;
    memcpy(&x, bytes + 4 * i, 4);
    return x;
}

static void statistics_of(float w, qk_accum *acc) {
    if (isnan(w)) { acc->nan_count++; return; }
    if (isinf(w)) acc->inf_count++;
    acc->sum += w;
    acc->sum_sq += (double)w * w;
    acc->min = fminf(acc->min, w);
    acc->max = fmaxf(acc->max, w);
    acc->hist[histogram_bin(w)]++;
}

void qk_scan_scalar(const void *data, int dtype, int64_t count, int64_t blocksize, int64_t columns,
                    float *block_absmax, float *row_absmax, qk_accum *acc) {
    for (int64_t i = 0; i < count; i++) statistics_of(element(data, dtype, i), acc);
    for (int64_t start = 0, b = 0; start < count; start += blocksize, b++) {
        int64_t end = start + blocksize < count ? start + blocksize : count;
        float largest = 0;
        for (int64_t i = start; i < end; i++) largest = fmaxf(largest, fabsf(element(data, dtype, i)));
        block_absmax[b] = largest;
    }
    for (int64_t start = 0, r = 0; start < count; start += columns, r++) {
        float largest = 0;
        for (int64_t i = start; i < start + columns; i++) largest = fmaxf(largest, fabsf(element(data, dtype, i)));
        row_absmax[r] = largest;
    }
}

/* torch's `127.0 / scale` is reciprocal(scale) × 127, two roundings. An all-zero row (scale 0) gives
 * 0 × inf = NaN, which torch turns into int8 0 on x86: factor 0 gives the same code. */
static inline float int8_factor(float scale) { return scale > 0 ? (1.0f / scale) * 127.0f : 0.0f; }

static inline float clamp_unit(float x) { return x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x); }

/* Number of midpoints strictly below x: torch.bucketize(right=False). */
static inline int bucket(const float *midpoints, float x) {
    int position = 0;
    for (int k = 0; k < 15; k++) position += midpoints[k] < x;
    return position;
}

static inline void add_error(qk_accum *acc, int method, float dequantized, float w) {
    float error = dequantized - w;
    acc->err_sq[method] += (double)error * (double)error;
    acc->err_max[method] = fmaxf(acc->err_max[method], fabsf(error));
}

/* The errors of every method for the elements [start, end) of a range, one at a time. */
static void errors_of_elements(const qk_range *r, int64_t start, int64_t end, qk_accum *acc) {
    int64_t blocks = (r->count + r->blocksize - 1) / r->blocksize;
    for (int64_t i = start; i < end; i++) {
        float w = element(r->data, r->dtype, i);
        if (isnan(w)) continue;
        float scale = r->row_scale[i / r->columns];
        float factor = int8_factor(scale);
        float code = nearbyintf((float)(_Float16)w * factor);
        add_error(acc, QK_INT8, code * scale * RECIPROCAL_127, w);

        int64_t b = i / r->blocksize;
        float absmax = r->absmax[b], absmax_dq = r->absmax_dq[b];
        int divide = r->last_block_partial && b == blocks - 1;
        float scaled = clamp_unit(divide ? w / absmax : w * (1.0f / fmaxf(absmax, ABSMAX_FLOOR)));
        float nf4 = r->nf4_values[bucket(r->nf4_midpoints, scaled)];
        float fp4 = r->fp4_values[bucket(r->fp4_midpoints, scaled)];
        add_error(acc, QK_NF4, nf4 * absmax, w);
        add_error(acc, QK_NF4_DQ, nf4 * absmax_dq, w);
        add_error(acc, QK_FP4, fp4 * absmax, w);
        add_error(acc, QK_FP4_DQ, fp4 * absmax_dq, w);
    }
}

void qk_errors_scalar(const qk_range *r, qk_accum *acc) { errors_of_elements(r, 0, r->count, acc); }

/* ================================================================ AVX2 paths ==== */

AVX2 static inline __m256d widen_add(__m256d total, __m256 part) {
    total = _mm256_add_pd(total, _mm256_cvtps_pd(_mm256_castps256_ps128(part)));
    return _mm256_add_pd(total, _mm256_cvtps_pd(_mm256_extractf128_ps(part, 1)));
}

AVX2 static inline double sum_pd(__m256d v) {
    double lanes[4];
    _mm256_storeu_pd(lanes, v);
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

/* Lanes holding NaN or ±Inf (exponent all ones) as a movemask; 0 for ordinary vectors. */
AVX2 static inline int special_lanes(__m256 w) {
    const __m256i exponent = _mm256_set1_epi32(0x7f800000);
    __m256i bits = _mm256_and_si256(_mm256_castps_si256(w), exponent);
    return _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(bits, exponent)));
}

/* Pass 1 walks segments: the stretch of a row inside one block (or of a block inside one row), so the
 * inner loop needs no counters; sums move from float to double every 64 values. */
AVX2 static void scan_avx2(const void *data, int dtype, int64_t count, int64_t blocksize, int64_t columns,
                           float *block_absmax, float *row_absmax, qk_accum *acc) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    /* One histogram per lane: weights crowd into a few bins, and increments of one counter would
     * wait on each other through memory; eight copies keep the chains independent. */
    static _Thread_local uint32_t lane_hist[8][QK_HIST_BINS];
    memset(lane_hist, 0, sizeof lane_hist);

    __m256 block_max = _mm256_setzero_ps(), row_max = _mm256_setzero_ps();
    __m256 low = _mm256_set1_ps(INFINITY), high = _mm256_set1_ps(-INFINITY);
    __m256d total = _mm256_setzero_pd(), total_sq = _mm256_setzero_pd();

    for (int64_t start = 0; start < count;) {
        int64_t next_block = (start / blocksize + 1) * blocksize, next_row = (start / columns + 1) * columns;
        int64_t end = next_block < next_row ? next_block : next_row;
        if (end > count) end = count;
        __m256 segment_max = _mm256_setzero_ps();
        for (int64_t group = start; group < end; group += 64) {
            int64_t group_end = group + 64 < end ? group + 64 : end;
            __m256 sum = _mm256_setzero_ps(), sum_sq = _mm256_setzero_ps();
            for (int64_t i = group; i < group_end; i += 8) {
                __m256 x = load8(data, dtype, i);
                __m256 magnitude = _mm256_andnot_ps(sign, x);
                if (special_lanes(x)) {
                    for (int k = 0; k < 8; k++) statistics_of(element(data, dtype, i + k), acc);
                    magnitude = _mm256_andnot_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), magnitude);  /* NaN → 0 */
                } else {
                    sum = _mm256_add_ps(sum, x);
                    sum_sq = _mm256_fmadd_ps(x, x, sum_sq);
                    low = _mm256_min_ps(low, x);
                    high = _mm256_max_ps(high, x);
                    /* Bins leave the register two at a time (64-bit extractions): 14% faster than a
                     * store and eight scalar loads, which wait on store forwarding. */
                    __m256i bin = _mm256_srli_epi32(_mm256_castps_si256(magnitude), 21);
                    __m128i low_half = _mm256_castsi256_si128(bin), high_half = _mm256_extracti128_si256(bin, 1);
                    uint64_t pairs[4] = {(uint64_t)_mm_cvtsi128_si64(low_half), (uint64_t)_mm_extract_epi64(low_half, 1),
                                         (uint64_t)_mm_cvtsi128_si64(high_half), (uint64_t)_mm_extract_epi64(high_half, 1)};
                    for (int k = 0; k < 4; k++) {
                        lane_hist[2 * k][(uint32_t)pairs[k]]++;
                        lane_hist[2 * k + 1][pairs[k] >> 32]++;
                    }
                }
                segment_max = _mm256_max_ps(segment_max, magnitude);
            }
            total = widen_add(total, sum);
            total_sq = widen_add(total_sq, sum_sq);
        }
        block_max = _mm256_max_ps(block_max, segment_max);
        row_max = _mm256_max_ps(row_max, segment_max);
        if (end == next_block || end == count) {
            block_absmax[start / blocksize] = max_ps(block_max);
            block_max = _mm256_setzero_ps();
        }
        if (end == next_row) {
            row_absmax[start / columns] = max_ps(row_max);
            row_max = _mm256_setzero_ps();
        }
        start = end;
    }

    acc->sum += sum_pd(total);
    acc->sum_sq += sum_pd(total_sq);
    acc->min = fminf(acc->min, -max_ps(_mm256_xor_ps(low, sign)));
    acc->max = fmaxf(acc->max, max_ps(high));
    for (int k = 0; k < 8; k++)
        for (int b = 0; b < QK_HIST_BINS; b++) acc->hist[b] += lane_hist[k][b];
}

void qk_scan(const void *data, int dtype, int64_t count, int64_t blocksize, int64_t columns,
             float *block_absmax, float *row_absmax, qk_accum *acc) {
    if (qk_has_avx2() && columns % 8 == 0 && blocksize % 8 == 0)
        scan_avx2(data, dtype, count, blocksize, columns, block_absmax, row_absmax, acc);
    else
        qk_scan_scalar(data, dtype, count, blocksize, columns, block_absmax, row_absmax, acc);
}

/* Σ error² and max |error| of one method, in Float over 64 values before moving into Double. */
typedef struct {
    __m256 sq, max;
    __m256d total;
} error_sum;

AVX2 static inline void add_error_vector(error_sum *e, __m256 dequantized, __m256 w) {
    __m256 error = _mm256_sub_ps(dequantized, w);
    e->sq = _mm256_fmadd_ps(error, error, e->sq);
    e->max = _mm256_max_ps(e->max, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), error));
}

AVX2 static inline void flush_error(error_sum *e) {
    e->total = widen_add(e->total, e->sq);
    e->sq = _mm256_setzero_ps();
}

/* Each block in slices of 64 values (in L1): one sweep for int8 and NF4, a second for FP4, so few
 * accumulators are live at a time and none spill to the stack. `rows_by_slice`: every slice lies in
 * one row (columns a multiple of the slice), so the row scale changes only between slices. */
AVX2 static inline void errors_avx2_body(const qk_range *r, qk_accum *acc, const int fp16_input, const int rows_by_slice) {
    const code_book nf4_book = make_code_book(r->nf4_midpoints, r->nf4_values);
    const code_book fp4_book = make_code_book(r->fp4_midpoints, r->fp4_values);
    error_sum errors[QK_METHOD_COUNT];
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        errors[m].sq = errors[m].max = _mm256_setzero_ps();
        errors[m].total = _mm256_setzero_pd();
    }
    int64_t blocks = (r->count + r->blocksize - 1) / r->blocksize;
    int64_t vector_blocks = r->last_block_partial ? blocks - 1 : blocks;
    int64_t row = 0, column = 0;
    __m256 scale = _mm256_set1_ps(r->row_scale[0]);
    __m256 factor = _mm256_set1_ps(int8_factor(r->row_scale[0]));
    __m256 scaled_slice[8];

    for (int64_t b = 0; b < vector_blocks; b++) {
        const __m256 absmax = _mm256_set1_ps(r->absmax[b]);
        const __m256 absmax_dq = _mm256_set1_ps(r->absmax_dq[b]);
        const __m256 reciprocal = _mm256_set1_ps(1.0f / fmaxf(r->absmax[b], ABSMAX_FLOOR));
        for (int64_t slice = b * r->blocksize, block_end = slice + r->blocksize; slice < block_end; slice += 64) {
            int64_t slice_end = slice + 64 < block_end ? slice + 64 : block_end;
            if (rows_by_slice && slice == (row + 1) * r->columns) {
                float s = r->row_scale[++row];
                scale = _mm256_set1_ps(s);
                factor = _mm256_set1_ps(int8_factor(s));
            }
            for (int64_t i = slice, k = 0; i < slice_end; i += 8, k++) {
                __m256 w = load8(r->data, r->dtype, i);
                scaled_slice[k] = clamp_unit_ps(_mm256_mul_ps(w, reciprocal));
                if (r->has_special && special_lanes(w)) {
                    errors_of_elements(r, i, i + 8, acc);
                    scaled_slice[k] = _mm256_set1_ps(NAN);  /* marks the vector as done */
                } else {
                    __m256 half = fp16_input ? w : _mm256_cvtph_ps(_mm256_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT));
                    __m256 code = _mm256_round_ps(_mm256_mul_ps(half, factor), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                    add_error_vector(&errors[QK_INT8], _mm256_mul_ps(_mm256_mul_ps(code, scale), _mm256_set1_ps(RECIPROCAL_127)), w);
                    __m256 nf4 = code_value(&nf4_book, scaled_slice[k]);
                    add_error_vector(&errors[QK_NF4], _mm256_mul_ps(nf4, absmax), w);
                    add_error_vector(&errors[QK_NF4_DQ], _mm256_mul_ps(nf4, absmax_dq), w);
                }
                if (!rows_by_slice) {
                    column += 8;
                    if (column == r->columns && i + 8 < r->count) {
                        column = 0;
                        float s = r->row_scale[++row];
                        scale = _mm256_set1_ps(s);
                        factor = _mm256_set1_ps(int8_factor(s));
                    }
                }
            }
            for (int64_t i = slice, k = 0; i < slice_end; i += 8, k++) {
                if (r->has_special && _mm256_movemask_ps(_mm256_cmp_ps(scaled_slice[k], scaled_slice[k], _CMP_UNORD_Q))) continue;
                __m256 w = load8(r->data, r->dtype, i);
                __m256 fp4 = code_value(&fp4_book, scaled_slice[k]);
                add_error_vector(&errors[QK_FP4], _mm256_mul_ps(fp4, absmax), w);
                add_error_vector(&errors[QK_FP4_DQ], _mm256_mul_ps(fp4, absmax_dq), w);
            }
            for (int m = 0; m < QK_METHOD_COUNT; m++) flush_error(&errors[m]);
        }
    }
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        acc->err_sq[m] += sum_pd(errors[m].total);
        acc->err_max[m] = fmaxf(acc->err_max[m], max_ps(errors[m].max));
    }
    if (vector_blocks < blocks) errors_of_elements(r, vector_blocks * r->blocksize, r->count, acc);
}

/* The body specialised for the common cases, so the tests inside it fold away. */
AVX2 static void errors_avx2(const qk_range *r, qk_accum *acc) {
    int fp16_input = r->dtype == QK_F16;
    int rows_by_slice = r->columns % 64 == 0;
    if (fp16_input && rows_by_slice) errors_avx2_body(r, acc, 1, 1);
    else if (rows_by_slice) errors_avx2_body(r, acc, 0, 1);
    else errors_avx2_body(r, acc, fp16_input, 0);
}

/* ============================================================= AVX-512 path ==== */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

AVX512 static inline __m512 load16(const void *data, int dtype, int64_t i) {
    const unsigned char *bytes = data;
    if (dtype == QK_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(bytes + 2 * i)));
    if (dtype == QK_BF16) {
        __m256i top = _mm256_loadu_si256((const __m256i *)(bytes + 2 * i));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(top), 16));
    }
    return _mm512_loadu_ps((const float *)(bytes + 4 * i));
}

/* A code book as 32 cells, each holding at most one midpoint, so a lane's code value is one
 * comparison away: value = (x > mid[cell]) ? above[cell] : below[cell], three 32-entry permutes
 * instead of a 4-level search. Two ways to find the cell:
 *
 *   NF4 (uniform):  cell = trunc(16·x + 16), x in [-1, 1]        cells 1/16 wide; NF4's midpoints
 *                   ├──┼──┼──┼─ … ─┼──┼──┤                        are ≥ 0.08 apart, so one per cell
 *                  -1                    1
 *   FP4 (signed half-octaves): cell = sign·16 + clamp((bits(|x|) >> 22) − 239, 0, 15)
 *                   |x|: [0, 2^-8·1.5) [·, 2^-7) [2^-7, ·) … [1, 1.5)     (exponent + top mantissa bit)
 *                   FP4's midpoints (±0.0026 … ±0.83) fall one per half-octave, mirrored in sign.
 *
 * For a negative x FP4 looks up |x| and the mirrored midpoint; bucketize counts midpoints strictly
 * below x, which for -|x| means midpoints ≤ |x|, so the negative half stores the float just below
 * each midpoint (|x| > prev(m) ⇔ |x| ≥ m). make_* return 0 when a code book does not fit its layout
 * (never for bitsandbytes' NF4 and FP4); the caller then takes the AVX2 path. */
typedef struct {
    __m512 mid[2], below[2], above[2];  /* 32-entry tables as two 16-entry halves */
} cell_book;

static const float UNIFORM_CELLS_PER_UNIT = 16.0f;
enum { FP4_FIRST_HALF_OCTAVE = 239, CELLS = 32 };

AVX512 static void store_cell_book(cell_book *book, const float *mid, const float *below, const float *above) {
    for (int half = 0; half < 2; half++) {
        book->mid[half] = _mm512_loadu_ps(mid + 16 * half);
        book->below[half] = _mm512_loadu_ps(below + 16 * half);
        book->above[half] = _mm512_loadu_ps(above + 16 * half);
    }
}

AVX512 static int make_uniform_book(const float *midpoints, const float *values, cell_book *book) {
    float mid[CELLS], below[CELLS], above[CELLS];
    for (int c = 0; c < CELLS; c++) {
        float low = c / UNIFORM_CELLS_PER_UNIT - 1.0f, high = (c + 1) / UNIFORM_CELLS_PER_UNIT - 1.0f;
        int under = 0, inside = 0;
        mid[c] = INFINITY;
        for (int k = 0; k < 15; k++) {
            /* 16x + 16 rounds to within 2^-18 of a cell edge: a midpoint that close could land on the
             * wrong side of its cell, so demand a margin. */
            if (fabsf(midpoints[k] - low) < 1e-5f || fabsf(midpoints[k] - high) < 1e-5f) return 0;
            if (midpoints[k] < low) under++;
            else if (midpoints[k] < high) { inside++; mid[c] = midpoints[k]; }
        }
        if (inside > 1) return 0;
        below[c] = values[under];
        above[c] = values[under + inside];
    }
    store_cell_book(book, mid, below, above);
    return 1;
}

static int half_octave_cell(float magnitude) {
    int cell = (int)(float_bits(magnitude) >> 22) - FP4_FIRST_HALF_OCTAVE;
    return cell < 0 ? 0 : cell;
}

AVX512 static int make_signed_octave_book(const float *midpoints, const float *values, cell_book *book) {
    /* Mirror symmetry: values[15 − j] = −values[j] (the two zeros at 7 and 8), midpoints[7] = 0. */
    for (int j = 0; j < 16; j++) if (values[15 - j] != -values[j]) return 0;
    for (int k = 0; k < 15; k++) if (midpoints[14 - k] != -midpoints[k]) return 0;
    if (midpoints[7] != 0.0f) return 0;
    const float *positive_mid = midpoints + 8, *positive_value = values + 8;  /* 7 midpoints, 8 values */
    float mid[CELLS], below[CELLS], above[CELLS];
    for (int c = 0; c < 16; c++) {
        int under = 0, inside = 0;
        float m = INFINITY;
        for (int k = 0; k < 7; k++) {
            int cell = half_octave_cell(positive_mid[k]);
            if (cell > 15) return 0;
            if (cell < c) under++;
            else if (cell == c) { inside++; m = positive_mid[k]; }
        }
        if (inside > 1) return 0;
        mid[c] = m;
        mid[16 + c] = isinf(m) ? m : nextafterf(m, 0.0f);
        below[c] = positive_value[under];
        above[c] = positive_value[under + inside];
        below[16 + c] = -positive_value[under];
        above[16 + c] = -positive_value[under + inside];
    }
    store_cell_book(book, mid, below, above);
    return 1;
}

AVX512 static inline __m512 cell_value(const cell_book *book, __m512i cell, __m512 x) {
    __m512 mid = _mm512_permutex2var_ps(book->mid[0], cell, book->mid[1]);
    __m512 below = _mm512_permutex2var_ps(book->below[0], cell, book->below[1]);
    __m512 above = _mm512_permutex2var_ps(book->above[0], cell, book->above[1]);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, mid, _CMP_GT_OQ), below, above);
}

/* scaled in [-1, 1] (clamped, never NaN on this path). */
AVX512 static inline __m512 nf4_value(const cell_book *book, __m512 scaled) {
    __m512i cell = _mm512_cvttps_epi32(_mm512_fmadd_ps(scaled, _mm512_set1_ps(UNIFORM_CELLS_PER_UNIT), _mm512_set1_ps(UNIFORM_CELLS_PER_UNIT)));
    return cell_value(book, _mm512_min_epi32(cell, _mm512_set1_epi32(CELLS - 1)), scaled);
}

AVX512 static inline __m512 fp4_value(const cell_book *book, __m512 scaled) {
    __m512i bits = _mm512_castps_si512(scaled);
    __m512i magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
    __m512i cell = _mm512_max_epi32(_mm512_sub_epi32(_mm512_srli_epi32(magnitude, 22), _mm512_set1_epi32(FP4_FIRST_HALF_OCTAVE)),
                                    _mm512_setzero_si512());
    cell = _mm512_or_si512(cell, _mm512_and_si512(_mm512_srli_epi32(bits, 27), _mm512_set1_epi32(16)));
    return cell_value(book, cell, _mm512_castsi512_ps(magnitude));
}

typedef struct {
    __m512 sq, max;
    __m256d total;
} wide_error_sum;

AVX512 static inline void wide_add_error(wide_error_sum *e, __m512 dequantized, __m512 w) {
    __m512 error = _mm512_sub_ps(dequantized, w);
    e->sq = _mm512_fmadd_ps(error, error, e->sq);
    e->max = _mm512_max_ps(e->max, _mm512_abs_ps(error));
}

AVX512 static inline void wide_flush(wide_error_sum *e) {
    __m512d low = _mm512_cvtps_pd(_mm512_castps512_ps256(e->sq));
    __m512d high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e->sq), 1)));
    __m512d both = _mm512_add_pd(low, high);
    e->total = _mm256_add_pd(e->total, _mm256_add_pd(_mm512_castpd512_pd256(both), _mm512_extractf64x4_pd(both, 1)));
    e->sq = _mm512_setzero_ps();
}

/* The AVX2 body's structure at 16 lanes: slices of 64 values, int8 + NF4 then FP4, rows changing
 * only between slices (callers guarantee columns % 64 == 0). */
AVX512 static int errors_avx512(const qk_range *r, qk_accum *acc) {
    cell_book nf4_book, fp4_book;
    if (!make_uniform_book(r->nf4_midpoints, r->nf4_values, &nf4_book)
        || !make_signed_octave_book(r->fp4_midpoints, r->fp4_values, &fp4_book)) return -1;
    const int fp16_input = r->dtype == QK_F16;
    wide_error_sum errors[QK_METHOD_COUNT];
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        errors[m].sq = errors[m].max = _mm512_setzero_ps();
        errors[m].total = _mm256_setzero_pd();
    }
    int64_t blocks = (r->count + r->blocksize - 1) / r->blocksize;
    int64_t vector_blocks = r->last_block_partial ? blocks - 1 : blocks;
    int64_t row = 0;
    __m512 scale = _mm512_set1_ps(r->row_scale[0]);
    __m512 factor = _mm512_set1_ps(int8_factor(r->row_scale[0]));
    const __m512 one = _mm512_set1_ps(1.0f), minus_one = _mm512_set1_ps(-1.0f);
    __m512 scaled_slice[4], w_slice[4];

    for (int64_t b = 0; b < vector_blocks; b++) {
        const __m512 absmax = _mm512_set1_ps(r->absmax[b]);
        const __m512 absmax_dq = _mm512_set1_ps(r->absmax_dq[b]);
        const __m512 reciprocal = _mm512_set1_ps(1.0f / fmaxf(r->absmax[b], ABSMAX_FLOOR));
        for (int64_t slice = b * r->blocksize, block_end = slice + r->blocksize; slice < block_end; slice += 64) {
            int64_t slice_end = slice + 64 < block_end ? slice + 64 : block_end;
            if (slice == (row + 1) * r->columns) {
                float s = r->row_scale[++row];
                scale = _mm512_set1_ps(s);
                factor = _mm512_set1_ps(int8_factor(s));
            }
            for (int64_t i = slice, k = 0; i < slice_end; i += 16, k++) {
                __m512 w = w_slice[k] = load16(r->data, r->dtype, i);
                scaled_slice[k] = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(w, reciprocal), minus_one), one);
                __m512 half = fp16_input ? w : _mm512_cvtph_ps(_mm512_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT));
                __m512 code = _mm512_roundscale_ps(_mm512_mul_ps(half, factor), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                wide_add_error(&errors[QK_INT8], _mm512_mul_ps(_mm512_mul_ps(code, scale), _mm512_set1_ps(RECIPROCAL_127)), w);
                __m512 nf4 = nf4_value(&nf4_book, scaled_slice[k]);
                wide_add_error(&errors[QK_NF4], _mm512_mul_ps(nf4, absmax), w);
                wide_add_error(&errors[QK_NF4_DQ], _mm512_mul_ps(nf4, absmax_dq), w);
            }
            for (int64_t i = slice, k = 0; i < slice_end; i += 16, k++) {
                __m512 w = w_slice[k];
                __m512 fp4 = fp4_value(&fp4_book, scaled_slice[k]);
                wide_add_error(&errors[QK_FP4], _mm512_mul_ps(fp4, absmax), w);
                wide_add_error(&errors[QK_FP4_DQ], _mm512_mul_ps(fp4, absmax_dq), w);
            }
            for (int m = 0; m < QK_METHOD_COUNT; m++) wide_flush(&errors[m]);
        }
    }
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        acc->err_sq[m] += sum_pd(errors[m].total);
        acc->err_max[m] = fmaxf(acc->err_max[m], _mm512_reduce_max_ps(errors[m].max));
    }
    if (vector_blocks < blocks) errors_of_elements(r, vector_blocks * r->blocksize, r->count, acc);
    return 0;
}

/* Which paths a range can take: NaN/Inf, or rows not whole slices of 64, keep it off AVX-512. */
int qk_errors_variant(const qk_range *r, qk_accum *acc, int variant) {
    switch (variant) {
    case 0: qk_errors_scalar(r, acc); return 0;
    case 1:
        if (!qk_has_avx2() || r->columns % 8 != 0 || r->blocksize % 8 != 0) return -1;
        errors_avx2(r, acc);
        return 0;
    case 2:
        if (!qk_has_avx512() || r->has_special || r->columns % 64 != 0 || r->blocksize < 64) return -1;
        return errors_avx512(r, acc);
    default: return -1;
    }
}

void qk_errors(const qk_range *r, qk_accum *acc) {
    if (qk_errors_variant(r, acc, 2) == 0) return;
    if (qk_errors_variant(r, acc, 1) == 0) return;
    qk_errors_scalar(r, acc);
}
