#include "fuzz_driver.h"

/* Weak: libclang_rt.fuzzer defines it when the build uses -sanitize=fuzzer; otherwise it stays null,
 * so an ordinary `swift build` of every product still links. */
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t)) __attribute__((weak));

int qk_fuzz_run_driver(int *argc, char ***argv, qk_fuzz_callback callback) {
    if (!LLVMFuzzerRunDriver) return -1;
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
