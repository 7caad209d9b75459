#include "qk_kernels.h"
#include <stdlib.h>

/* The int8 part of bitsandbytes' int8_mixed_scaled_mm (LLM.int8) for output columns
 * first_column ≤ j < first_column + columns, in fp32, and the weight columns its fp16 part needs:
 *
 *     y[i · ldy + j − first_column] = float(CA·CBᵀ [i][j]) × (SCA[i] × SCB[j]) × 6.200124e-05
 *     w_outliers[(j − first_column) · outlier_count + t] = float(CB[j][outliers[t]]) × SCB[j] × (1/127)
 *
 * CA·CBᵀ exact in int32 (qk_int8_product), the float operations in exactly this order (no additions, so
 * nothing a compiler may fuse): the results equal Int8Weight.outputReference's bit for bit. The caller
 * adds X[:, outliers] · w_outliersᵀ. w_outliers may be NULL when outlier_count is 0. */

static const float dequant_scale = 6.200124e-05f;   /* 1 / (127 × 127), as bitsandbytes writes it */
static const float reciprocal127 = 7.874015718698502e-3f;

#define INLINE static inline __attribute__((always_inline))

INLINE void rescale_body(const int32_t *product, const float *row_scale, int64_t m, const float *column_scale,
                         int64_t first_column, int64_t columns, float *y, int64_t ldy) {
    for (int64_t i = 0; i < m; i++) {
        float row = row_scale[i];
        const float *scale = column_scale + first_column;
        for (int64_t j = 0; j < columns; j++) y[i * ldy + j] = (float)product[i * columns + j] * (row * scale[j]) * dequant_scale;
    }
}

/* Row j of w_outliers: weight row j's codes at the outlier columns, read from the packed tiles
 * (int8_product.c draws them): the byte of column c in row j is at row_base(j) + column_offset(c). */
INLINE void outlier_columns_body(int64_t k, const int8_t *packed, const float *column_scale, const int64_t *outliers,
                                 int64_t outlier_count, int64_t first_column, int64_t columns, float *w_outliers) {
    int64_t k4 = (k + 3) / 4;
    int64_t *offset = malloc((size_t)outlier_count * sizeof(int64_t));
    for (int64_t t = 0; t < outlier_count; t++) offset[t] = (outliers[t] / 4) * 64 + outliers[t] % 4;
    for (int64_t j = first_column; j < first_column + columns; j++) {
        const int8_t *codes = packed + (j / 16) * k4 * 64 + (j % 16) * 4;
        float *row = w_outliers + (j - first_column) * outlier_count;
        float scale = column_scale[j];
        for (int64_t t = 0; t < outlier_count; t++) row[t] = (float)codes[offset[t]] * scale * reciprocal127;
    }
    free(offset);
}

INLINE void mixed_body(const int8_t *a, const float *row_scale, int64_t m, int64_t k, const int8_t *packed,
                       const int32_t *column_offsets, const float *column_scale, const int64_t *outliers,
                       int64_t outlier_count, int64_t first_column, int64_t columns, float *y, int64_t ldy,
                       float *w_outliers, int scalar) {
    if (columns <= 0) return;
    int32_t *product = malloc((size_t)(m * columns) * sizeof(int32_t));
    if (scalar) qk_int8_product_scalar(a, m, k, packed, column_offsets, first_column, columns, product, columns);
    else qk_int8_product(a, m, k, packed, column_offsets, first_column, columns, product, columns);
    rescale_body(product, row_scale, m, column_scale, first_column, columns, y, ldy);
    free(product);
    if (outlier_count > 0) outlier_columns_body(k, packed, column_scale, outliers, outlier_count, first_column, columns, w_outliers);
}

static void mixed_portable(const int8_t *a, const float *row_scale, int64_t m, int64_t k, const int8_t *packed,
                           const int32_t *column_offsets, const float *column_scale, const int64_t *outliers,
                           int64_t outlier_count, int64_t first_column, int64_t columns, float *y, int64_t ldy,
                           float *w_outliers, int scalar) {
    mixed_body(a, row_scale, m, k, packed, column_offsets, column_scale, outliers, outlier_count, first_column, columns,
               y, ldy, w_outliers, scalar);
}

__attribute__((target("avx2,fma,f16c")))
static void mixed_avx2(const int8_t *a, const float *row_scale, int64_t m, int64_t k, const int8_t *packed,
                       const int32_t *column_offsets, const float *column_scale, const int64_t *outliers,
                       int64_t outlier_count, int64_t first_column, int64_t columns, float *y, int64_t ldy,
                       float *w_outliers) {
    mixed_body(a, row_scale, m, k, packed, column_offsets, column_scale, outliers, outlier_count, first_column, columns,
               y, ldy, w_outliers, 0);
}

void qk_int8_mixed_output(const int8_t *a, const float *row_scale, int64_t m, int64_t k, const int8_t *packed,
                          const int32_t *column_offsets, const float *column_scale, const int64_t *outliers,
                          int64_t outlier_count, int64_t first_column, int64_t columns, float *y, int64_t ldy,
                          float *w_outliers) {
    if (qk_has_avx2())
        mixed_avx2(a, row_scale, m, k, packed, column_offsets, column_scale, outliers, outlier_count, first_column, columns,
                   y, ldy, w_outliers);
    else
        mixed_portable(a, row_scale, m, k, packed, column_offsets, column_scale, outliers, outlier_count, first_column,
                       columns, y, ldy, w_outliers, 0);
}

void qk_int8_mixed_output_scalar(const int8_t *a, const float *row_scale, int64_t m, int64_t k, const int8_t *packed,
                                 const int32_t *column_offsets, const float *column_scale, const int64_t *outliers,
                                 int64_t outlier_count, int64_t first_column, int64_t columns, float *y, int64_t ldy,
                                 float *w_outliers) {
    mixed_portable(a, row_scale, m, k, packed, column_offsets, column_scale, outliers, outlier_count, first_column, columns,
                   y, ldy, w_outliers, 1);
}
