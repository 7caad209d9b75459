#!/usr/bin/env python3
"""How well defined is a model's LLM.int8 perplexity? bitsandbytes itself, with its inputs nudged by one ulp.

LLM.int8 rounds every activation to an int8 code. On a real model a change in the last bit of the fp32
activations (another BLAS blocking, another thread count, another runtime such as qtui's) flips some of those
roundings, and the flips compound through the layers. This script measures how far that moves the perplexity
of transformers + bitsandbytes itself: it loads the model with BitsAndBytesConfig(load_in_8bit=True,
llm_int8_threshold=T) on the CPU and, for each seed, multiplies the input of every Linear8bitLt by
(1 + epsilon * N(0, 1)) (epsilon 1e-7, below float32's 1.19e-7 machine epsilon) before bitsandbytes quantizes
it. Seed "none" is the unperturbed reference. The table is printed (and with --json every run's values written).

Per run it reports three measures, to see which one ranks thresholds above that noise: perplexity; the mean
KL divergence KL(p_fp32 || p_int8) of the next-token distributions against the unquantized model loaded the
same way (what qtui's threshold suggestion uses); and the top-1 agreement rate (the share of positions where
both models' most likely next token is the same). Both are means over the n-1 positions perplexity averages
over. The fp32 log-probabilities are kept in float32 ((n-1) x vocabulary: 100 MB for SmolLM2 at 512 tokens).

Run with the reference venv (pins in scripts/requirements-ref.txt) from the repository root, e.g. on the
SmolLM2 copy made by scripts/tools/convert_smollm2.py and its 512 calibration tokens:

    ~/refenv/bin/python scripts/tools/int8_sensitivity.py --model /tmp/smollm2-135m-hf --tokens-fixture TOKENS.json \
        --thresholds 0 2 6 --seeds 5 [--json runs.json]

TOKENS.json: {"tokens": [...]} (the format of Tests/Fixtures/calibration/*.json). Perplexity is the rule of
scripts/fixtures/make_perplexity_fixture.py: exp(mean NLL of tokens 1..n-1), one sequence, float32 model, eager attention.
Each threshold takes 6 model loads and passes (1–2 minutes on SmolLM2, 2 threads).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: refenv.py and the script folders
from refenv import check_reference_versions, quiet_reference_libraries  # noqa: E402  (scripts/refenv.py)

check_reference_versions()
quiet_reference_libraries()  # also silences bitsandbytes' per-call "cast to float16" notice

import torch  # noqa: E402
import bitsandbytes as bnb  # noqa: E402
from transformers import AutoModelForCausalLM, BitsAndBytesConfig  # noqa: E402


class Fp32Reference:
    """The fp32 model's next-token log-probabilities at positions 0..n-2 (kept in float32: 512 x 49152 is 100 MB)."""

    def __init__(self, model_dir: Path, ids: torch.Tensor):
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, device_map="cpu",
                                                     attn_implementation="eager").eval()
        self.log_probs = next_token_log_probs(model, ids)
        self.top1 = self.log_probs.argmax(dim=-1)
        self.perplexity = scores(self.log_probs, None, ids)["perplexity"]


def next_token_log_probs(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        logits = model(ids[None]).logits[0]
    return torch.log_softmax(logits[:-1].to(torch.float64), dim=-1).to(torch.float32)


def scores(log_probs: torch.Tensor, reference: "Fp32Reference | None", ids: torch.Tensor) -> dict:
    """Perplexity; against the fp32 reference: mean KL(p_fp32 || p) in nats and the top-1 agreement rate.
    Both are means over the n-1 positions that predict a next token (the perplexity's positions)."""
    nll = -log_probs.to(torch.float64).gather(1, ids[1:, None]).squeeze(1)
    result = {"perplexity": math.exp(nll.mean().item())}
    if reference is not None:
        kl = torch.zeros(len(ids) - 1, dtype=torch.float64)
        for start in range(0, len(kl), 64):  # float64 a block of rows at a time
            p = reference.log_probs[start:start + 64].to(torch.float64)
            q = log_probs[start:start + 64].to(torch.float64)
            kl[start:start + 64] = (p.exp() * (p - q)).sum(dim=-1)
        result["kl"] = kl.mean().item()
        result["top1"] = (log_probs.argmax(dim=-1) == reference.top1).double().mean().item()
    return result


def measure(model_dir: Path, ids: torch.Tensor, threshold: float, seed: int | None, epsilon: float,
            reference: Fp32Reference) -> dict:
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
    return scores(next_token_log_probs(model, ids), reference, ids)


def spread(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"range {low:.6g}-{high:.6g} ({100 * (high / low - 1):.2f}% wide)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="a transformers llama folder (safetensors)")
    ap.add_argument("--tokens-fixture", type=Path, required=True, help='JSON with a "tokens" array')
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 2.0, 6.0])
    ap.add_argument("--seeds", type=int, default=5, help="perturbed runs per threshold (default 5)")
    ap.add_argument("--epsilon", type=float, default=1e-7, help="relative size of the nudge (default 1e-7)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--json", type=Path, help="also write every run's values here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ids = torch.tensor(json.loads(a.tokens_fixture.read_text())["tokens"])
    reference = Fp32Reference(a.model, ids)
    print(f"{len(ids)} tokens, epsilon {a.epsilon:g}, {a.seeds} seeds; fp32 perplexity {reference.perplexity:.4f}")
    table = {}
    for threshold in a.thresholds:
        runs = [measure(a.model, ids, threshold, seed, a.epsilon, reference) for seed in [None, *range(a.seeds)]]
        table[threshold] = runs
        for key, digits in [("perplexity", 4), ("kl", 6), ("top1", 4)]:
            values = [run[key] for run in runs]
            print(f"int8@{threshold:g} {key}: unperturbed {values[0]:.{digits}f}; nudged "
                  + " ".join(f"{v:.{digits}f}" for v in values[1:]) + f"; {spread(values)}; mean {sum(values) / len(values):.{digits}f}",
                  flush=True)
    if a.json:
        a.json.write_text(json.dumps({"tokens": len(ids), "epsilon": a.epsilon, "fp32_perplexity": reference.perplexity,
                                      "int8": {f"{t:g}": runs for t, runs in table.items()}}, indent=1))


if __name__ == "__main__":
    main()
