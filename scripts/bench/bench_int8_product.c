/* The exact int8 product (Sources/CQuantKernels/int8_product.c) against OpenBLAS's sgemm of the same
 * codes as floats — what the LLM.int8 simulation used before — on one thread (the runtime splits
 * both over the cores itself): SmolLM2-135M's MLP shapes at 512 tokens, and a 7B MLP's at the 64 sampled rows
 * of the output errors (a weight of 58 MB: the kernel's cache blocking matters there). Alternates the two, best of
 * 9 each, for each fast path the CPU has; prints the ratio. Built and run by scripts/bench_int8_product.sh. */
#include "qk_kernels.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void) {
    openblas_set_num_threads(1);
    const char *names[] = {"scalar", "AVX2", "AVX-512 VNNI"};
    int shapes[][3] = {{512, 1536, 576}, {512, 576, 1536}, {64, 14336, 4096}, {64, 4096, 14336}};
    for (int s = 0; s < 4; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        int8_t *a = malloc((size_t)m * k), *b = malloc((size_t)n * k);
        float *af = malloc(sizeof(float) * m * k), *bf = malloc(sizeof(float) * n * k), *cf = malloc(sizeof(float) * m * n);
        srand(1);
        for (int i = 0; i < m * k; i++) af[i] = a[i] = (int8_t)(rand() % 255 - 127);
        for (int i = 0; i < n * k; i++) bf[i] = b[i] = (int8_t)(rand() % 255 - 127);
        int8_t *packed = malloc((size_t)qk_int8_packed_size(n, k));
        int32_t *offsets = malloc(sizeof(int32_t) * ((n + 15) / 16 * 16)), *c = malloc(sizeof(int32_t) * m * n);
        qk_int8_pack(b, n, k, packed, offsets);
        /* The fast paths this CPU has (the scalar one is a reference, not a contender). */
        for (int variant = 2; variant >= 1; variant--) {
            double best_int8 = 1e9, best_sgemm = 1e9;
            int ran = 1;
            for (int r = 0; r < 9 && ran; r++) {
                double t0 = now();
                ran = qk_int8_product_variant(a, m, k, packed, offsets, 0, n, c, n, variant) == 0;
                double t1 = now();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, af, k, bf, k, 0, cf, n);
                double t2 = now();
                if (t1 - t0 < best_int8) best_int8 = t1 - t0;
                if (t2 - t1 < best_sgemm) best_sgemm = t2 - t1;
            }
            if (!ran) continue;
            long mismatches = 0;
            for (int i = 0; i < m * n; i++) mismatches += (float)c[i] != cf[i];
            printf("%d×%d×%d: int8 product (%s) %.2f ms, sgemm %.2f ms, ratio %.2f×%s\n", m, n, k, names[variant],
                   best_int8 * 1e3, best_sgemm * 1e3, best_sgemm / best_int8, mismatches ? " (results differ!)" : "");
        }
    }
    return 0;
}
