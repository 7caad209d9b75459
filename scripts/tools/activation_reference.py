#!/usr/bin/env python3
"""Reference activation statistics: which nn.Linear layers of a causal LM see LLM.int8 outlier columns.

For a transformers model folder (config.json, *.safetensors, tokenizer.json) and a text, this script

1. tokenizes the text with the folder's tokenizer the way transformers does for a causal LM:
   tokenizer(text) with add_special_tokens left at its default (True), so the tokenizer's own post-processor
   decides whether a BOS (or anything else) is added; what it added is recorded in the JSON;
2. keeps the first N tokens (--tokens, default 512);
3. runs the model once in float32 on the CPU over that sequence (eager attention, no KV cache). If N exceeds
   the model's max_position_embeddings the tokens are cut into consecutive chunks of that length, each run as
   its own sequence;
4. records, with a forward pre-hook on every torch.nn.Linear, the largest |x| seen in each input column
   over all tokens ("column_max", float32 values written as JSON floats, which are exact), and for every
   threshold t in 1..10 how many columns reached |x| >= t in at least one token ("outlier_columns"; t = 6 is
   LLM.int8's default threshold, so "6" is the number of outlier columns bitsandbytes would keep in fp16);
5. records the per-token negative log-likelihood of each next token, nll[i] = -log p(token[i+1] | prefix)
   (natural log, log-softmax of the float32 logits computed in float64; within a chunk only, so the first
   token of every chunk is context only), and perplexity = exp(mean(nll)).

The text is a UTF-8 file; qtui's built-in calibration text is Sources/QuantKit/Resources/calibration.txt,
the very file the Swift build embeds.

Run with the reference venv (pins in scripts/requirements-ref.txt):

    ~/refenv/bin/python scripts/tools/activation_reference.py /tmp/smollm2-135m-hf \\
        Sources/QuantKit/Resources/calibration.txt --out /tmp/smollm2-activations.json

Output JSON (keys in this order): "model" (folder, model_type, layers, dtype, attention), "text" (source,
sha256 of its UTF-8 bytes, characters, tokens in the whole text), "tokenization" (add_special_tokens, the
special tokens the tokenizer added, tokens used, chunks), "tokens" [ids], "thresholds", "layers" {module
name: {"in_features", "rows", "column_max": [...], "outlier_columns": {"1": n, ..., "10": n}}} in module
order (lm_head included: its input is the final normed hidden state), "nll" [...], "perplexity", "versions".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from pathlib import Path


# --------------------------------------------------------------------------------------------------
# Reference-environment check (before importing torch & co.); same pattern as make_quant_fixtures.py
# --------------------------------------------------------------------------------------------------
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: refenv.py and the script folders
from refenv import check_reference_versions  # noqa: E402  (scripts/refenv.py)


VERSIONS = check_reference_versions()

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

THRESHOLDS = list(range(1, 11))


# --------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="transformers model folder (config.json, safetensors, tokenizer.json)")
    ap.add_argument("text", help="UTF-8 text file (qtui's built-in text: Sources/QuantKit/Resources/calibration.txt)")
    ap.add_argument("--tokens", type=int, default=512, help="use the first N tokens of the text (default 512)")
    ap.add_argument("--out", required=True, help="output JSON path")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.tokens < 2:
        sys.exit("error: --tokens must be at least 2")
    if args.threads:
        torch.set_num_threads(args.threads)

    text_path = Path(args.text)
    text = text_path.read_text(encoding="utf-8")

    folder = Path(args.model)
    tok = AutoTokenizer.from_pretrained(folder)
    with_special = tok(text)["input_ids"]  # add_special_tokens defaults to True: the tokenizer decides
    plain = tok(text, add_special_tokens=False)["input_ids"]
    added_front = len(with_special) - len(plain)
    # what the post-processor put around the text (normally a BOS in front, or nothing)
    if added_front >= 0 and with_special[added_front:] == plain:
        special_prefix, special_suffix = with_special[:added_front], []
    elif with_special[: len(plain)] == plain:
        special_prefix, special_suffix = [], with_special[len(plain):]
    else:
        special_prefix, special_suffix = None, None
    ids = with_special[: args.tokens]
    if len(ids) < args.tokens:
        print(f"note: the text has only {len(ids)} tokens (asked for {args.tokens})", file=sys.stderr)

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    cfg = model.config
    max_pos = getattr(cfg, "max_position_embeddings", None) or len(ids)
    chunks = [ids[i : i + max_pos] for i in range(0, len(ids), max_pos)]

    stats: dict[str, dict] = {}
    hooks = []

    def make_hook(name: str, in_features: int):
        def hook(module, inputs):
            x = inputs[0].detach()
            if x.shape[-1] != in_features:
                raise RuntimeError(f"{name}: input has {x.shape[-1]} columns, module says {in_features}")
            flat = x.reshape(-1, in_features).to(torch.float32).abs()
            colmax = flat.amax(dim=0)
            st = stats[name]
            st["column_max"] = colmax if st["column_max"] is None else torch.maximum(st["column_max"], colmax)
            st["rows"] += flat.shape[0]

        return hook

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            stats[name] = {"in_features": module.in_features, "rows": 0, "column_max": None}
            hooks.append(module.register_forward_pre_hook(make_hook(name, module.in_features)))
    if not stats:
        sys.exit("error: the model has no torch.nn.Linear modules")

    nll: list[float] = []
    with torch.no_grad():
        for chunk in chunks:
            input_ids = torch.tensor([chunk], dtype=torch.long)
            logits = model(input_ids=input_ids, use_cache=False).logits[0]
            if logits.dtype != torch.float32:
                raise RuntimeError(f"logits are {logits.dtype}, expected float32")
            logp = torch.log_softmax(logits[:-1].to(torch.float64), dim=-1)
            target = input_ids[0, 1:]
            nll.extend((-logp.gather(1, target[:, None])[:, 0]).tolist())
    for h in hooks:
        h.remove()

    layers = {}
    for name, st in stats.items():
        cm = st["column_max"]
        if cm is None:
            continue  # a Linear that the forward pass never called
        counts = {str(t): int((cm >= t).sum().item()) for t in THRESHOLDS}
        layers[name] = {
            "in_features": st["in_features"],
            "rows": st["rows"],
            "column_max": [float(v) for v in cm.tolist()],
            "outlier_columns": counts,
        }
    skipped = [n for n, st in stats.items() if st["column_max"] is None]

    mean_nll = sum(nll) / len(nll) if nll else float("nan")
    result = {
        "model": {
            "folder": str(folder),
            "model_type": getattr(cfg, "model_type", None),
            "architectures": getattr(cfg, "architectures", None),
            "num_hidden_layers": getattr(cfg, "num_hidden_layers", None),
            "hidden_size": getattr(cfg, "hidden_size", None),
            "max_position_embeddings": getattr(cfg, "max_position_embeddings", None),
            "tie_word_embeddings": getattr(cfg, "tie_word_embeddings", None),
            "dtype": "float32",
            "device": "cpu",
            "attention": "eager",
        },
        "text": {
            "source": str(text_path),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "characters": len(text),
            "words": len(text.split()),
            "tokens_total": len(with_special),
        },
        "tokenization": {
            "tokenizer_class": type(tok).__name__,
            "add_special_tokens": True,
            "special_tokens_added": len(with_special) - len(plain),
            "special_prefix": special_prefix,
            "special_suffix": special_suffix,
            "bos_token": tok.bos_token,
            "bos_token_id": tok.bos_token_id,
            "tokens_requested": args.tokens,
            "tokens_used": len(ids),
            "chunks": [len(c) for c in chunks],
        },
        "tokens": ids,
        "thresholds": THRESHOLDS,
        "layers": layers,
        "layers_not_called": skipped,
        "nll": nll,
        "mean_nll": mean_nll,
        "perplexity": math.exp(mean_nll) if nll else float("nan"),
        "versions": VERSIONS,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result) + "\n", encoding="utf-8")

    # ---- short human summary ----
    print(f"text: {len(text)} chars, {len(text.split())} words, {len(with_special)} tokens "
          f"({len(with_special) - len(plain)} special added); used {len(ids)} in chunks {[len(c) for c in chunks]}")
    print(f"perplexity over {len(nll)} predictions: {result['perplexity']:.4f} (mean nll {mean_nll:.4f})")
    print(f"{'layer':44s} {'in':>5s} {'>=1':>5s} {'>=3':>5s} {'>=6':>5s} {'>=10':>5s} {'max':>9s}")
    for name, L in layers.items():
        oc = L["outlier_columns"]
        print(f"{name:44s} {L['in_features']:5d} {oc['1']:5d} {oc['3']:5d} {oc['6']:5d} {oc['10']:5d} "
              f"{max(L['column_max']):9.3f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
