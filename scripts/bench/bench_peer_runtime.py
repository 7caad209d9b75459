#!/usr/bin/env python3
"""Peer of the forward-pass benchmark: transformers' fp32 CPU forward of a ~135M-parameter llama.

    ~/refenv/bin/python scripts/bench/bench_peer_runtime.py [--model /tmp/qtui-bench/llama-135m] [--tokens 512]

The model is SmolLM2-135M's architecture (30 blocks, hidden 576, 9 heads / 3 key-value heads, MLP 1536,
vocabulary 49152, tied embeddings, rope_theta 100000) with random weights (seed 0), written once with
save_pretrained as F32 safetensors into --model and loaded back from there, so qtui runs the same file.
The input is token i = (i * 7919 + 13) % vocab for i < --tokens (`qtui bench --forward` uses the same).
Timed: model(input_ids).logits under torch.inference_mode with 2 threads (default sdpa attention), one
warm-up and the best of --repeat. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: refenv.py and the script folders
from refenv import check_reference_versions  # noqa: E402

VERSIONS = check_reference_versions()

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()

SMOLLM2_135M = dict(
    vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
    num_key_value_heads=3, max_position_embeddings=8192, rms_norm_eps=1e-5, hidden_act="silu",
    tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
    initializer_range=0.041666666666666664, bos_token_id=0, eos_token_id=0,
)


def bench_tokens(count: int, vocab: int) -> list[int]:
    return [(i * 7919 + 13) % vocab for i in range(count)]


def ensure_model(folder: Path) -> None:
    """Writes the 135M model unless the folder holds a checkpoint (e.g. bench_large.sh's sharded one)."""
    if (folder / "model.safetensors").exists() or (folder / "model.safetensors.index.json").exists():
        return
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M)).eval()
    model.save_pretrained(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="/tmp/qtui-bench/llama-135m")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    folder = Path(args.model)
    ensure_model(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = torch.tensor([bench_tokens(args.tokens, model.config.vocab_size)])
    parameters = sum(p.numel() for p in model.parameters())
    best, best_cpu = float("inf"), 0.0
    with torch.inference_mode():
        for run in range(args.repeat + 1):
            start, start_cpu = time.perf_counter(), time.process_time()
            logits = model(input_ids=ids).logits
            seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            if run > 0 and seconds < best:
                best, best_cpu = seconds, cpu
    print(json.dumps({
        "peer": f"transformers {VERSIONS['transformers']} / torch {torch.__version__} fp32 CPU, {torch.get_num_threads()} threads",
        "parameters": parameters, "tokens": args.tokens, "best_seconds": best, "best_cpu_seconds": best_cpu, "tokens_per_s": args.tokens / best,
        "attention": model.config._attn_implementation, "logits_shape": list(logits.shape),
    }, sort_keys=True))


if __name__ == "__main__":
    main()
