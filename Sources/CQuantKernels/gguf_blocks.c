#include "qk_gguf.h"
#include "qk_kernels.h"
#include <string.h>

/* Bit-exact with the Swift decoders only if no multiply-add is fused. */
#pragma clang fp contract(off)

static inline float half(const unsigned char *p, const float *halves) {
    uint16_t bits;
    memcpy(&bits, p, 2);
    return halves[bits];
}

/* |d|qs[16]|  x(i) = d × (q(i) − 8), q(i) = lo(qs[i]) for i < 16, hi(qs[i − 16]) for i ≥ 16 */
static void q4_0(const unsigned char *restrict p, float *restrict out, int64_t count, const float *restrict halves) {
    for (int64_t b = 0; b < count; b++, p += 18, out += 32) {
        float d = half(p, halves);
        for (int i = 0; i < 16; i++) {
            out[i] = d * (float)((int)(p[2 + i] & 0x0F) - 8);
            out[i + 16] = d * (float)((int)(p[2 + i] >> 4) - 8);
        }
    }
}

/* |d|m|qs[16]|  x(i) = d × q(i) + m */
static void q4_1(const unsigned char *restrict p, float *restrict out, int64_t count, const float *restrict halves) {
    for (int64_t b = 0; b < count; b++, p += 20, out += 32) {
        float d = half(p, halves), m = half(p + 2, halves);
        for (int i = 0; i < 16; i++) {
            out[i] = d * (float)(p[4 + i] & 0x0F) + m;
            out[i + 16] = d * (float)(p[4 + i] >> 4) + m;
        }
    }
}

/* |d|qs[32] int8|  x(i) = qs[i] × d */
static void q8_0(const unsigned char *restrict p, float *restrict out, int64_t count, const float *restrict halves) {
    for (int64_t b = 0; b < count; b++, p += 34, out += 32) {
        float d = half(p, halves);
        for (int i = 0; i < 32; i++) out[i] = (float)(int8_t)p[2 + i] * d;
    }
}

/* Q4_K's packed six-bit scale and min of sub-block j (GGUFDequantize.scaleMin). */
static void scale_min(const unsigned char *s, int j, float *scale, float *min) {
    if (j < 4) {
        *scale = (float)(s[j] & 63);
        *min = (float)(s[j + 4] & 63);
    } else {
        *scale = (float)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
        *min = (float)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* |d|dmin|scales[12]|qs[128]|  x = (d × sc(j)) × q − (dmin × mn(j)) */
static void q4_K(const unsigned char *restrict p, float *restrict out, int64_t count, const float *restrict halves) {
    for (int64_t b = 0; b < count; b++, p += 144, out += 256) {
        float d = half(p, halves), dmin = half(p + 2, halves);
        for (int j = 0; j < 8; j++) {
            float scale, min;
            scale_min(p + 4, j, &scale, &min);
            float dl = d * scale, ml = dmin * min;
            int shift = j % 2 == 0 ? 0 : 4;
            const unsigned char *qs = p + 16 + 32 * (j / 2);
            for (int l = 0; l < 32; l++) out[32 * j + l] = dl * (float)((qs[l] >> shift) & 0x0F) - ml;
        }
    }
}

/* |ql[128]|qh[64]|scales[16] int8|d|  x(i) = (d × scales[i / 16]) × (q − 32) */
static void q6_K(const unsigned char *restrict p, float *restrict out, int64_t count, const float *restrict halves) {
    for (int64_t b = 0; b < count; b++, p += 210, out += 256) {
        float d = half(p + 208, halves);
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) {
                for (int l = 0; l < 32; l++) {
                    int i = 128 * h + 32 * k + l;
                    int low = (p[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0F;
                    int high = (p[128 + 32 * h + l] >> (2 * k)) & 3;
                    float scale = d * (float)(int8_t)p[192 + i / 16];
                    out[i] = scale * (float)((low | high << 4) - 32);
                }
            }
        }
    }
}

int qk_gguf_decode(uint32_t type, const void *src, float *dst, int64_t count, const float *halves) {
    const unsigned char *p = src;
    switch (type) {
    case 0: qk_decode_f32(src, dst, count); return 1;
    case 1: for (int64_t i = 0; i < count; i++) dst[i] = half(p + 2 * i, halves); return 1;  /* F16C would quiet a signalling NaN */
    case 2: q4_0(p, dst, count, halves); return 1;
    case 3: q4_1(p, dst, count, halves); return 1;
    case 8: q8_0(p, dst, count, halves); return 1;
    case 12: q4_K(p, dst, count, halves); return 1;
    case 14: q6_K(p, dst, count, halves); return 1;
    case 30: qk_decode_bf16(src, dst, count); return 1;
    default: return 0;
    }
}
