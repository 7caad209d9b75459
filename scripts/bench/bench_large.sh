#!/usr/bin/env bash
# The scale benchmark of issue 18: qtui on a 7B-shaped BF16 checkpoint (written once, ~15 GB, cached in
# $QTUI_BENCH_DIR or ~/.cache/qtui-bench), each phase as a multiple of the forward pass's matmul limit
# measured in the same run, peak memory split into anonymous and file-backed, and the forward pass
# against transformers fp32 on a 1.5B-shaped checkpoint. Prints lines and one JSON line; records nothing.
#
#   make bench-large                          (builds release first; the 7B run takes most of an hour)
#   SIZE=1b TIMEOUT=180 scripts/bench/bench_large.sh        (1.19 G params, 2.4 GB: a quick run)
#   ONLY=sgemm,weights,forward SKIP=… ROUNDS=2 TOKENS=512 TORCH_SIZE=1.5b QTUI_BENCH_JSON=out.json …
#   QTUI_MAX_ISA=avx2 make bench-large        (caps qtui's kernels at AVX2; passed through to every run)
#   QTUI_BIN=/path/to/other/qtui …            (measures another build with the same script)
#
# scripts/bench/bench_large.py says what each measure is; make_large_checkpoint.py what the model is.
# Needs the reference venv (torch + transformers + safetensors, scripts/requirements-ref.txt) for the
# checkpoint and the torch peer, and the disk for the checkpoint: without room it says SKIPPED.
set -euo pipefail
cd "$(dirname "$0")/../.."
refenv="${QTUI_REFENV:-$HOME/refenv}"
[ -x "${QTUI_BIN:-.build/release/qtui}" ] || { echo "bench-large: build first: swift build -c release" >&2; exit 2; }
if [ ! -x "$refenv/bin/python" ]; then
  echo "bench-large: no reference venv at $refenv (python3.11 -m venv ~/refenv && ~/refenv/bin/pip install -r scripts/requirements-ref.txt)" >&2
  exit 2
fi
QTUI_REFENV="$refenv" exec python3 scripts/bench/bench_large.py
