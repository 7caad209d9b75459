#!/usr/bin/env bash
# Regenerates Tests/Fixtures/calibration/synthetic-llama-200*.json: what transformers' forward hooks see
# at every Linear input of qtui's synthetic llama (2 layers, hidden 64, outlier dimensions 7/61/62)
# running the built-in calibration text (first 200 tokens, SmolLM2-style BPE fixture tokenizer).
# Needs a release build and the reference venv (scripts/requirements-ref.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(mktemp -d)/synthetic-llama
.build/release/qtui synthesize --out "$model" --layers 2 --hidden 64 >/dev/null
cp Tests/Fixtures/tokenizers/smollm2.tokenizer.json "$model/tokenizer.json"
"${QTUI_REFENV:-$HOME/refenv}/bin/python" scripts/activation_reference.py "$model" Sources/QuantKit/Analysis/CalibrationText.swift \
  --tokens 200 --threads 1 --out Tests/Fixtures/calibration/synthetic-llama-200.json
# The outlier features (LLM.int8 paper's definition) of the same model and tokens, at every counted threshold.
"${QTUI_REFENV:-$HOME/refenv}/bin/python" scripts/outlier_features_reference.py "$model" Sources/QuantKit/Analysis/CalibrationText.swift \
  --tokens 200 --threads 1 --out Tests/Fixtures/calibration/synthetic-llama-200-outlier-features.json
