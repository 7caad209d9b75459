#!/usr/bin/env bash
# Forward-pass benchmark: the model runtime against transformers' fp32 CPU forward of the same ~135M
# llama (SmolLM2-135M's architecture, random weights, F32) on the same 512 tokens, measured in the same
# run. The two alternate (qtui, peer, qtui, peer) so a burst of load on the shared machine does not
# land on one side only; each side reports its best run. Prints the ratio; records nothing.
#
#   swift build -c release && scripts/bench/bench_runtime.sh
#   QTUI_REFENV=~/refenv QTUI_BENCH_LLAMA=/tmp/qtui-bench/llama-135m QTUI_BENCH_TOKENS=512 scripts/bench/bench_runtime.sh
#
# The peer needs the reference venv (torch + transformers, see scripts/requirements-ref.txt); it also
# writes the model (540 MB) the first time.
set -euo pipefail
cd "$(dirname "$0")/../.."
refenv="${QTUI_REFENV:-$HOME/refenv}"
model="${QTUI_BENCH_LLAMA:-/tmp/qtui-bench/llama-135m}"
tokens="${QTUI_BENCH_TOKENS:-512}"
qtui=.build/release/qtui
[ -x "$qtui" ] || { echo "bench: build first: swift build -c release" >&2; exit 2; }
if [ ! -x "$refenv/bin/python" ]; then
  echo "bench: no reference venv at $refenv (python3 -m venv ~/refenv && ~/refenv/bin/pip install -r scripts/requirements-ref.txt)" >&2
  exit 2
fi

peer() { "$refenv/bin/python" scripts/bench/bench_peer_runtime.py --model "$model" --tokens "$tokens" --repeat 3 2>/dev/null | tail -n 1; }
ours() { "$qtui" bench "$model" --forward --tokens "$tokens" --repeat 3; }

mkdir -p "$(dirname "$model")"
[ -e "$model/model.safetensors" ] || { echo "writing the benchmark model to $model"; peer >/dev/null; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
results=()
for round in 1 2; do
  q=$(ours); echo "  qtui  round $round: $q"
  p=$(peer); echo "  torch round $round: $p"
  results+=("$q" "$p")
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "${results[@]}" <<'PY'
import json, sys
runs = [json.loads(line) for line in sys.argv[1:]]
ours = min(r["best_seconds"] for r in runs[0::2])
peer = min(r["best_seconds"] for r in runs[1::2])
tokens = runs[0]["tokens"]
print(f"llama {runs[0]['parameters'] / 1e6:.1f}M params, {tokens} tokens, fp32 logits: "
      f"qtui {tokens / ours:.0f} tokens/s ({ours:.2f} s), transformers {tokens / peer:.0f} tokens/s ({peer:.2f} s): "
      f"ratio {peer / ours:.2f}x")
PY
