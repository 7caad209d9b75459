#ifndef QTUI_FUZZ_DRIVER_H
#define QTUI_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

typedef int (*qk_fuzz_callback)(const uint8_t *data, size_t size);

/* Hands the process to libFuzzer's driver with `callback` as the target. Returns -1 without running
 * anything when libFuzzer is not linked (a build without -sanitize=fuzzer): the caller then replays
 * the files named on the command line itself. */
int qk_fuzz_run_driver(int *argc, char ***argv, qk_fuzz_callback callback);
#endif
