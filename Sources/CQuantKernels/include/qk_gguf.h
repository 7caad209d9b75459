#ifndef QK_GGUF_H
#define QK_GGUF_H

#include <stdint.h>

/* ggml blocks to float32, the same operations as QuantKit's GGUFDequantize (its Swift decoders are the
 * reference these are tested against bit for bit): every product and sum one float32 operation in the
 * same order, never fused. `halves` widens every fp16 bit pattern (65536 floats, the caller's table).
 * Decodes blocks [0, count) of ggml type `type` from `src` into `dst` and returns 1; returns 0, writing
 * nothing, for a type without a fast path here. */
int qk_gguf_decode(uint32_t type, const void *src, float *dst, int64_t count, const float *halves);

#endif
