#include "qk_kernels.h"
#include <math.h>
#include <string.h>

/* Number of ascending midpoints strictly below x (torch.bucketize, right=False), branch-free. */
/* Used to build the table; the hot loop uses the table. */
static inline int count_below(const float *midpoints, int count, float x) {
    const float *base = midpoints;
    int remaining = count;
    while (remaining > 1) {
        int half = remaining / 2;
        base = base[half] < x ? base + half : base;
        remaining -= half;
    }
    return (int)(base - midpoints) + (remaining == 1 && *base < x);
}

static inline uint32_t bits_of(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    return bits;
}

static inline float float_of(uint32_t bits) {
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

/* For every value of the upper 16 bits of a float, the number of midpoints below the lowest float
 * sharing those bits; the exact count for any x is then reached by stepping up a few midpoints. */
void qk_bucket_table_build(const float *midpoints, int midpoint_count, uint8_t *table) {
    for (uint32_t key = 0; key < 65536; key++) {
        int negative = key >> 15;
        float lowest = float_of(negative ? (key << 16) | 0xFFFFu : key << 16);
        table[key] = isnan(lowest) ? 0 : (uint8_t)count_below(midpoints, midpoint_count, lowest);
    }
}

static inline int count_below_with_table(const float *midpoints, int midpoint_count, const uint8_t *table, float x) {
    int position = table[bits_of(x) >> 16];
    while (position < midpoint_count && midpoints[position] < x) position++;
    return position;
}

void qk_quantize_blockwise(const float *x, int64_t count, int64_t blocksize, const float *midpoints,
                           int midpoint_count, const uint8_t *table, const uint8_t *order, uint8_t *indices,
                           float *absmax) {
    const float floor_value = 1e-38f;
    int64_t full_blocks = count / blocksize;
    for (int64_t start = 0, b = 0; start < count; start += blocksize, b++) {
        int64_t end = start + blocksize < count ? start + blocksize : count;
        float largest = 0;
        for (int64_t i = start; i < end; i++) largest = fmaxf(largest, fabsf(x[i]));
        int partial = b == full_blocks;
        float divisor = fmaxf(largest, floor_value);
        float reciprocal = 1.0f / divisor;
        absmax[b] = partial ? divisor : largest;
        for (int64_t i = start; i < end; i++) {
            float scaled = partial ? x[i] / divisor : x[i] * reciprocal;
            scaled = scaled < -1.0f ? -1.0f : (scaled > 1.0f ? 1.0f : scaled);
            indices[i] = order[count_below_with_table(midpoints, midpoint_count, table, scaled)];
        }
    }
}
