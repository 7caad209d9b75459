#ifndef QK_KERNELS_H
#define QK_KERNELS_H
/*
 * Hot loops of QuantKit's weight analysis. Each exists twice: a portable scalar function (the
 * reference, plain C, obviously right) and an AVX2/FMA/F16C function chosen at run time when the CPU
 * has those features. Tests run both over awkward data and demand identical results; the scalar
 * twins are themselves tested against the Swift quantizers that golden fixtures pin to bitsandbytes.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- decoding: F16 / BF16 / F32 bytes (any alignment, little endian) to float ---- */
void qk_decode_f16_scalar(const void *src, float *dst, int64_t count);
void qk_decode_f16(const void *src, float *dst, int64_t count);
void qk_decode_bf16(const void *src, float *dst, int64_t count);
void qk_decode_f32(const void *src, float *dst, int64_t count);

/* ---- the |x| histogram: quarter-octave bins over the whole float range ----
 * bin = (exponent bits << 2) | top two mantissa bits of |x|, i.e. edges at 2^e × {1, 1.25, 1.5, 1.75}.
 * Bin 0 holds zeros and the smallest subnormals; bins 1020…1023 hold infinities. NaNs are not binned. */
enum { QK_HIST_BINS = 1024 };

/* Methods whose reconstruction error the analysis pass accumulates. */
enum { QK_INT8 = 0, QK_NF4 = 1, QK_NF4_DQ = 2, QK_FP4 = 3, QK_FP4_DQ = 4, QK_METHOD_COUNT = 5 };

/* Per-range accumulators; ranges are merged by adding (and min/max). */
typedef struct {
    double sum, sum_sq;
    float min, max;
    int64_t nan_count, inf_count;
    double err_sq[QK_METHOD_COUNT];  /* Σ (dequantized − w)² */
    float err_max[QK_METHOD_COUNT];  /* max |dequantized − w| */
    uint64_t hist[QK_HIST_BINS];
} qk_accum;

void qk_accum_init(qk_accum *acc);
void qk_accum_merge(qk_accum *into, const qk_accum *from);
/* Moves the floating-point sums out (sum, sum_sq, err_sq[0…4] into `sums`, zero left behind): summed
 * by the caller in a fixed order, they make a result that does not depend on which thread ran what. */
enum { QK_ACCUM_SUMS = 2 + QK_METHOD_COUNT };
void qk_accum_take_sums(qk_accum *acc, double sums[QK_ACCUM_SUMS]);
/* Adds sums taken with qk_accum_take_sums back. */
void qk_accum_add_sums(qk_accum *acc, const double sums[QK_ACCUM_SUMS]);

/* Element types the analysis kernels read directly (no decode pass). */
enum { QK_F32 = 0, QK_F16 = 1, QK_BF16 = 2 };

/* A range of whole rows of a row-major weight [rows × columns], starting on a 4-bit block boundary. */
typedef struct {
    const void *data;          /* the range's values, any alignment */
    int dtype;                 /* QK_F32, QK_F16 or QK_BF16 */
    int has_special;           /* the range may hold NaN or ±Inf (pass 1 found some) */
    int64_t count;             /* rows_in_range × columns */
    int64_t columns;
    int64_t blocksize;         /* 4-bit blocksize */
    const float *absmax;       /* 4-bit absmax of each block of the range (last one may be partial) */
    const float *absmax_dq;    /* the same after double quantization and reassembly */
    int last_block_partial;    /* the range ends with the tensor's partial block: divide, don't multiply */
    const float *row_scale;    /* int8 SCB of each row: max |fp16(w)| over the row */
    const float *nf4_midpoints, *nf4_values;  /* 15 ascending midpoints; 16 code values in that order */
    const float *fp4_midpoints, *fp4_values;
} qk_range;

/* Pass 1 over a range of whole rows [count = rows × columns] that starts on a 4-bit block boundary:
 * raw block absmax (no clamp; the last block may be partial) and per-row max |w| (NaN ignored), what
 * every quantizer needs before it can start. Returns 1 when the range holds NaN or ±Inf, else 0. */
int qk_scan_scalar(const void *data, int dtype, int64_t count, int64_t blocksize, int64_t columns,
                   float *block_absmax, float *row_absmax);
int qk_scan(const void *data, int dtype, int64_t count, int64_t blocksize, int64_t columns,
            float *block_absmax, float *row_absmax);

/* Pass 2 over a range: the statistics and histogram of its values (sum, sum_sq, min, max, nan_count,
 * inf_count, hist of `acc`) and the error of int8, NF4, NF4+DQ, FP4 and FP4+DQ (err_sq, err_max). */
void qk_analyze_scalar(const qk_range *range, qk_accum *acc);
void qk_analyze(const qk_range *range, qk_accum *acc);
/* One path on purpose, for tests: 0 scalar, 1 AVX2, 2 AVX-512. Returns -1 (and does nothing) when the
 * CPU, the range or the code books do not allow it. */
int qk_analyze_variant(const qk_range *range, qk_accum *acc, int variant);
int qk_has_avx512(void);

/* bitsandbytes' blockwise quantization against a sorted code book (see Blockwise.swift, whose scalar
 * reference this must equal byte for byte): absmax per block (a partial last block's clamped to
 * ≥ 1e-38), scaled = clamp(x × (1/absmax)) or x / absmax for the partial block, index =
 * order[number of midpoints below scaled]. Used for double quantization's nested step. `table` comes
 * from qk_bucket_table_build for the same midpoints (65536 bytes; at most 255 midpoints). */
void qk_bucket_table_build(const float *midpoints, int midpoint_count, uint8_t *table);
void qk_quantize_blockwise(const float *x, int64_t count, int64_t blocksize, const float *midpoints,
                           int midpoint_count, const uint8_t *table, const uint8_t *order, uint8_t *indices,
                           float *absmax);

/* Export quantizers (quantize.c): bitsandbytes' packed 4-bit bytes + absmax for whole blocks of a
 * tensor (the last block may be partial: last_block_partial), and LLM.int8 row-wise codes + SCB.
 * Values are read as F32/F16/BF16 (dtype) straight from the mapping. Blocks are at most 4096. */
void qk_quantize_4bit(const void *data, int dtype, int64_t count, int64_t blocksize, int last_block_partial,
                      const float *midpoints, const uint8_t *order, uint8_t *packed, float *absmax);
void qk_quantize_int8_rows(const void *data, int dtype, int64_t rows, int64_t columns, int8_t *codes, float *scale);
/* LLM.int8 quantization of activations with outlier columns (Int8Rowwise.quantizeReference's
 * semantics): codes rows × columns, scale per row, outlier flag per column. */
void qk_quantize_int8_activations(const float *x, int64_t rows, int64_t columns, float threshold,
                                  int8_t *codes, float *scale, uint8_t *outlier);
void qk_quantize_int8_activations_scalar(const float *x, int64_t rows, int64_t columns, float threshold,
                                         int8_t *codes, float *scale, uint8_t *outlier);
/* occupied[i] = 1 when some |fp16(x)| lies in [limits[i], limits[i+1]) (limits ascending, n ≥ 1; the last
 * interval open above): thresholds with nothing between them quantize x alike. And its portable build. */
void qk_threshold_intervals(const float *x, int64_t count, const float *limits, int n, uint8_t *occupied);
void qk_threshold_intervals_scalar(const float *x, int64_t count, const float *limits, int n, uint8_t *occupied);
/* The portable builds of the two, for tests on machines with AVX2. */
void qk_quantize_4bit_scalar(const void *data, int dtype, int64_t count, int64_t blocksize, int last_block_partial,
                             const float *midpoints, const uint8_t *order, uint8_t *packed, float *absmax);
void qk_quantize_int8_rows_scalar(const void *data, int dtype, int64_t rows, int64_t columns, int8_t *codes, float *scale);
/* The 4-bit inverse (decode.c): value i = code[index i] × absmax[i / blocksize] from the packed bytes
 * (high nibble first), `code` the type's 16 values; and its portable twin. */
void qk_dequantize_4bit(const uint8_t *packed, const float *absmax, const float *code, int64_t count, int64_t blocksize, float *out);
void qk_dequantize_4bit_scalar(const uint8_t *packed, const float *absmax, const float *code, int64_t count, int64_t blocksize,
                               float *out);
/* Raw block absmax only (no clamp), for the double-quant offset before anything is written. */
void qk_block_absmax(const void *data, int dtype, int64_t count, int64_t blocksize, float *absmax);
void qk_block_absmax_scalar(const void *data, int dtype, int64_t count, int64_t blocksize, float *absmax);

/* ---- LLM.int8's int8 × int8 → int32 product, exact (int8_product.c) ----
 * C[i][j] = Σ_k A[i][k] · B[j][k] for rows i < m and columns first_column ≤ j < first_column + columns,
 * written to c[i · ldc + j − first_column]. A is m × k int8, rows packed; B (n × k, the weight's CB) is
 * packed once by qk_int8_pack into qk_int8_packed_size(n, k) bytes, with column_offsets of
 * ceil(n / 16) × 16 entries. first_column is a multiple of 16; k ≤ QK_INT8_PRODUCT_MAX_K, where
 * k × 128 × 128 still fits int32. */
enum { QK_INT8_PRODUCT_MAX_K = 131071 };
int64_t qk_int8_packed_size(int64_t n, int64_t k);
void qk_int8_pack(const int8_t *b, int64_t n, int64_t k, int8_t *packed, int32_t *column_offsets);
void qk_int8_product(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *column_offsets,
                     int64_t first_column, int64_t columns, int32_t *c, int64_t ldc);
void qk_int8_product_scalar(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *column_offsets,
                            int64_t first_column, int64_t columns, int32_t *c, int64_t ldc);
/* One path on purpose, for tests: 0 scalar, 1 AVX2, 2 AVX-512 VNNI. Returns -1 (and does nothing) when
 * the CPU lacks it. */
int qk_int8_product_variant(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *column_offsets,
                            int64_t first_column, int64_t columns, int32_t *c, int64_t ldc, int variant);
int qk_has_avx512_vnni(void);

/* LLM.int8's decomposed product, its int8 part (int8_mixed.c), for output columns first_column ≤ j <
 * first_column + columns (first_column a multiple of 16): y[i · ldy + j − first_column] =
 * float(CA·CBᵀ)[i][j] × (SCA[i] × SCB[j]) × 6.200124e-05, and the dequantized weight columns the fp16
 * part multiplies, w_outliers[(j − first_column) · outlier_count + t] = CB[j][outliers[t]] × SCB[j] × (1/127).
 * a (m × k codes CA), row_scale (SCA), packed + column_offsets (qk_int8_pack of CB), column_scale (SCB).
 * The scalar twin uses the scalar product and the portable build; both equal Int8Weight.outputReference. */
void qk_int8_mixed_output(const int8_t *a, const float *row_scale, int64_t m, int64_t k, const int8_t *packed,
                          const int32_t *column_offsets, const float *column_scale, const int64_t *outliers,
                          int64_t outlier_count, int64_t first_column, int64_t columns, float *y, int64_t ldy,
                          float *w_outliers);
void qk_int8_mixed_output_scalar(const int8_t *a, const float *row_scale, int64_t m, int64_t k, const int8_t *packed,
                                 const int32_t *column_offsets, const float *column_scale, const int64_t *outliers,
                                 int64_t outlier_count, int64_t first_column, int64_t columns, float *y, int64_t ldy,
                                 float *w_outliers);

/* Run-time dispatch (dispatch.c): 1 when those paths are in use — the CPU has them and QTUI_MAX_ISA
 * (scalar | avx2) does not cap them. qk_isa_name: the widest in use, "avx512-vnni", "avx512", "avx2" or
 * "scalar". */
int qk_has_avx2(void);
const char *qk_isa_name(void);

#ifdef __cplusplus
}
#endif
#endif
