#!/usr/bin/env python3
"""Reference outlier features (Dettmers et al. 2022, LLM.int8(), section 4.1) with transformers' forward hooks.

For a transformers model folder and a text (tokenized as scripts/activation_reference.py does: the folder's
tokenizer, add_special_tokens left at its default, the first --tokens ids, one float32 forward pass on the CPU,
eager attention), a forward pre-hook on every torch.nn.Linear counts per input column the tokens whose
|fp16(x)| >= fp16(t) for each threshold t of the grid, and keeps the column's largest |x|.

The definition, counted exactly as QuantKit's OutlierFeatures does (docs/USAGE.md explains it):
- counted inputs: per transformer block (the first number in a Linear's name), the input of the attention
  projections (q_proj/k_proj/v_proj, c_attn, query/key/value) and of the MLP's first projection
  (gate_proj/up_proj, c_fc, intermediate.dense), whose width is the hidden size; Linears reading
  the same tensor (q, k, v) are one input, represented by the first of them in module order;
- layer share = blocks where the dimension reaches t for at least one token at a counted input / blocks;
- token share = (counted input, token) pairs where it reaches t / (counted inputs x tokens);
- a dimension is an outlier feature when layer share >= 0.25 and token share >= 0.06.

Output JSON: "model", "tokens" (ids), "hidden_size", "inputs" [{block, role, layers}], "features" {threshold:
{"blocks", "inputs", "positions", "features": [{dimension, max_abs, layer_share, token_share, layers,
token_hits}]}} and "versions".

    ~/refenv/bin/python scripts/tools/outlier_features_reference.py MODEL_DIR Sources/QuantKit/Resources/calibration.txt \\
        --tokens 200 --out Tests/Fixtures/calibration/synthetic-llama-200-outlier-features.json

(scripts/fixtures/make_calibration_fixture.sh runs that on the synthetic llama). The SmolLM2 fixture is made from the folder
scripts/tools/convert_smollm2.py writes:

    ~/refenv/bin/python scripts/tools/outlier_features_reference.py /tmp/smollm2-135m-hf Sources/QuantKit/Resources/calibration.txt \\
        --tokens 128 --out Tests/Fixtures/calibration/smollm2-128-outlier-features.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: refenv.py and the script folders
from tools.activation_reference import VERSIONS  # noqa: E402  (checks the reference venv)

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

# ActivationStatistics.defaultCountedThresholds (LayerActivationReport.reportedThresholds)
THRESHOLDS = [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20]
# HiddenStateInputs' suffixes: the families qtui runs
ATTENTION = (".q_proj", ".k_proj", ".v_proj", ".qkv_proj", ".query_key_value", ".c_attn", ".query", ".key", ".value")
MLP = (".gate_proj", ".up_proj", ".gate_up_proj", ".fc1", ".dense_h_to_4h", ".c_fc", ".intermediate.dense")
LAYER_SHARE, TOKEN_SHARE = 0.25, 0.06


def role(name: str) -> str | None:
    if name.endswith(ATTENTION):
        return "attention"
    if name.endswith(MLP):
        return "mlp"
    return None


def block(name: str) -> int | None:
    return next((int(part) for part in name.split(".") if part.isdigit()), None)


def hidden_inputs(linears: list[tuple[str, int]]) -> tuple[int, list[dict]]:
    classified = [(block(n), role(n), n, w) for n, w in linears if role(n) and block(n) is not None]
    widths = Counter(w for _, r, _, w in classified if r == "attention")
    hidden = min(widths.items(), key=lambda kv: (-kv[1], kv[0]))[0] if widths else 0
    grouped: dict[tuple[int, str], list[str]] = {}
    for b, r, n, w in classified:
        if w == hidden:
            grouped.setdefault((b, r), []).append(n)
    inputs = [{"block": b, "role": r, "layers": names} for (b, r), names in grouped.items()]
    inputs.sort(key=lambda i: (i["block"], i["role"] == "mlp"))
    return hidden, inputs


def features_at(t: float, hidden: int, inputs: list[dict], stats: dict) -> dict:
    seen = [(i["block"], stats[i["layers"][0]]) for i in inputs if i["layers"][0] in stats]
    blocks = sorted({b for b, _ in seen})
    positions = sum(s["rows"] for _, s in seen)
    found = []
    for d in range(hidden):
        hits = sum(int(s["counts"][t][d]) for _, s in seen)
        appears = sorted({b for b, s in seen if int(s["counts"][t][d]) > 0})
        layer_share, token_share = len(appears) / max(len(blocks), 1), hits / max(positions, 1)
        if hits > 0 and layer_share >= LAYER_SHARE and token_share >= TOKEN_SHARE:
            found.append({"dimension": d, "max_abs": max(float(s["column_max"][d]) for _, s in seen),
                          "layer_share": layer_share, "token_share": token_share, "layers": appears, "token_hits": hits})
    return {"blocks": len(blocks), "inputs": len(seen), "positions": positions, "features": found}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="transformers model folder (config.json, safetensors, tokenizer.json)")
    ap.add_argument("text", help="UTF-8 text file, or a .swift file with one multi-line string literal")
    ap.add_argument("--tokens", type=int, default=512, help="use the first N tokens of the text (default 512)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", required=True, help="output JSON path")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    folder = Path(args.model)
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok(Path(args.text).read_text(encoding="utf-8"))["input_ids"][: args.tokens]
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    max_pos = getattr(model.config, "max_position_embeddings", None) or len(ids)
    if len(ids) > max_pos:
        sys.exit(f"error: {len(ids)} tokens exceed max_position_embeddings {max_pos}")

    limits = {t: torch.tensor(t, dtype=torch.float16) for t in THRESHOLDS}
    stats: dict[str, dict] = {}

    def make_hook(name: str, width: int):
        def hook(module, inputs):
            x = inputs[0].detach().reshape(-1, width).to(torch.float32).abs()
            half = x.to(torch.float16)
            st = stats.setdefault(name, {"rows": 0, "column_max": torch.zeros(width),
                                         "counts": {t: torch.zeros(width, dtype=torch.long) for t in THRESHOLDS}})
            st["rows"] += x.shape[0]
            st["column_max"] = torch.maximum(st["column_max"], x.amax(dim=0))
            for t in THRESHOLDS:
                st["counts"][t] += (half >= limits[t]).sum(dim=0)

        return hook

    linears = [(n, m.in_features) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    hidden, inputs = hidden_inputs(linears)
    hooks = [m.register_forward_pre_hook(make_hook(n, m.in_features))
             for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False)
    for h in hooks:
        h.remove()

    result = {
        "model": {"folder": str(folder), "model_type": getattr(model.config, "model_type", None), "dtype": "float32"},
        "text": str(args.text),
        "tokens": ids,
        "hidden_size": hidden,
        "inputs": inputs,
        "definition": {"rule": "|fp16(x)| >= fp16(t)", "layer_share": LAYER_SHARE, "token_share": TOKEN_SHARE},
        "features": {str(t): features_at(t, hidden, inputs, stats) for t in THRESHOLDS},
        "versions": VERSIONS,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result) + "\n", encoding="utf-8")
    at6 = result["features"]["6"]
    print(f"{len(ids)} tokens, hidden {hidden}, {at6['blocks']} blocks, {at6['inputs']} counted inputs")
    for t in THRESHOLDS:
        dims = [f["dimension"] for f in result["features"][str(t)]["features"]]
        print(f"t={t:>2}: {len(dims)} outlier features {dims[:12]}{' ...' if len(dims) > 12 else ''}")
    for f in at6["features"]:
        print(f"  dim {f['dimension']:4d}  max {f['max_abs']:8.3f}  layers {f['layer_share']:.0%}  tokens {f['token_share']:.2%}  "
              f"blocks {f['layers']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
