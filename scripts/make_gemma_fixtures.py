#!/usr/bin/env python3
"""Golden fixtures for QuantKit's Gemma forward passes: tiny random Gemma 1/2/3 models made and run by
transformers itself, and the Linear modules transformers + bitsandbytes convert in each.

    ~/refenv/bin/python scripts/make_gemma_fixtures.py [--out-dir Tests/Fixtures/gemma]

For every case the script builds the model from a small config (random weights from a seeded normal; the
(1 + w) norm gains drawn around 0 so that a norm read as w instead of 1 + w shows), writes it with
save_pretrained into <out-dir>/<name>/, loads that folder back with from_pretrained(dtype=torch.float32,
attn_implementation="eager") and runs INPUT_IDS through it on the CPU. It stores

    <name>/expected.safetensors   "logits" [tokens, vocab] F32, and for every nn.Linear that received input
                                  "colmax.<module>" [in_features] F32: the largest |x| of each input column
                                  over all tokens (a forward pre-hook, as scripts/activation_reference.py)
    manifest.json                 versions, input ids, per case the class, dtype, mean NLL, and the modules
                                  transformers turns into Linear8bitLt (BitsAndBytesConfig(load_in_8bit=True))
                                  and Linear4bit (load_in_4bit, nf4, double quant), both with device_map="cpu";
                                  "configs": hand-written config.json contents (old spellings, missing keys)
                                  and the values transformers' config classes resolve them to

Cases: gemma (multi-query attention, explicit head_dim), gemma2 (soft-capped attention and logits, sliding
layers beside full ones, query_pre_attn_scalar, pre/post feed-forward norms), gemma3_text (q/k norms, a RoPE
base per layer type, linear RoPE scaling on full layers, BF16), gemma3 (Gemma3ForConditionalGeneration with a
tiny SigLIP vision tower: language_model.* names; the vision tensors are stored, only the text runs).
Soft caps are set small (not the released 50 / 30) so that they change the logits of a tiny model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions  # noqa: E402

VERSIONS = check_reference_versions()
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

import bitsandbytes as bnb  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    BitsAndBytesConfig,
    Gemma2Config,
    Gemma2ForCausalLM,
    Gemma3Config,
    Gemma3ForCausalLM,
    Gemma3ForConditionalGeneration,
    Gemma3TextConfig,
    GemmaConfig,
    GemmaForCausalLM,
    SiglipVisionConfig,
)

transformers.logging.set_verbosity_error()

INPUT_IDS = [2, 17, 42, 99, 3, 250, 128, 7, 64, 200, 31, 5]
SMALL = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_attention_heads=4, head_dim=32,
             max_position_embeddings=64, rms_norm_eps=1e-6)


def gemma3_text(**extra):
    return Gemma3TextConfig(
        **SMALL, num_hidden_layers=3, num_key_value_heads=2, query_pre_attn_scalar=24, sliding_window=4,
        sliding_window_pattern=2,
        rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 50.0}}, **extra)


CASES = [
    ("gemma-f32", GemmaForCausalLM, lambda: GemmaConfig(
        **SMALL, num_hidden_layers=2, num_key_value_heads=1, rope_parameters={"rope_type": "default", "rope_theta": 500.0}),
     torch.float32),
    ("gemma2-f32", Gemma2ForCausalLM, lambda: Gemma2Config(
        **SMALL, num_hidden_layers=3, num_key_value_heads=2, query_pre_attn_scalar=48, sliding_window=4,
        attn_logit_softcapping=2.0, final_logit_softcapping=3.0,
        rope_parameters={"rope_type": "default", "rope_theta": 100.0}), torch.float32),
    ("gemma3-text-bf16", Gemma3ForCausalLM, lambda: gemma3_text(final_logit_softcapping=4.0), torch.bfloat16),
    ("gemma3-f32", Gemma3ForConditionalGeneration, lambda: Gemma3Config(
        text_config=gemma3_text().to_dict(),
        vision_config=SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                         image_size=32, patch_size=8).to_dict(),
        mm_tokens_per_image=4), torch.float32),
]


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Matrices std 1/sqrt(fan-in), embeddings std 0.5, Gemma's (1 + w) norm weights std 0.2 around 0 (gain
    1 ± 0.2), other 1-D weights 1 ± 0.2, biases std 0.1."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            if p.dim() == 1 and name.endswith("weight"):
                value = 0.2 * noise if "norm" in name and "vision" not in name else 1 + 0.2 * noise
            elif p.dim() == 1:
                value = 0.1 * noise
            elif "embed" in name:
                value = 0.5 * noise
            else:
                value = noise / p.shape[-1] ** 0.5
            p.copy_(value)


def column_maxima(model: torch.nn.Module, ids: torch.Tensor) -> dict:
    maxima, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head"):
            def hook(_, inputs, name=name):
                x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).abs().amax(dim=0)
                maxima[name] = torch.maximum(maxima[name], x) if name in maxima else x
            hooks.append(module.register_forward_pre_hook(hook))
    with torch.no_grad():
        model(input_ids=ids)
    for h in hooks:
        h.remove()
    return {"colmax." + k: v.contiguous() for k, v in maxima.items()}


def quantized_modules(cls, folder: Path, config: BitsAndBytesConfig, kind) -> list:
    model = cls.from_pretrained(folder, quantization_config=config, device_map="cpu")
    return sorted(name for name, module in model.named_modules() if isinstance(module, kind))


def build(name, cls, make_config, dtype, out_dir: Path, seed: int) -> dict:
    torch.manual_seed(seed)
    config = make_config()
    model = cls(config).eval()
    randomize(model, seed)
    folder = out_dir / name
    shutil.rmtree(folder, ignore_errors=True)
    model.to(dtype).save_pretrained(folder)
    (folder / "generation_config.json").unlink()  # sampling defaults: nothing here reads them

    loaded = cls.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.tensor([INPUT_IDS])
    with torch.no_grad():
        out = loaded(input_ids=ids, labels=ids)
    tensors = {"logits": out.logits[0].contiguous(), **column_maxima(loaded, ids)}
    save_file(tensors, str(folder / "expected.safetensors"))
    int8 = quantized_modules(cls, folder, BitsAndBytesConfig(load_in_8bit=True), bnb.nn.Linear8bitLt)
    nf4 = quantized_modules(cls, folder, BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                            bnb_4bit_use_double_quant=True), bnb.nn.Linear4bit)
    return {"class": cls.__name__, "model_type": config.model_type, "dtype": str(dtype).removeprefix("torch."),
            "seed": seed, "mean_nll": float(out.loss), "max_abs_logit": float(out.logits.abs().max()),
            "observed_linears": sorted(k.removeprefix("colmax.") for k in tensors if k.startswith("colmax.")),
            "linear8bitlt_modules": int8, "linear4bit_modules": nf4}


# Hand-written config.json contents (old key spellings, keys left out) and what transformers makes of them.
CONFIGS = [
    {"model_type": "gemma", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1,
     "intermediate_size": 128, "vocab_size": 256},
    {"model_type": "gemma2", "hidden_size": 64, "num_hidden_layers": 5, "num_attention_heads": 4, "intermediate_size": 128,
     "vocab_size": 256, "rope_theta": 500.0},
    {"model_type": "gemma3_text", "hidden_size": 64, "num_hidden_layers": 7, "num_attention_heads": 4, "num_key_value_heads": 2,
     "intermediate_size": 128, "vocab_size": 256, "rope_theta": 1000.0, "rope_local_base_freq": 50.0,
     "rope_scaling": {"rope_type": "linear", "factor": 8.0}, "sliding_window_pattern": 3, "query_pre_attn_scalar": 24},
]


def resolved(raw: dict) -> dict:
    from transformers import CONFIG_MAPPING
    config = CONFIG_MAPPING[raw["model_type"]](**{k: v for k, v in raw.items() if k != "model_type"})
    rope = config.rope_parameters
    per_type = {t: rope[t] for t in ("full_attention", "sliding_attention")} if "full_attention" in rope else {"all": rope}
    return {"raw": raw, "head_dim": config.head_dim, "num_key_value_heads": config.num_key_value_heads,
            "layer_types": getattr(config, "layer_types", None), "sliding_window": getattr(config, "sliding_window", None),
            "query_pre_attn_scalar": getattr(config, "query_pre_attn_scalar", None),
            "attn_logit_softcapping": getattr(config, "attn_logit_softcapping", None),
            "final_logit_softcapping": getattr(config, "final_logit_softcapping", None),
            "tie_word_embeddings": config.tie_word_embeddings, "rope": per_type}


def main() -> None:
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(repo / "Tests/Fixtures/gemma"))
    args = ap.parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    manifest = {"versions": VERSIONS, "input_ids": INPUT_IDS, "cases": {}}
    for index, (name, cls, make_config, dtype) in enumerate(CASES):
        manifest["cases"][name] = build(name, cls, make_config, dtype, out_dir, 2000 + index)
        print(name, manifest["cases"][name]["mean_nll"], flush=True)
    manifest["configs"] = [resolved(raw) for raw in CONFIGS]
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    print(f"wrote {out_dir} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
