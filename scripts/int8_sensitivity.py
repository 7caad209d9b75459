#!/usr/bin/env python3
"""How well defined is a model's LLM.int8 perplexity? bitsandbytes itself, with its inputs nudged by one ulp.

LLM.int8 rounds every activation to an int8 code. On a real model a change in the last bit of the fp32
activations (another BLAS blocking, another thread count, another runtime such as qtui's) flips some of those
roundings, and the flips compound through the layers. This script measures how far that moves the perplexity
of transformers + bitsandbytes itself: it loads the model with BitsAndBytesConfig(load_in_8bit=True,
llm_int8_threshold=T) on the CPU and, for each seed, multiplies the input of every Linear8bitLt by
(1 + epsilon * N(0, 1)) (epsilon 1e-7, below float32's 1.19e-7 machine epsilon) before bitsandbytes quantizes
it. Seed "none" is the unperturbed reference. Nothing is written; the table is printed.

Run with the reference venv (pins in scripts/requirements-ref.txt) from the repository root, e.g. on the
SmolLM2 copy made by scripts/convert_smollm2.py and its 512 calibration tokens:

    ~/refenv/bin/python scripts/int8_sensitivity.py --model /tmp/smollm2-135m-hf --tokens-fixture TOKENS.json \
        --thresholds 0 2 6 --seeds 5

TOKENS.json: {"tokens": [...]} (the format of Tests/Fixtures/calibration/*.json). Perplexity is the rule of
scripts/make_perplexity_fixture.py: exp(mean NLL of tokens 1..n-1), one sequence, float32 model, eager attention.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions, quiet_reference_libraries  # noqa: E402  (scripts/refenv.py)

check_reference_versions()
quiet_reference_libraries()  # also silences bitsandbytes' per-call "cast to float16" notice

import torch  # noqa: E402
import bitsandbytes as bnb  # noqa: E402
from transformers import AutoModelForCausalLM, BitsAndBytesConfig  # noqa: E402


def perplexity(model, ids: torch.Tensor) -> float:
    with torch.no_grad():
        logits = model(ids[None]).logits[0]
    logp = torch.log_softmax(logits[:-1].to(torch.float64), dim=-1)
    nll = -logp.gather(1, ids[1:, None]).squeeze(1)
    return math.exp(nll.mean().item())


def measure(model_dir: Path, ids: torch.Tensor, threshold: float, seed: int | None, epsilon: float) -> float:
    config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=threshold)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, device_map="cpu",
                                                 attn_implementation="eager", quantization_config=config).eval()
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear8bitLt)]
    assert layers and all(m.state.threshold == threshold for m in layers)
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)

        def nudge(_module, inputs):
            x = inputs[0]
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            return (x * (1 + epsilon * noise),) + tuple(inputs[1:])

        for m in layers:
            m.register_forward_pre_hook(nudge)
    return perplexity(model, ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="a transformers llama folder (safetensors)")
    ap.add_argument("--tokens-fixture", type=Path, required=True, help='JSON with a "tokens" array')
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 2.0, 6.0])
    ap.add_argument("--seeds", type=int, default=5, help="perturbed runs per threshold (default 5)")
    ap.add_argument("--epsilon", type=float, default=1e-7, help="relative size of the nudge (default 1e-7)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ids = torch.tensor(json.loads(a.tokens_fixture.read_text())["tokens"])
    print(f"{len(ids)} tokens, epsilon {a.epsilon:g}, {a.seeds} seeds")
    for threshold in a.thresholds:
        reference = measure(a.model, ids, threshold, None, a.epsilon)
        nudged = [measure(a.model, ids, threshold, seed, a.epsilon) for seed in range(a.seeds)]
        low, high = min(nudged + [reference]), max(nudged + [reference])
        print(f"int8@{threshold:g}: unperturbed {reference:.4f}; nudged " + " ".join(f"{p:.4f}" for p in nudged)
              + f"; range {low:.4f}-{high:.4f} ({100 * (high / low - 1):.2f}% wide)")


if __name__ == "__main__":
    main()
