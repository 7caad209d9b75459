#!/usr/bin/env bash
# The exact int8 × int8 → int32 kernel against OpenBLAS's sgemm of the same shape, one thread each
# (scripts/bench/bench_int8_product.c). Needs clang and libopenblas-dev; records nothing.
#
#   scripts/bench/bench_int8_product.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
clang -O3 -I Sources/CQuantKernels/include scripts/bench/bench_int8_product.c Sources/CQuantKernels/*.c -lopenblas -lm -o "$out/bench"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$out/bench"
