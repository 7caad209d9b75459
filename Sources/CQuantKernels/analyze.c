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

int qk_scan_scalar(const void *data, int dtype, int64_t count, int64_t blocksize, int64_t columns,
                   float *block_absmax, float *row_absmax) {
    int special = 0;
    for (int64_t i = 0; i < count; i++) special |= !isfinite(element(data, dtype, i));
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
    return special;
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

void qk_analyze_scalar(const qk_range *r, qk_accum *acc) {
    for (int64_t i = 0; i < r->count; i++) statistics_of(element(r->data, r->dtype, i), acc);
    errors_of_elements(r, 0, r->count, acc);
}

/* ===================================================== FP4 by half-octave cell ==== */

/* FP4's layout for a code lookup by cell (both vector paths): mirror symmetry — values[15 − j] = −values[j]
 * (the two zeros at 7 and 8), midpoints[14 − k] = −midpoints[k], midpoints[7] = 0 — and at most one of
 * the seven positive midpoints (±0.0026 … ±0.83) in each half-octave cell of |x| ≤ 1:
 *
 *     cell = clamp((bits(|x|) >> 22) − 239, 0, 15)         (exponent + top mantissa bit)
 *     |x|:   [0, 2^-7) [2^-7, 1.5·2^-7) [1.5·2^-7, 2^-6) … [1, 1.5)
 *
 * under[c] = the number of positive midpoints below cell c. 0 when the code book is not so (never for
 * bitsandbytes' FP4); the caller then takes another path. */
enum { FP4_FIRST_HALF_OCTAVE = 239 };

static int half_octave_cell(float magnitude) {
    int cell = (int)(float_bits(magnitude) >> 22) - FP4_FIRST_HALF_OCTAVE;
    return cell < 0 ? 0 : cell;
}

static int signed_octave_cells(const float *midpoints, const float *values, uint8_t under[16]) {
    for (int j = 0; j < 16; j++) if (values[15 - j] != -values[j]) return 0;
    for (int k = 0; k < 15; k++) if (midpoints[14 - k] != -midpoints[k]) return 0;
    if (midpoints[7] != 0.0f) return 0;
    int inside[16] = {0};
    memset(under, 0, 16);
    for (int k = 0; k < 7; k++) {
        int cell = half_octave_cell(midpoints[8 + k]);
        if (cell > 15 || ++inside[cell] > 1) return 0;
        for (int c = cell + 1; c < 16; c++) under[c]++;
    }
    return 1;
}

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
 * inner loop needs no counters. Its only arithmetic is max |w|: vmaxps(a, b) returns b when either is
 * NaN, so with the running maximum as b a NaN lane never enters it. NaN and ±Inf are found as the
 * largest magnitude bit pattern (≥ 0x7f800000 exactly for them). */
AVX2 static int scan_avx2(const void *data, int dtype, int64_t count, int64_t blocksize, int64_t columns,
                          float *block_absmax, float *row_absmax) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 block_max = _mm256_setzero_ps(), row_max = _mm256_setzero_ps();
    __m256i largest_bits = _mm256_setzero_si256();
    for (int64_t start = 0; start < count;) {
        int64_t next_block = (start / blocksize + 1) * blocksize, next_row = (start / columns + 1) * columns;
        int64_t end = next_block < next_row ? next_block : next_row;
        if (end > count) end = count;
        __m256 segment_max = _mm256_setzero_ps();
        for (int64_t i = start; i < end; i += 8) {
            __m256 magnitude = _mm256_andnot_ps(sign, load8(data, dtype, i));
            segment_max = _mm256_max_ps(magnitude, segment_max);
            largest_bits = _mm256_max_epu32(largest_bits, _mm256_castps_si256(magnitude));
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
    __m256i special = _mm256_cmpgt_epi32(largest_bits, _mm256_set1_epi32(0x7f7fffff));  /* bits ≤ 0x7fffffff: signed compare is safe */
    return _mm256_movemask_ps(_mm256_castsi256_ps(special)) != 0;
}

int qk_scan(const void *data, int dtype, int64_t count, int64_t blocksize, int64_t columns,
            float *block_absmax, float *row_absmax) {
    if (qk_has_avx2() && columns % 8 == 0 && blocksize % 8 == 0)
        return scan_avx2(data, dtype, count, blocksize, columns, block_absmax, row_absmax);
    return qk_scan_scalar(data, dtype, count, blocksize, columns, block_absmax, row_absmax);
}

/* The statistics of pass 2, in float lanes over groups of at most 64 values and then in double: lane k
 * takes elements 8j + k of its group in order, so the sums are the same bits whichever loop runs them
 * (the groups are the error pass's slices when rows are whole slices, else `statistics_avx2`'s). One
 * histogram per lane: weights crowd into a few bins, and increments of one counter would wait on each
 * other through memory; eight copies keep the chains independent. */
typedef struct {
    __m256 sum, sum_sq, low, high;  /* sum and sum_sq of the current group */
    __m256d total, total_sq;
    uint32_t (*hist)[QK_HIST_BINS];
} statistics_sum;

AVX2 static inline void statistics_begin(statistics_sum *s) {
    static _Thread_local uint32_t lane_hist[8][QK_HIST_BINS];
    memset(lane_hist, 0, sizeof lane_hist);
    s->hist = lane_hist;
    s->sum = s->sum_sq = _mm256_setzero_ps();
    s->low = _mm256_set1_ps(INFINITY);
    s->high = _mm256_set1_ps(-INFINITY);
    s->total = s->total_sq = _mm256_setzero_pd();
}

/* Eight values without NaN or ±Inf. */
AVX2 static inline void statistics_add(statistics_sum *s, __m256 x) {
    s->sum = _mm256_add_ps(s->sum, x);
    s->sum_sq = _mm256_fmadd_ps(x, x, s->sum_sq);
    s->low = _mm256_min_ps(s->low, x);
    s->high = _mm256_max_ps(s->high, x);
    /* Bins leave the register two at a time (64-bit extractions): 14% faster than a store and eight
     * scalar loads, which wait on store forwarding. */
    __m256i bin = _mm256_srli_epi32(_mm256_castps_si256(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)), 21);
    __m128i low_half = _mm256_castsi256_si128(bin), high_half = _mm256_extracti128_si256(bin, 1);
    uint64_t pairs[4] = {(uint64_t)_mm_cvtsi128_si64(low_half), (uint64_t)_mm_extract_epi64(low_half, 1),
                         (uint64_t)_mm_cvtsi128_si64(high_half), (uint64_t)_mm_extract_epi64(high_half, 1)};
    for (int k = 0; k < 4; k++) {
        s->hist[2 * k][(uint32_t)pairs[k]]++;
        s->hist[2 * k + 1][pairs[k] >> 32]++;
    }
}

AVX2 static inline void statistics_end_group(statistics_sum *s) {
    s->total = widen_add(s->total, s->sum);
    s->total_sq = widen_add(s->total_sq, s->sum_sq);
    s->sum = s->sum_sq = _mm256_setzero_ps();
}

AVX2 static inline void statistics_finish(statistics_sum *s, qk_accum *acc) {
    acc->sum += sum_pd(s->total);
    acc->sum_sq += sum_pd(s->total_sq);
    acc->min = fminf(acc->min, -max_ps(_mm256_xor_ps(s->low, _mm256_set1_ps(-0.0f))));
    acc->max = fmaxf(acc->max, max_ps(s->high));
    for (int k = 0; k < 8; k++)
        for (int b = 0; b < QK_HIST_BINS; b++) acc->hist[b] += s->hist[k][b];
}

/* Values [start, end) in groups of 64 from start; vectors holding NaN or ±Inf go value by value. */
AVX2 static void statistics_groups(statistics_sum *s, const void *data, int dtype, int64_t start, int64_t end, qk_accum *acc) {
    for (int64_t group = start; group < end; group += 64) {
        int64_t group_end = group + 64 < end ? group + 64 : end;
        for (int64_t i = group; i < group_end; i += 8) {
            __m256 x = load8(data, dtype, i);
            if (special_lanes(x)) {
                for (int k = 0; k < 8; k++) statistics_of(element(data, dtype, i + k), acc);
            } else {
                statistics_add(s, x);
            }
        }
        statistics_end_group(s);
    }
}

/* The statistics alone, for ranges whose rows are not whole slices of 64: groups from the start of each
 * segment (a row's stretch inside a block, or a block's inside a row). */
AVX2 static void statistics_avx2(const void *data, int dtype, int64_t count, int64_t blocksize, int64_t columns, qk_accum *acc) {
    statistics_sum s;
    statistics_begin(&s);
    for (int64_t start = 0; start < count;) {
        int64_t next_block = (start / blocksize + 1) * blocksize, next_row = (start / columns + 1) * columns;
        int64_t end = next_block < next_row ? next_block : next_row;
        if (end > count) end = count;
        statistics_groups(&s, data, dtype, start, end, acc);
        start = end;
    }
    statistics_finish(&s, acc);
}

/* FP4 by half-octave cell: the AVX-512 lookup's idea in 8-entry tables. With q = the number of positive
 * midpoints strictly below y, FP4's mirror symmetry (see make_signed_octave_book) gives
 *
 *     x ≥ 0: value = values[8 + q(x)]        x < 0: value = −values[8 + q(nextup(|x|))]
 *
 * (bucketize counts midpoints strictly below x; for x = −|x| those are the mirrored ones ≤ |x|, i.e.
 * < nextup(|x|); −0 comes out as −0 instead of +0, which changes no error). y's half-octave cell
 * (exponent and top mantissa bit, from 2^-7 up: 16 cells) holds at most one positive midpoint, so
 * q = under[cell] + (y > mid[under[cell]]): under is a 16-byte pshufb table, mid and the positive
 * values 8-entry permutes (mid[7] = +inf). Twelve operations and no chain of compares, against the
 * search's sixteen. */
typedef struct {
    __m256i under;  /* positive midpoints below each cell, the 16 bytes in both 128-bit lanes */
    __m256 mid, value;
} octave_book;

/* 0 when the FP4 code book is not laid out so (never for bitsandbytes'); the caller then takes another path. */
AVX2 static int make_octave_book(const float *midpoints, const float *values, octave_book *book) {
    uint8_t under[16];
    if (!signed_octave_cells(midpoints, values, under)) return 0;
    float mid[8], positive[8];
    for (int k = 0; k < 7; k++) mid[k] = midpoints[8 + k];
    mid[7] = INFINITY;
    for (int k = 0; k < 8; k++) positive[k] = values[8 + k];
    book->under = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)under));
    book->mid = _mm256_loadu_ps(mid);
    book->value = _mm256_loadu_ps(positive);
    return 1;
}

/* x in [-1, 1], never NaN. */
AVX2 static inline __m256 octave_value(const octave_book *book, __m256 x) {
    __m256i bits = _mm256_castps_si256(x);
    __m256i y = _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff)), _mm256_srai_epi32(bits, 31));
    /* y >> 22 ≤ 254 sits in the low 16 bits: a saturating 16-bit subtract is max(· − 239, 0). */
    __m256i cell = _mm256_subs_epu16(_mm256_srli_epi32(y, 22), _mm256_set1_epi32(FP4_FIRST_HALF_OCTAVE));
    /* Byte 0 of each lane is under[cell] (bytes 1–3 look up cell 0; permutes read only bits 0–2). */
    __m256i under = _mm256_shuffle_epi8(book->under, cell);
    __m256 above = _mm256_cmp_ps(_mm256_castsi256_ps(y), _mm256_permutevar8x32_ps(book->mid, under), _CMP_GT_OQ);
    __m256 value = _mm256_permutevar8x32_ps(book->value, _mm256_sub_epi32(under, _mm256_castps_si256(above)));
    return _mm256_xor_ps(value, _mm256_and_ps(x, _mm256_set1_ps(-0.0f)));
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

/* int8's code of eight values: round(fp16(w) × factor). A BF16 value is its own fp16 when the row's
 * factor is in (0, 8192): the row's fp16 absmax is then finite, so |w| ≤ 65280 (a BF16 value below
 * fp16's 65520 overflow), and BF16's 8 significant bits fit fp16's 11 from 2^-14 up; below 2^-14, where
 * fp16 rounds, |w| × factor and |fp16(w)| × factor are both ≤ 0.5 and round to code 0 alike. */
AVX2 static inline __m256 int8_code(__m256 w, __m256 factor, const int half_is_w) {
    __m256 half = half_is_w ? w : _mm256_cvtph_ps(_mm256_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT));
    return _mm256_round_ps(_mm256_mul_ps(half, factor), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* Whether int8_code may skip the fp16 conversion for a row of this factor. */
static inline int half_is_w(int dtype, float factor) {
    return dtype == QK_F16 || (dtype == QK_BF16 && factor > 0 && factor < 8192.0f);
}

AVX2 static inline void add_int8_error(error_sum *errors, __m256 code, __m256 scale, __m256 w) {
    add_error_vector(&errors[QK_INT8], _mm256_mul_ps(_mm256_mul_ps(code, scale), _mm256_set1_ps(RECIPROCAL_127)), w);
}

AVX2 static inline void add_4bit_errors(error_sum *errors, int method, __m256 value, __m256 absmax, __m256 absmax_dq, __m256 w) {
    add_error_vector(&errors[method], _mm256_mul_ps(value, absmax), w);
    add_error_vector(&errors[method + 1], _mm256_mul_ps(value, absmax_dq), w);  /* the method with double quant */
}

/* Each block in slices of 64 values (in L1). Every accumulator takes the slice's vectors in order,
 * whichever of two loops runs:
 *
 *   - rows of whole slices without NaN/Inf (nearly every range): two vectors in lockstep, each step for
 *     both before the next, all methods and the statistics in one sweep — while one vector's search
 *     waits on its compares the other's work is ready (Zen 4's vector scheduler holds less than one
 *     vector's chain). Both passes of a 1-thread C harness took 15% less time per value than with one
 *     vector at a time in two sweeps (BF16; F16 14%, F32 11%); the order of the steps below is the
 *     fastest of the eight measured (statistics first cost 17%).
 *   - otherwise one vector at a time: a sweep for the statistics, int8 and NF4, a second for FP4, so few
 *     accumulators are live; vectors with NaN/Inf go value by value, and rows may change inside a slice.
 *
 * `rows_by_slice`: every slice lies in one row (columns a multiple of the slice), so the row scale
 * changes only between slices and the slices are the statistics' groups, which this loop then takes
 * too (the values are in registers: the histogram's scalar increments run beside the vector work);
 * otherwise the caller runs statistics_avx2 first. */
AVX2 static inline void analyze_avx2_body(const qk_range *r, qk_accum *acc, const code_book *nf4_book, const octave_book *fp4_book,
                                          const int rows_by_slice) {
    error_sum errors[QK_METHOD_COUNT];
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        errors[m].sq = errors[m].max = _mm256_setzero_ps();
        errors[m].total = _mm256_setzero_pd();
    }
    statistics_sum statistics;
    if (rows_by_slice) statistics_begin(&statistics);
    int64_t blocks = (r->count + r->blocksize - 1) / r->blocksize;
    int64_t vector_blocks = r->last_block_partial ? blocks - 1 : blocks;
    int64_t row = 0, column = 0;
    __m256 scale = _mm256_set1_ps(r->row_scale[0]);
    __m256 factor = _mm256_set1_ps(int8_factor(r->row_scale[0]));
    int exact_half = half_is_w(r->dtype, int8_factor(r->row_scale[0]));
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
                exact_half = half_is_w(r->dtype, int8_factor(s));
            }
            if (rows_by_slice && !r->has_special) {
                for (int64_t i = slice; i < slice_end; i += 16) {  /* slices are 32 or 64 values */
                    __m256 w[2], scaled[2], nf4[2], fp4[2], code[2];
                    for (int j = 0; j < 2; j++) {
                        w[j] = load8(r->data, r->dtype, i + 8 * j);
                        scaled[j] = clamp_unit_ps(_mm256_mul_ps(w[j], reciprocal));
                    }
                    for (int j = 0; j < 2; j++) nf4[j] = code_value(nf4_book, scaled[j]);
                    for (int j = 0; j < 2; j++) fp4[j] = octave_value(fp4_book, scaled[j]);
                    statistics_add(&statistics, w[0]);
                    for (int j = 0; j < 2; j++) code[j] = int8_code(w[j], factor, exact_half);
                    statistics_add(&statistics, w[1]);
                    for (int j = 0; j < 2; j++) add_4bit_errors(errors, QK_NF4, nf4[j], absmax, absmax_dq, w[j]);
                    for (int j = 0; j < 2; j++) add_4bit_errors(errors, QK_FP4, fp4[j], absmax, absmax_dq, w[j]);
                    for (int j = 0; j < 2; j++) add_int8_error(errors, code[j], scale, w[j]);
                }
            } else {
                for (int64_t i = slice, k = 0; i < slice_end; i += 8, k++) {
                    __m256 w = load8(r->data, r->dtype, i);
                    scaled_slice[k] = clamp_unit_ps(_mm256_mul_ps(w, reciprocal));
                    if (r->has_special && special_lanes(w)) {
                        if (rows_by_slice)
                            for (int64_t e = i; e < i + 8; e++) statistics_of(element(r->data, r->dtype, e), acc);
                        errors_of_elements(r, i, i + 8, acc);
                        scaled_slice[k] = _mm256_set1_ps(NAN);  /* marks the vector as done */
                    } else {
                        if (rows_by_slice) statistics_add(&statistics, w);
                        add_int8_error(errors, int8_code(w, factor, exact_half), scale, w);
                        add_4bit_errors(errors, QK_NF4, code_value(nf4_book, scaled_slice[k]), absmax, absmax_dq, w);
                    }
                    if (!rows_by_slice) {
                        column += 8;
                        if (column == r->columns && i + 8 < r->count) {
                            column = 0;
                            float s = r->row_scale[++row];
                            scale = _mm256_set1_ps(s);
                            factor = _mm256_set1_ps(int8_factor(s));
                            exact_half = half_is_w(r->dtype, int8_factor(s));
                        }
                    }
                }
                for (int64_t i = slice, k = 0; i < slice_end; i += 8, k++) {
                    if (r->has_special && _mm256_movemask_ps(_mm256_cmp_ps(scaled_slice[k], scaled_slice[k], _CMP_UNORD_Q))) continue;
                    __m256 w = load8(r->data, r->dtype, i);
                    add_4bit_errors(errors, QK_FP4, octave_value(fp4_book, scaled_slice[k]), absmax, absmax_dq, w);
                }
            }
            for (int m = 0; m < QK_METHOD_COUNT; m++) flush_error(&errors[m]);
            if (rows_by_slice) statistics_end_group(&statistics);
        }
    }
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        acc->err_sq[m] += sum_pd(errors[m].total);
        acc->err_max[m] = fmaxf(acc->err_max[m], max_ps(errors[m].max));
    }
    if (vector_blocks < blocks) {
        /* The partial last block: its segments are whole slices too, so groups of 64 from its start. */
        int64_t tail = vector_blocks * r->blocksize;
        if (rows_by_slice) statistics_groups(&statistics, r->data, r->dtype, tail, r->count, acc);
        errors_of_elements(r, tail, r->count, acc);
    }
    if (rows_by_slice) statistics_finish(&statistics, acc);
}

/* The body specialised for rows of whole slices, so the tests inside it fold away. -1 when the FP4 code
 * book has no half-octave layout. */
AVX2 static int analyze_avx2(const qk_range *r, qk_accum *acc) {
    octave_book fp4_book;
    if (!make_octave_book(r->fp4_midpoints, r->fp4_values, &fp4_book)) return -1;
    const code_book nf4_book = make_code_book(r->nf4_midpoints, r->nf4_values);
    if (r->columns % 64 == 0) {
        analyze_avx2_body(r, acc, &nf4_book, &fp4_book, 1);
    } else {
        statistics_avx2(r->data, r->dtype, r->count, r->blocksize, r->columns, acc);
        analyze_avx2_body(r, acc, &nf4_book, &fp4_book, 0);
    }
    return 0;
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
 *   FP4 (signed half-octaves): cell = sign·16 + the half-octave cell of |x| (signed_octave_cells)
 *
 * For a negative x FP4 looks up |x| and the mirrored midpoint; bucketize counts midpoints strictly
 * below x, which for -|x| means midpoints ≤ |x|, so the negative half stores the float just below
 * each midpoint (|x| > prev(m) ⇔ |x| ≥ m). make_* return 0 when a code book does not fit its layout
 * (never for bitsandbytes' NF4 and FP4); the caller then takes the AVX2 path. */
typedef struct {
    __m512 mid[2], below[2], above[2];  /* 32-entry tables as two 16-entry halves */
} cell_book;

static const float UNIFORM_CELLS_PER_UNIT = 16.0f;
enum { CELLS = 32 };

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

AVX512 static int make_signed_octave_book(const float *midpoints, const float *values, cell_book *book) {
    uint8_t under[16];
    if (!signed_octave_cells(midpoints, values, under)) return 0;
    const float *positive_mid = midpoints + 8, *positive_value = values + 8;  /* 7 midpoints, 8 values */
    float mid[CELLS], below[CELLS], above[CELLS];
    for (int c = 0; c < 16; c++) {
        int inside = (c < 15 ? under[c + 1] : 7) - under[c];
        float m = inside ? positive_mid[under[c]] : INFINITY;
        mid[c] = m;
        mid[16 + c] = isinf(m) ? m : nextafterf(m, 0.0f);
        below[c] = positive_value[under[c]];
        above[c] = positive_value[under[c] + inside];
        below[16 + c] = -positive_value[under[c]];
        above[16 + c] = -positive_value[under[c] + inside];
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

/* The AVX2 body's structure at 16 lanes: slices of 64 values, int8 + NF4 then statistics + FP4 (the
 * statistics in the lighter sweep: 7% less time per value than in the first, C harness), rows changing
 * only between slices (callers guarantee columns % 64 == 0). The statistics take each vector as its two
 * halves in order, so their sums are the AVX2 path's bits. */
AVX512 static int analyze_avx512(const qk_range *r, qk_accum *acc) {
    cell_book nf4_book, fp4_book;
    if (!make_uniform_book(r->nf4_midpoints, r->nf4_values, &nf4_book)
        || !make_signed_octave_book(r->fp4_midpoints, r->fp4_values, &fp4_book)) return -1;
    const int fp16_input = r->dtype == QK_F16;
    wide_error_sum errors[QK_METHOD_COUNT];
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        errors[m].sq = errors[m].max = _mm512_setzero_ps();
        errors[m].total = _mm256_setzero_pd();
    }
    statistics_sum statistics;
    statistics_begin(&statistics);
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
                statistics_add(&statistics, _mm512_castps512_ps256(w));
                statistics_add(&statistics, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w), 1)));
                __m512 fp4 = fp4_value(&fp4_book, scaled_slice[k]);
                wide_add_error(&errors[QK_FP4], _mm512_mul_ps(fp4, absmax), w);
                wide_add_error(&errors[QK_FP4_DQ], _mm512_mul_ps(fp4, absmax_dq), w);
            }
            for (int m = 0; m < QK_METHOD_COUNT; m++) wide_flush(&errors[m]);
            statistics_end_group(&statistics);
        }
    }
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        acc->err_sq[m] += sum_pd(errors[m].total);
        acc->err_max[m] = fmaxf(acc->err_max[m], _mm512_reduce_max_ps(errors[m].max));
    }
    if (vector_blocks < blocks) {
        int64_t tail = vector_blocks * r->blocksize;
        statistics_groups(&statistics, r->data, r->dtype, tail, r->count, acc);
        errors_of_elements(r, tail, r->count, acc);
    }
    statistics_finish(&statistics, acc);
    return 0;
}

/* Which paths a range can take: NaN/Inf, or rows not whole slices of 64, keep it off AVX-512. */
int qk_analyze_variant(const qk_range *r, qk_accum *acc, int variant) {
    switch (variant) {
    case 0: qk_analyze_scalar(r, acc); return 0;
    case 1:
        if (!qk_has_avx2() || r->columns % 8 != 0 || r->blocksize % 8 != 0) return -1;
        return analyze_avx2(r, acc);
    case 2:
        if (!qk_has_avx512() || r->has_special || r->columns % 64 != 0 || r->blocksize < 64) return -1;
        return analyze_avx512(r, acc);
    default: return -1;
    }
}

void qk_analyze(const qk_range *r, qk_accum *acc) {
    if (qk_analyze_variant(r, acc, 2) == 0) return;
    if (qk_analyze_variant(r, acc, 1) == 0) return;
    qk_analyze_scalar(r, acc);
}
