#include "qk_kernels.h"
#include <math.h>
#include <string.h>
#include "simd_avx2.h"

/* Byte-producing quantizers for export: the same arithmetic as the analysis kernels and the Swift
 * references (Blockwise.swift, FourBit.swift, Int8Rowwise.swift), writing bitsandbytes' layouts. */

static inline float clamp_unit(float x) { return x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x); }

static inline int count_below15(const float *midpoints, float x) {
    int position = 0;
    for (int k = 0; k < 15; k++) position += midpoints[k] < x;
    return position;
}

/*  4-bit, blocks of `blocksize` over the flat values:
 *    absmax[b] = max |x| (a partial last block's clamped to ≥ 1e-38)
 *    index     = order[number of midpoints below clamp(x × (1/absmax))]   (partial block: x / absmax)
 *    byte i    = index[2i] << 4 | index[2i+1]; an odd count is padded with the index of 0.0
 *  The caller passes whole blocks except at the end of the tensor (first_element is a multiple of
 *  blocksize); `packed` receives ceil(count/2) bytes when first_element is even. */
/* The bodies are written once, inlined into a portable variant and an AVX2/F16C variant (same C,
 * compiled for the wider target: hardware fp16 conversions and vectorised loops); a run-time check
 * picks one. Tests compare both with the Swift references. */
#define INLINE static inline __attribute__((always_inline))

/* Element k of an F16, BF16 or F32 tensor as float (unaligned reads through memcpy). */
INLINE float load_element(const unsigned char *bytes, int dtype, int64_t k) {
    float x;
    if (dtype == QK_F16) { _Float16 h; memcpy(&h, bytes + 2 * k, 2); x = (float)h; }
    else if (dtype == QK_BF16) { uint16_t t; memcpy(&t, bytes + 2 * k, 2); uint32_t u = (uint32_t)t << 16; memcpy(&x, &u, 4); }
    else memcpy(&x, bytes + 4 * k, 4);
    return x;
}

INLINE void quantize_4bit_body(const void *data, int dtype, int64_t count, int64_t blocksize, int last_block_partial,
                               const float *midpoints, const uint8_t *order, uint8_t *packed, float *absmax) {
    const unsigned char *bytes = data;
    float values[4096];
    uint8_t pad = order[count_below15(midpoints, 0.0f)];
    int64_t blocks = (count + blocksize - 1) / blocksize;
    int have_high = 0;
    uint8_t high = 0;
    int64_t out = 0;
    for (int64_t b = 0; b < blocks; b++) {
        int64_t start = b * blocksize;
        int64_t length = start + blocksize < count ? blocksize : count - start;
        for (int64_t i = 0; i < length; i++) {
            int64_t k = start + i;
            values[i] = load_element(bytes, dtype, k);
        }
        float largest = 0;
        for (int64_t i = 0; i < length; i++) largest = fmaxf(largest, fabsf(values[i]));
        int divide = last_block_partial && b == blocks - 1;
        float divisor = fmaxf(largest, 1e-38f);
        float reciprocal = 1.0f / divisor;
        absmax[b] = divide ? divisor : largest;
        for (int64_t i = 0; i < length; i++) {
            float scaled = clamp_unit(divide ? values[i] / divisor : values[i] * reciprocal);
            uint8_t index = order[count_below15(midpoints, scaled)];
            if (have_high) { packed[out++] = (uint8_t)(high << 4 | index); have_high = 0; }
            else { high = index; have_high = 1; }
        }
    }
    if (have_high) packed[out] = (uint8_t)(high << 4 | pad);
}

/*  int8 row-wise (LLM.int8 weights, threshold 0): rows × columns, values cast to fp16 first,
 *    scale[r] = max |fp16(x)| over the row,  code = round_half_even(fp16(x) × ((1/scale) × 127)),
 *    an all-zero row (scale 0) gives codes 0. */
INLINE void quantize_int8_rows_body(const void *data, int dtype, int64_t rows, int64_t columns, int8_t *codes, float *scale) {
    const unsigned char *bytes = data;
    for (int64_t r = 0; r < rows; r++) {
        float largest = 0;
        for (int64_t c = 0; c < columns; c++) {
            int64_t k = r * columns + c;
            float x = load_element(bytes, dtype, k);
            codes[k] = 0;
            largest = fmaxf(largest, fabsf((float)(_Float16)x));
        }
        scale[r] = largest;
        float factor = largest > 0 ? (1.0f / largest) * 127.0f : 0.0f;
        for (int64_t c = 0; c < columns; c++) {
            int64_t k = r * columns + c;
            float x = load_element(bytes, dtype, k);
            codes[k] = (int8_t)nearbyintf((float)(_Float16)x * factor);
        }
    }
}

INLINE void block_absmax_body(const void *data, int dtype, int64_t count, int64_t blocksize, float *absmax) {
    const unsigned char *bytes = data;
    for (int64_t start = 0, b = 0; start < count; start += blocksize, b++) {
        int64_t end = start + blocksize < count ? start + blocksize : count;
        float largest = 0;
        for (int64_t k = start; k < end; k++) {
            float x = load_element(bytes, dtype, k);
            largest = fmaxf(largest, fabsf(x));
        }
        absmax[b] = largest;
    }
}

/* fp16(x) back as float, eight at a time: vcvtps2ph rounds to nearest even, as the (_Float16) cast does. */
AVX2 static inline __m256 through_fp16(__m256 x) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* (int8_t)nearbyintf(v) for eight floats: vcvtps2dq rounds half to even as nearbyintf does, and keeping
 * each lane's low byte is C's (int8_t) conversion — NaN's 0x80000000 becomes 0 in both, where
 * saturating packs would make it −128. */
AVX2 static inline void store_int8_codes(int8_t *out, __m256 v) {
    const __m256i low_bytes = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                               0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256i picked = _mm256_shuffle_epi8(_mm256_cvtps_epi32(v), low_bytes);
    uint32_t first = (uint32_t)_mm256_extract_epi32(picked, 0), second = (uint32_t)_mm256_extract_epi32(picked, 4);
    memcpy(out, &first, 4);
    memcpy(out + 4, &second, 4);
}

/*  LLM.int8 activations (float32 rows × columns, as the runtime holds them):
 *    h = fp16(x); outlier columns = columns with any |h| ≥ fp16(threshold) (threshold > 0)
 *    scale[r] = max |h| over row r without the values ≥ threshold
 *    code = round_half_even(h × ((1/scale) × 127)); whole outlier columns 0; an empty row's codes 0
 *  `outlier` receives one flag per column. The Swift reference is Int8Rowwise.quantizeReference. */
INLINE void quantize_int8_activations_body(const float *x, int64_t rows, int64_t columns, float threshold,
                                          int8_t *codes, float *scale, uint8_t *outlier) {
    const float limit = (float)(_Float16)threshold;
    memset(outlier, 0, (size_t)columns);
    if (threshold > 0) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < columns; c++)
                if (fabsf((float)(_Float16)x[r * columns + c]) >= limit) outlier[c] = 1;
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * columns;
        float largest = 0;
        for (int64_t c = 0; c < columns; c++) {
            float h = fabsf((float)(_Float16)row[c]);
            if (!(threshold > 0 && h >= limit)) largest = fmaxf(largest, h);
        }
        scale[r] = largest;
        float factor = largest > 0 ? (1.0f / largest) * 127.0f : 0.0f;
        for (int64_t c = 0; c < columns; c++)
            codes[r * columns + c] = outlier[c] ? 0 : (int8_t)nearbyintf((float)(_Float16)row[c] * factor);
    }
}

/*  Which thresholds quantize the same activations alike: with `limits` ascending (fp16 values),
 *    occupied[i] = 1 when some |fp16(x)| lies in [limits[i], limits[i+1])   (the last: [limits[n−1], ∞))
 *  Two thresholds with no value between them mark the same elements as outliers, so the outlier
 *  columns, the row scales and every code are the same: one quantization serves both. */
INLINE void threshold_intervals_body(const float *x, int64_t count, const float *limits, int n, uint8_t *occupied) {
    memset(occupied, 0, (size_t)n);
    for (int64_t i = 0; i < count; i++) {
        float h = fabsf((float)(_Float16)x[i]);
        if (!(h >= limits[0])) continue;  /* below every limit, or NaN (never an outlier) */
        int low = 0, high = n - 1;        /* the last limit ≤ h */
        while (low < high) {
            int middle = (low + high + 1) / 2;
            if (limits[middle] <= h) low = middle;
            else high = middle - 1;
        }
        occupied[low] = 1;
    }
}

static void threshold_intervals_portable(const float *x, int64_t count, const float *limits, int n, uint8_t *occupied) {
    threshold_intervals_body(x, count, limits, n, occupied);
}
AVX2 static void threshold_intervals_avx2(const float *x, int64_t count, const float *limits, int n, uint8_t *occupied) {
    threshold_intervals_body(x, count, limits, n, occupied);
}
void qk_threshold_intervals(const float *x, int64_t count, const float *limits, int n, uint8_t *occupied) {
    (qk_has_avx2() ? threshold_intervals_avx2 : threshold_intervals_portable)(x, count, limits, n, occupied);
}
void qk_threshold_intervals_scalar(const float *x, int64_t count, const float *limits, int n, uint8_t *occupied) {
    threshold_intervals_portable(x, count, limits, n, occupied);
}

static void quantize_int8_activations_portable(const float *x, int64_t rows, int64_t columns, float threshold,
                                               int8_t *codes, float *scale, uint8_t *outlier) {
    quantize_int8_activations_body(x, rows, columns, threshold, codes, scale, outlier);
}
/* The body in vectors (its loops stayed scalar: 5% of a perplexity run on SmolLM2). Outlier columns are
 * few, so each row's codes are written for every column and the outlier columns' zeroed after. */
AVX2 static void quantize_int8_activations_avx2(const float *x, int64_t rows, int64_t columns, float threshold,
                                                int8_t *codes, float *scale, uint8_t *outlier) {
    const float limit = (float)(_Float16)threshold;
    const __m256 sign = _mm256_set1_ps(-0.0f), limit8 = _mm256_set1_ps(limit);
    const int marking = threshold > 0;
    int64_t whole = columns / 8 * 8;
    memset(outlier, 0, (size_t)columns);
    if (marking)
        for (int64_t r = 0; r < rows; r++) {
            const float *row = x + r * columns;
            for (int64_t c = 0; c < whole; c += 8) {
                __m256 h = _mm256_andnot_ps(sign, through_fp16(_mm256_loadu_ps(row + c)));
                int marked = _mm256_movemask_ps(_mm256_cmp_ps(h, limit8, _CMP_GE_OQ));   /* NaN: never */
                for (; marked; marked &= marked - 1) outlier[c + __builtin_ctz((unsigned)marked)] = 1;
            }
            for (int64_t c = whole; c < columns; c++)
                if (fabsf((float)(_Float16)row[c]) >= limit) outlier[c] = 1;
        }
    int64_t outlier_count = 0;
    for (int64_t c = 0; c < columns; c++) outlier_count += outlier[c];
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * columns;
        __m256 largest8 = _mm256_setzero_ps();
        for (int64_t c = 0; c < whole; c += 8) {
            __m256 h = _mm256_andnot_ps(sign, through_fp16(_mm256_loadu_ps(row + c)));
            /* Values at or past the threshold leave the row's scale (as 0); a NaN lane keeps
             * `largest8`, as fmaxf does. */
            if (marking) h = _mm256_andnot_ps(_mm256_cmp_ps(h, limit8, _CMP_GE_OQ), h);
            largest8 = _mm256_max_ps(h, largest8);
        }
        float largest = max_ps(largest8);
        for (int64_t c = whole; c < columns; c++) {
            float h = fabsf((float)(_Float16)row[c]);
            if (!(marking && h >= limit)) largest = fmaxf(largest, h);
        }
        scale[r] = largest;
        float factor = largest > 0 ? (1.0f / largest) * 127.0f : 0.0f;
        const __m256 factor8 = _mm256_set1_ps(factor);
        int8_t *out = codes + r * columns;
        for (int64_t c = 0; c < whole; c += 8)
            store_int8_codes(out + c, _mm256_mul_ps(through_fp16(_mm256_loadu_ps(row + c)), factor8));
        for (int64_t c = whole; c < columns; c++) out[c] = (int8_t)nearbyintf((float)(_Float16)row[c] * factor);
        if (outlier_count > 0)
            for (int64_t c = 0; c < columns; c++)
                if (outlier[c]) out[c] = 0;
    }
}
void qk_quantize_int8_activations(const float *x, int64_t rows, int64_t columns, float threshold,
                                  int8_t *codes, float *scale, uint8_t *outlier) {
    (qk_has_avx2() ? quantize_int8_activations_avx2 : quantize_int8_activations_portable)(x, rows, columns, threshold, codes, scale, outlier);
}
void qk_quantize_int8_activations_scalar(const float *x, int64_t rows, int64_t columns, float threshold,
                                         int8_t *codes, float *scale, uint8_t *outlier) {
    quantize_int8_activations_portable(x, rows, columns, threshold, codes, scale, outlier);
}

static void quantize_4bit_portable(const void *data, int dtype, int64_t count, int64_t blocksize, int partial,
                                   const float *midpoints, const uint8_t *order, uint8_t *packed, float *absmax) {
    quantize_4bit_body(data, dtype, count, blocksize, partial, midpoints, order, packed, absmax);
}
/* Whole blocks of a multiple of 8 values (every bitsandbytes blocksize), 8 lanes at a time: the same
 * absmax, reciprocal and clamp as the body, the position among the midpoints by the 4-level search of
 * simd_avx2.h (its code book holding the order table, so it yields the index), two indices to a byte.
 * A partial last block goes through the body. */
AVX2 static void quantize_4bit_avx2(const void *data, int dtype, int64_t count, int64_t blocksize, int partial,
                                    const float *midpoints, const uint8_t *order, uint8_t *packed, float *absmax) {
    float order_values[16];
    for (int k = 0; k < 16; k++) order_values[k] = order[k];
    const code_book book = make_code_book(midpoints, order_values);
    int32_t index[4096];
    int64_t blocks = (count + blocksize - 1) / blocksize;
    int64_t whole = count / blocksize;
    if (partial && whole == blocks) whole--;
    for (int64_t b = 0; b < whole; b++) {
        int64_t start = b * blocksize;
        __m256 largest = _mm256_setzero_ps();
        for (int64_t i = 0; i < blocksize; i += 8) {
            __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), load8(data, dtype, start + i));
            largest = _mm256_max_ps(magnitude, largest);  /* a NaN lane keeps `largest`, as fmaxf does */
        }
        float block_max = max_ps(largest);
        absmax[b] = block_max;
        const __m256 reciprocal = _mm256_set1_ps(1.0f / fmaxf(block_max, 1e-38f));
        for (int64_t i = 0; i < blocksize; i += 8) {
            __m256 scaled = clamp_unit_ps(_mm256_mul_ps(load8(data, dtype, start + i), reciprocal));
            _mm256_storeu_si256((__m256i *)(index + i), _mm256_cvtps_epi32(code_value(&book, scaled)));
        }
        uint8_t *out = packed + start / 2;
        for (int64_t i = 0; i < blocksize / 2; i++) out[i] = (uint8_t)(index[2 * i] << 4 | index[2 * i + 1]);
    }
    if (whole < blocks) {
        int64_t start = whole * blocksize;
        const unsigned char *tail = (const unsigned char *)data + start * (dtype == QK_F32 ? 4 : 2);
        quantize_4bit_body(tail, dtype, count - start, blocksize, partial, midpoints, order, packed + start / 2, absmax + whole);
    }
}
void qk_quantize_4bit(const void *data, int dtype, int64_t count, int64_t blocksize, int last_block_partial,
                      const float *midpoints, const uint8_t *order, uint8_t *packed, float *absmax) {
    int vector = qk_has_avx2() && blocksize % 8 == 0 && blocksize <= 4096;
    (vector ? quantize_4bit_avx2 : quantize_4bit_portable)(data, dtype, count, blocksize, last_block_partial,
                                                           midpoints, order, packed, absmax);
}
void qk_quantize_4bit_scalar(const void *data, int dtype, int64_t count, int64_t blocksize, int last_block_partial,
                             const float *midpoints, const uint8_t *order, uint8_t *packed, float *absmax) {
    quantize_4bit_portable(data, dtype, count, blocksize, last_block_partial, midpoints, order, packed, absmax);
}

static void quantize_int8_rows_portable(const void *data, int dtype, int64_t rows, int64_t columns, int8_t *codes, float *scale) {
    quantize_int8_rows_body(data, dtype, rows, columns, codes, scale);
}
/* The body's arithmetic written out in vectors (the compiler left the body's loops scalar: 0.76
 * Gparam/s on one core for a 2048 × 5632 F32 weight, 2.99 so). */
AVX2 static void quantize_int8_rows_avx2(const void *data, int dtype, int64_t rows, int64_t columns, int8_t *codes, float *scale) {
    const unsigned char *bytes = data;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    int64_t whole = columns / 8 * 8;
    for (int64_t r = 0; r < rows; r++) {
        int64_t base = r * columns;
        __m256 largest8 = _mm256_setzero_ps();
        for (int64_t c = 0; c < whole; c += 8)   /* a NaN lane keeps `largest8`, as fmaxf does */
            largest8 = _mm256_max_ps(_mm256_andnot_ps(sign, through_fp16(load8(data, dtype, base + c))), largest8);
        float largest = max_ps(largest8);
        for (int64_t c = whole; c < columns; c++)
            largest = fmaxf(largest, fabsf((float)(_Float16)load_element(bytes, dtype, base + c)));
        scale[r] = largest;
        float factor = largest > 0 ? (1.0f / largest) * 127.0f : 0.0f;
        const __m256 factor8 = _mm256_set1_ps(factor);
        for (int64_t c = 0; c < whole; c += 8)
            store_int8_codes(codes + base + c, _mm256_mul_ps(through_fp16(load8(data, dtype, base + c)), factor8));
        for (int64_t c = whole; c < columns; c++)
            codes[base + c] = (int8_t)nearbyintf((float)(_Float16)load_element(bytes, dtype, base + c) * factor);
    }
}
void qk_quantize_int8_rows(const void *data, int dtype, int64_t rows, int64_t columns, int8_t *codes, float *scale) {
    (qk_has_avx2() ? quantize_int8_rows_avx2 : quantize_int8_rows_portable)(data, dtype, rows, columns, codes, scale);
}
void qk_quantize_int8_rows_scalar(const void *data, int dtype, int64_t rows, int64_t columns, int8_t *codes, float *scale) {
    quantize_int8_rows_portable(data, dtype, rows, columns, codes, scale);
}

static void block_absmax_portable(const void *data, int dtype, int64_t count, int64_t blocksize, float *absmax) {
    block_absmax_body(data, dtype, count, blocksize, absmax);
}
AVX2 static void block_absmax_avx2(const void *data, int dtype, int64_t count, int64_t blocksize, float *absmax) {
    block_absmax_body(data, dtype, count, blocksize, absmax);
}
void qk_block_absmax(const void *data, int dtype, int64_t count, int64_t blocksize, float *absmax) {
    (qk_has_avx2() ? block_absmax_avx2 : block_absmax_portable)(data, dtype, count, blocksize, absmax);
}
void qk_block_absmax_scalar(const void *data, int dtype, int64_t count, int64_t blocksize, float *absmax) {
    block_absmax_portable(data, dtype, count, blocksize, absmax);
}
