#!/usr/bin/env python3
"""Reference KL divergences from fp32 of qtui's synthetic llama under bitsandbytes quantization (CPU).

Writes Tests/Fixtures/calibration/synthetic-llama-200-kl.json, the golden values of
PerplexityReport's "klDivergence". Same model, tokens and bitsandbytes paths as
scripts/make_perplexity_fixture.py (whose loader and 4-bit dequantization routing it imports; read its
docstring for the CPU paths), run with the reference venv from the repository root:

    ~/refenv/bin/python scripts/make_kl_fixture.py [--model DIR] [--out PATH] [--threads 1]

Without --model the model is synthesized with .build/release/qtui, as make_perplexity_fixture.py does.

KL: for every position i in 0..198 (those that predict a next token), p_i = softmax(fp32 logits),
q_i = softmax(quantized logits), both log-softmaxed in float64 from the float32 logits;
KL_i = sum_v p_i[v] (log p_i[v] - log q_i[v]) in nats, and "kl" is the mean over the 199 positions. The fp32
model is the unquantized one loaded the same way (float32, eager attention). Perplexity is stored beside
it (it must equal make_perplexity_fixture.py's).

Output JSON: "versions", "model_safetensors_sha256", "tokens_sha256", "method",
"results" {name: {"kl", "perplexity", "config"}}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_perplexity_fixture as base  # noqa: E402  (checks the reference versions on import)

import torch  # noqa: E402
from transformers import BitsAndBytesConfig  # noqa: E402

DEFAULT_OUT = base.REPO / "Tests/Fixtures/calibration/synthetic-llama-200-kl.json"


def log_probs(model, ids: torch.Tensor, fourbit: bool) -> torch.Tensor:
    """float64 log-softmax of the float32 logits at positions 0..n-2; 4-bit as the perplexity fixture runs it."""
    if fourbit:
        base.set_packed(model, lambda n, m: False)
        with base.DefaultDequant4bit():
            with torch.no_grad():
                logits = model(input_ids=ids, use_cache=False).logits[0]
    else:
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits[0]
    assert logits.dtype == torch.float32, logits.dtype
    return torch.log_softmax(logits[:-1].to(torch.float64), dim=-1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--model", type=Path, help="the synthetic llama folder (default: synthesize it with .build/release/qtui)")
    ap.add_argument("--tokens-fixture", type=Path, default=base.TOKENS_FIXTURE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tokens = json.loads(a.tokens_fixture.read_text())["tokens"]
    ids = torch.tensor([tokens], dtype=torch.long)
    targets = ids[0, 1:, None]
    configs = {
        "int8@0": dict(load_in_8bit=True, llm_int8_threshold=0.0),
        "int8@1": dict(load_in_8bit=True, llm_int8_threshold=1.0),
        "int8@2": dict(load_in_8bit=True, llm_int8_threshold=2.0),
        "int8@6": dict(load_in_8bit=True, llm_int8_threshold=6.0),
        "int8@6-skip": dict(load_in_8bit=True, llm_int8_threshold=6.0, llm_int8_skip_modules=["lm_head", "model.layers.1.mlp"]),
        "nf4": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32),
        "nf4-dq": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32),
        "fp4": dict(load_in_4bit=True, bnb_4bit_quant_type="fp4", bnb_4bit_compute_dtype=torch.float32),
    }
    with tempfile.TemporaryDirectory() as td:
        model_dir = a.model or base.build_model(Path(td))
        model_sha = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
        reference = log_probs(base.load(model_dir, None), ids, fourbit=False)
        p = reference.exp()
        results = {"fp32": {"kl": 0.0, "perplexity": math.exp(-reference.gather(1, targets).mean().item()),
                            "config": base.cfg_json({})}}
        for name, config in configs.items():
            fourbit = bool(config.get("load_in_4bit"))
            q = log_probs(base.load(model_dir, BitsAndBytesConfig(**config)), ids, fourbit)
            kl = (p * (reference - q)).sum(dim=-1).mean().item()
            results[name] = {"kl": kl, "perplexity": math.exp(-q.gather(1, targets).mean().item()), "config": base.cfg_json(config)}
            print(f"{name:12s} kl {kl:.8f}  ppl {results[name]['perplexity']:.6f}", flush=True)
    out = {
        "versions": base.VERSIONS,
        "model_safetensors_sha256": model_sha,
        "tokens_sha256": hashlib.sha256(json.dumps(tokens).encode()).hexdigest(),
        "method": ("kl = mean over positions 0..198 of sum_v p[v] (log p[v] - log q[v]), p from the fp32 model, q from the "
                   "quantized one, log_softmax of float32 logits in float64, natural log; models loaded as in "
                   "scripts/make_perplexity_fixture.py (float32, cpu, eager; 4-bit with the pure-torch dequantize_4bit, no repack)"),
        "results": results,
    }
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
