#include "qk_kernels.h"
#include <stdlib.h>
#include <string.h>

/* The one place that decides which instruction-set paths the kernels take: what the CPU has, capped by
 * QTUI_MAX_ISA (read once per process) so a machine with AVX-512 can measure its AVX2 or scalar paths:
 *
 *     QTUI_MAX_ISA   unset or empty: everything the CPU has   avx2: no AVX-512   scalar: no AVX2 either
 *
 * Any other value is ignored (no cap); qk_isa_name() says what actually runs. Every dispatch in
 * CQuantKernels asks qk_has_avx2 / qk_has_avx512 / qk_has_avx512_vnni, so the cap holds for all of them.
 * OpenBLAS (the fp32 products) dispatches on its own (OPENBLAS_CORETYPE). */

enum { CAP_SCALAR = 0, CAP_AVX2 = 1, CAP_NONE = 2 };

static int isa_cap(void) {
    static int cached = -1;
    if (cached < 0) {
        const char *value = getenv("QTUI_MAX_ISA");
        if (value && strcmp(value, "scalar") == 0) cached = CAP_SCALAR;
        else if (value && strcmp(value, "avx2") == 0) cached = CAP_AVX2;
        else cached = CAP_NONE;
    }
    return cached;
}

int qk_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = isa_cap() >= CAP_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                 && __builtin_cpu_supports("f16c");
    }
    return cached;
}

int qk_has_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = isa_cap() >= CAP_NONE && qk_has_avx2() && __builtin_cpu_supports("avx512f")
                 && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    }
    return cached;
}

int qk_has_avx512_vnni(void) {
    static int cached = -1;
    if (cached < 0) cached = qk_has_avx512() && __builtin_cpu_supports("avx512vnni");
    return cached;
}

const char *qk_isa_name(void) {
    if (qk_has_avx512_vnni()) return "avx512-vnni";
    if (qk_has_avx512()) return "avx512";
    if (qk_has_avx2()) return "avx2";
    return "scalar";
}
