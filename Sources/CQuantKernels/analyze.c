#include "qk_kernels.h"
#include <math.h>
#include <string.h>
#include <immintrin.h>

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

static inline uint32_t float_bits(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    return bits;
}

static inline int histogram_bin(float x) { return (int)((float_bits(x) & 0x7fffffffu) >> 21); }

/* ------------------------------------------------------------------ pass 1 ---- */

void qk_absmax_scalar(const float *w, int64_t count, int64_t blocksize, float *block_absmax,
                      int64_t columns, float *row_absmax) {
    for (int64_t start = 0, b = 0; start < count; start += blocksize, b++) {
        int64_t end = start + blocksize < count ? start + blocksize : count;
        float largest = 0;
        for (int64_t i = start; i < end; i++) largest = fmaxf(largest, fabsf(w[i]));
        block_absmax[b] = largest;
    }
    for (int64_t start = 0, r = 0; start < count; start += columns, r++) {
        float largest = 0;
        for (int64_t i = start; i < start + columns; i++) largest = fmaxf(largest, fabsf(w[i]));
        row_absmax[r] = largest;
    }
}

__attribute__((target("avx2,fma,f16c")))
static float max_abs_avx2(const float *w, int64_t count) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 largest = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) largest = _mm256_max_ps(largest, _mm256_andnot_ps(sign, _mm256_loadu_ps(w + i)));
    float lanes[8];
    _mm256_storeu_ps(lanes, largest);
    float result = 0;
    for (int k = 0; k < 8; k++) result = fmaxf(result, lanes[k]);
    for (; i < count; i++) result = fmaxf(result, fabsf(w[i]));
    return result;
}

void qk_absmax(const float *w, int64_t count, int64_t blocksize, float *block_absmax,
               int64_t columns, float *row_absmax) {
    if (!qk_has_avx2()) {
        qk_absmax_scalar(w, count, blocksize, block_absmax, columns, row_absmax);
        return;
    }
    for (int64_t start = 0, b = 0; start < count; start += blocksize, b++)
        block_absmax[b] = max_abs_avx2(w + start, (start + blocksize < count ? blocksize : count - start));
    for (int64_t start = 0, r = 0; start < count; start += columns, r++)
        row_absmax[r] = max_abs_avx2(w + start, columns);
}

/* ------------------------------------------------------------------ pass 2 ---- */

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

/* Everything pass 2 does for the elements [start, end) of a range, one at a time. */
static void analyze_elements(const qk_range *r, int64_t start, int64_t end, qk_accum *acc) {
    int64_t blocks = (r->count + r->blocksize - 1) / r->blocksize;
    for (int64_t i = start; i < end; i++) {
        float w = r->w[i];
        if (isnan(w)) { acc->nan_count++; continue; }
        if (isinf(w)) acc->inf_count++;
        acc->sum += w;
        acc->sum_sq += (double)w * w;
        acc->min = fminf(acc->min, w);
        acc->max = fmaxf(acc->max, w);
        acc->hist[histogram_bin(w)]++;

        float scale = r->row_scale[i / r->columns];
        float factor = scale > 0 ? 127.0f / scale : 0.0f;  /* torch: 0 × inf = NaN → int8 0 */
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

void qk_analyze_scalar(const qk_range *r, qk_accum *acc) { analyze_elements(r, 0, r->count, acc); }

/* ------------------------------------------------------------- pass 2, AVX2 ---- */

typedef struct {
    __m256 sum, sum_sq, min, max, err_sq[QK_METHOD_COUNT], err_max[QK_METHOD_COUNT];
} vector_accum;

/* Float sums are moved into doubles every few vectors so long tensors keep their precision. */
typedef struct {
    __m256d sum, sum_sq, err_sq[QK_METHOD_COUNT];
} double_accum;

__attribute__((target("avx2,fma,f16c")))
static inline __m256d widen_add(__m256d total, __m256 part) {
    total = _mm256_add_pd(total, _mm256_cvtps_pd(_mm256_castps256_ps128(part)));
    return _mm256_add_pd(total, _mm256_cvtps_pd(_mm256_extractf128_ps(part, 1)));
}

__attribute__((target("avx2,fma,f16c")))
static inline double horizontal_sum_pd(__m256d v) {
    double lanes[4];
    _mm256_storeu_pd(lanes, v);
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

__attribute__((target("avx2,fma,f16c")))
static inline float horizontal_max_ps(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    float result = lanes[0];
    for (int k = 1; k < 8; k++) result = fmaxf(result, lanes[k]);
    return result;
}

__attribute__((target("avx2,fma,f16c")))
static inline void accumulate_error(vector_accum *v, int method, __m256 dequantized, __m256 w) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 error = _mm256_sub_ps(dequantized, w);
    v->err_sq[method] = _mm256_fmadd_ps(error, error, v->err_sq[method]);
    v->err_max[method] = _mm256_max_ps(v->err_max[method], _mm256_andnot_ps(sign, error));
}

/* A 4-bit code book laid out for a 4-level branch-free binary search over its 15 midpoints: level 1
 * compares with m7, level 2 with m3 or m11, level 3 with m1/m5/m9/m13, level 4 with the even ones;
 * each level's candidates sit in one register and permutevar8x32 picks each lane's. */
typedef struct {
    __m256 m7, level2, level3, level4, low, high;
} code_book;

__attribute__((target("avx2,fma,f16c")))
static code_book make_code_book(const float *m, const float *values) {
    code_book book;
    book.m7 = _mm256_set1_ps(m[7]);
    book.level2 = _mm256_setr_ps(m[3], m[11], 0, 0, 0, 0, 0, 0);
    book.level3 = _mm256_setr_ps(m[1], m[5], m[9], m[13], 0, 0, 0, 0);
    book.level4 = _mm256_setr_ps(m[0], m[2], m[4], m[6], m[8], m[10], m[12], m[14]);
    book.low = _mm256_loadu_ps(values);
    book.high = _mm256_loadu_ps(values + 8);
    return book;
}

/* Code value at each lane's position = number of midpoints strictly below the scaled value. */
__attribute__((target("avx2,fma,f16c")))
static inline __m256 code_value(const code_book *book, __m256 scaled) {
    __m256i above = _mm256_castps_si256(_mm256_cmp_ps(scaled, book->m7, _CMP_GT_OQ));
    __m256i position = _mm256_and_si256(above, _mm256_set1_epi32(8));
    __m256 bound = _mm256_permutevar8x32_ps(book->level2, _mm256_srli_epi32(position, 3));
    above = _mm256_castps_si256(_mm256_cmp_ps(scaled, bound, _CMP_GT_OQ));
    position = _mm256_add_epi32(position, _mm256_and_si256(above, _mm256_set1_epi32(4)));
    bound = _mm256_permutevar8x32_ps(book->level3, _mm256_srli_epi32(position, 2));
    above = _mm256_castps_si256(_mm256_cmp_ps(scaled, bound, _CMP_GT_OQ));
    position = _mm256_add_epi32(position, _mm256_and_si256(above, _mm256_set1_epi32(2)));
    bound = _mm256_permutevar8x32_ps(book->level4, _mm256_srli_epi32(position, 1));
    above = _mm256_castps_si256(_mm256_cmp_ps(scaled, bound, _CMP_GT_OQ));
    position = _mm256_add_epi32(position, _mm256_and_si256(above, _mm256_set1_epi32(1)));
    __m256 from_low = _mm256_permutevar8x32_ps(book->low, position);
    __m256 from_high = _mm256_permutevar8x32_ps(book->high, position);
    __m256i in_high = _mm256_cmpgt_epi32(position, _mm256_set1_epi32(7));
    return _mm256_blendv_ps(from_low, from_high, _mm256_castsi256_ps(in_high));
}

__attribute__((target("avx2,fma,f16c")))
static void analyze_avx2(const qk_range *r, qk_accum *acc) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 one = _mm256_set1_ps(1.0f), minus_one = _mm256_set1_ps(-1.0f);
    const __m256 reciprocal_127 = _mm256_set1_ps(RECIPROCAL_127);
    const __m256i exponent_mask = _mm256_set1_epi32(0x7f800000);
    const code_book nf4_book = make_code_book(r->nf4_midpoints, r->nf4_values);
    const code_book fp4_book = make_code_book(r->fp4_midpoints, r->fp4_values);

    vector_accum v;
    double_accum d;
    v.min = _mm256_set1_ps(INFINITY);
    v.max = _mm256_set1_ps(-INFINITY);
    d.sum = d.sum_sq = _mm256_setzero_pd();
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        v.err_max[m] = _mm256_setzero_ps();
        d.err_sq[m] = _mm256_setzero_pd();
    }

    int64_t blocks = (r->count + r->blocksize - 1) / r->blocksize;
    int64_t vector_blocks = r->last_block_partial ? blocks - 1 : blocks;
    int64_t row = 0, column = 0;
    __m256 scale = _mm256_set1_ps(r->row_scale[0]);
    __m256 factor = _mm256_set1_ps(r->row_scale[0] > 0 ? 127.0f / r->row_scale[0] : 0.0f);
    int32_t bins[8];
    /* One histogram per lane: weights crowd into a few bins, and increments of one counter would
     * wait on each other through memory; eight copies keep the chains independent. */
    static _Thread_local uint32_t lane_hist[8][QK_HIST_BINS];
    memset(lane_hist, 0, sizeof lane_hist);

    for (int64_t b = 0; b < vector_blocks; b++) {
        __m256 absmax = _mm256_set1_ps(r->absmax[b]);
        __m256 absmax_dq = _mm256_set1_ps(r->absmax_dq[b]);
        __m256 reciprocal = _mm256_set1_ps(1.0f / fmaxf(r->absmax[b], ABSMAX_FLOOR));
        int64_t start = b * r->blocksize, end = start + r->blocksize;
        for (int64_t chunk = start; chunk < end; chunk += 64) {
            v.sum = v.sum_sq = _mm256_setzero_ps();
            for (int m = 0; m < QK_METHOD_COUNT; m++) v.err_sq[m] = _mm256_setzero_ps();
            int64_t chunk_end = chunk + 64 < end ? chunk + 64 : end;
            for (int64_t i = chunk; i < chunk_end; i += 8) {
                __m256 w = _mm256_loadu_ps(r->w + i);
                __m256i bits = _mm256_castps_si256(w);
                __m256i special = _mm256_cmpeq_epi32(_mm256_and_si256(bits, exponent_mask), exponent_mask);
                if (_mm256_movemask_epi8(special)) {
                    analyze_elements(r, i, i + 8, acc);  /* NaN or Inf: rare, exact scalar path */
                } else {
                    v.sum = _mm256_add_ps(v.sum, w);
                    v.sum_sq = _mm256_fmadd_ps(w, w, v.sum_sq);
                    v.min = _mm256_min_ps(v.min, w);
                    v.max = _mm256_max_ps(v.max, w);
                    _mm256_storeu_si256((__m256i *)bins, _mm256_srli_epi32(_mm256_castps_si256(_mm256_andnot_ps(sign, w)), 21));
                    for (int k = 0; k < 8; k++) lane_hist[k][bins[k]]++;

                    __m256 half = _mm256_cvtph_ps(_mm256_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT));
                    __m256 code = _mm256_round_ps(_mm256_mul_ps(half, factor), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                    accumulate_error(&v, QK_INT8, _mm256_mul_ps(_mm256_mul_ps(code, scale), reciprocal_127), w);

                    __m256 scaled = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(w, reciprocal), minus_one), one);
                    __m256 nf4 = code_value(&nf4_book, scaled);
                    __m256 fp4 = code_value(&fp4_book, scaled);
                    accumulate_error(&v, QK_NF4, _mm256_mul_ps(nf4, absmax), w);
                    accumulate_error(&v, QK_NF4_DQ, _mm256_mul_ps(nf4, absmax_dq), w);
                    accumulate_error(&v, QK_FP4, _mm256_mul_ps(fp4, absmax), w);
                    accumulate_error(&v, QK_FP4_DQ, _mm256_mul_ps(fp4, absmax_dq), w);
                }
                column += 8;
                if (column == r->columns && i + 8 < r->count) {
                    column = 0;
                    row++;
                    float s = r->row_scale[row];
                    scale = _mm256_set1_ps(s);
                    factor = _mm256_set1_ps(s > 0 ? 127.0f / s : 0.0f);
                }
            }
            d.sum = widen_add(d.sum, v.sum);
            d.sum_sq = widen_add(d.sum_sq, v.sum_sq);
            for (int m = 0; m < QK_METHOD_COUNT; m++) d.err_sq[m] = widen_add(d.err_sq[m], v.err_sq[m]);
        }
    }

    acc->sum += horizontal_sum_pd(d.sum);
    acc->sum_sq += horizontal_sum_pd(d.sum_sq);
    acc->min = fminf(acc->min, -horizontal_max_ps(_mm256_xor_ps(v.min, sign)));
    acc->max = fmaxf(acc->max, horizontal_max_ps(v.max));
    for (int m = 0; m < QK_METHOD_COUNT; m++) {
        acc->err_sq[m] += horizontal_sum_pd(d.err_sq[m]);
        acc->err_max[m] = fmaxf(acc->err_max[m], horizontal_max_ps(v.err_max[m]));
    }
    for (int k = 0; k < 8; k++)
        for (int b = 0; b < QK_HIST_BINS; b++) acc->hist[b] += lane_hist[k][b];
    if (vector_blocks < blocks) analyze_elements(r, vector_blocks * r->blocksize, r->count, acc);
}

void qk_analyze(const qk_range *r, qk_accum *acc) {
    if (qk_has_avx2() && r->columns % 8 == 0 && r->blocksize % 8 == 0) analyze_avx2(r, acc);
    else qk_analyze_scalar(r, acc);
}
