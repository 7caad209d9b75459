#!/usr/bin/env python3
"""Golden fixtures for the phi3, gpt_neox, opt and falcon forward passes (issue 15), made by transformers itself.

    ~/refenv/bin/python scripts/make_arch_fixtures.py [--out-dir Tests/Fixtures/archs]

Like make_runtime_fixtures.py (whose seeded randomization and input ids it reuses): every case is a tiny random
model built by transformers from a small config, written with save_pretrained into <out-dir>/<name>/, then
loaded back with from_pretrained(dtype=float32) and run on INPUT_IDS on the CPU in float32. Some cases then
rewrite config.json into the older spelling real checkpoints on the Hub use (Pythia's rotary_pct and
rotary_emb_base, Phi-3's rope_scaling {"type": "longrope"} with a top-level partial_rotary_factor) BEFORE it is
loaded back, so the expected outputs are what transformers makes of that spelling. Stored per case:

    <name>/expected.safetensors   "logits" [tokens, vocab] F32 for all INPUT_IDS;
                                  "logits.prefix" for the first PREFIX tokens alone (phi3: inside LongRoPE's
                                  original length, so the short factors apply, where the whole input uses the
                                  long ones);
                                  "column_max.<module>" [in_features] F32: max |x| per input column of every
                                  nn.Linear (forward pre-hooks, all INPUT_IDS), the head included
    manifest.json                 versions, input ids, per case: class, model_type, dtype, seed, mean NLL
                                  (transformers' loss with labels=input_ids), the smallest top-1/top-2 logit gap,
                                  and the modules transformers + bitsandbytes convert when the folder is loaded with
                                  BitsAndBytesConfig(load_in_8bit=True) and (load_in_4bit=True), device_map="cpu"
                                  (names of the Linear8bitLt / Linear4bit modules, sorted)

Attention: eager, except for Falcon-RW's alibi case, whose expected outputs and hooks come from sdpa — the
attention transformers picks for Falcon by default (and for its quantized loads): its eager alibi path adds
the bias twice (in the scores and again in the mask built from it), sdpa once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_runtime_fixtures import INPUT_IDS, randomize, top_gap  # noqa: E402  (checks the pinned versions)
from make_minilm_expected import VERSIONS  # noqa: E402

import bitsandbytes as bnb  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    BitsAndBytesConfig,
    FalconConfig,
    FalconForCausalLM,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    OPTConfig,
    OPTForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
)

transformers.logging.set_verbosity_error()

PREFIX = 6
SMALL = dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=4)


def legacy_pythia(config: dict) -> dict:
    """Pythia's config.json on the Hub: rotary_pct and rotary_emb_base, no rope_parameters."""
    rope = config.pop("rope_parameters")
    config["rotary_pct"] = rope["partial_rotary_factor"]
    config["rotary_emb_base"] = rope["rope_theta"]
    return config


def legacy_phi3(config: dict) -> dict:
    """Phi-3.5 / Phi-4-mini's config.json: rope_scaling {"type": "longrope", …}, top-level rope_theta and
    partial_rotary_factor."""
    rope = config.pop("rope_parameters")
    config["rope_theta"] = rope["rope_theta"]
    config["partial_rotary_factor"] = rope["partial_rotary_factor"]
    config["rope_scaling"] = {"type": "longrope", "short_factor": rope["short_factor"], "long_factor": rope["long_factor"]}
    return config


CASES = [
    # name, class, config, dtype written, config.json rewrite
    # grouped KV and Phi-3-mini's sliding window (here 5 keys, shorter than the input)
    ("phi3-f32", Phi3ForCausalLM, lambda: Phi3Config(
        **SMALL, intermediate_size=96, num_key_value_heads=2, max_position_embeddings=64,
        original_max_position_embeddings=64, sliding_window=5, pad_token_id=0, bos_token_id=1, eos_token_id=2),
        torch.float32, None),
    # LongRoPE with original length 8: the 12 input ids use the long factors, the 6-token prefix the short ones;
    # attention factor sqrt(1 + ln(64/8) / ln 8); rotary on half of each head.
    ("phi3-longrope-f32", Phi3ForCausalLM, lambda: Phi3Config(
        **SMALL, intermediate_size=96, num_key_value_heads=4, max_position_embeddings=64,
        original_max_position_embeddings=8, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.5,
                         "short_factor": [1.0, 1.25, 1.5, 2.0], "long_factor": [1.0, 3.0, 9.0, 27.0]}),
        torch.float32, legacy_phi3),
    ("gpt_neox-f32", GPTNeoXForCausalLM, lambda: GPTNeoXConfig(
        **SMALL, intermediate_size=128, max_position_embeddings=32,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25}),
        torch.float32, None),
    # sequential residual, half rotary, the legacy Pythia keys, F16 weights
    ("gpt_neox-sequential-f16", GPTNeoXForCausalLM, lambda: GPTNeoXConfig(
        **SMALL, intermediate_size=96, max_position_embeddings=32, use_parallel_residual=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000.0, "partial_rotary_factor": 0.5}),
        torch.float16, legacy_pythia),
    ("opt-f32", OPTForCausalLM, lambda: OPTConfig(
        **SMALL, ffn_dim=128, max_position_embeddings=32), torch.float32, None),
    # OPT-350m's layout: post-LayerNorm blocks, no final norm, project_in/project_out around a narrower embedding
    ("opt-post-ln-f32", OPTForCausalLM, lambda: OPTConfig(
        **SMALL, ffn_dim=96, max_position_embeddings=32, do_layer_norm_before=False, word_embed_proj_dim=32),
        torch.float32, None),
    # Falcon-40B/180B layout: new decoder architecture, grouped KV, two LayerNorms in parallel
    ("falcon-new-f32", FalconForCausalLM, lambda: FalconConfig(
        **SMALL, num_kv_heads=2, new_decoder_architecture=True, parallel_attn=True, bias=False,
        max_position_embeddings=32), torch.float32, None),
    # Falcon-7B layout: multi-query, parallel attention with one LayerNorm, BF16
    ("falcon-mq-bf16", FalconForCausalLM, lambda: FalconConfig(
        **SMALL, multi_query=True, parallel_attn=True, bias=False, max_position_embeddings=32,
        rope_parameters={"rope_type": "default", "rope_theta": 500.0}), torch.bfloat16, None),
    # the old sequential layout: full multi-head attention (per-head q/k/v interleaved), biases, untied head
    ("falcon-sequential-f32", FalconForCausalLM, lambda: FalconConfig(
        **SMALL, multi_query=False, parallel_attn=False, bias=True, tie_word_embeddings=False,
        max_position_embeddings=32, ffn_hidden_size=96), torch.float32, None),
    # Falcon-RW: alibi (6 heads: 4 slopes from the power of two below, 2 from the next), per-head q/k/v, biases
    ("falcon-alibi-f32", FalconForCausalLM, lambda: FalconConfig(
        vocab_size=256, hidden_size=48, num_hidden_layers=2, num_attention_heads=6, alibi=True, multi_query=False,
        parallel_attn=False, bias=True, max_position_embeddings=32), torch.float32, None),
]
ATTENTION = {"falcon-alibi-f32": "sdpa"}


def column_maxima(model: torch.nn.Module, ids: torch.Tensor) -> dict:
    maxima, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            def hook(_module, args, name=name):
                x = args[0].detach().reshape(-1, args[0].shape[-1]).abs().amax(dim=0)
                maxima[name] = torch.maximum(maxima[name], x) if name in maxima else x
            hooks.append(module.register_forward_pre_hook(hook))
    with torch.no_grad():
        model(input_ids=ids)
    for h in hooks:
        h.remove()
    return {f"column_max.{k}": v.float().contiguous() for k, v in maxima.items()}


def converted_modules(folder: Path) -> dict:
    """The modules bitsandbytes replaces when transformers loads the folder quantized."""
    result = {}
    for key, args, cls in (("int8", dict(load_in_8bit=True), bnb.nn.Linear8bitLt),
                           ("nf4", dict(load_in_4bit=True, bnb_4bit_quant_type="nf4"), bnb.nn.Linear4bit)):
        model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=BitsAndBytesConfig(**args),
                                                     device_map="cpu")
        result[key] = sorted(n for n, m in model.named_modules() if isinstance(m, cls))
    return result


def build(name, cls, make_config, dtype, rewrite, out_dir: Path, seed: int) -> dict:
    torch.manual_seed(seed)
    attention = ATTENTION.get(name, "eager")
    config = make_config()
    config._attn_implementation = attention
    model = cls(config).eval()
    randomize(model, seed)
    folder = out_dir / name
    shutil.rmtree(folder, ignore_errors=True)
    model.to(dtype).save_pretrained(folder)
    if rewrite:
        path = folder / "config.json"
        path.write_text(json.dumps(rewrite(json.loads(path.read_text())), indent=2, sort_keys=True) + "\n")

    loaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation=attention).eval()
    ids = torch.tensor([INPUT_IDS])
    entry = {"class": cls.__name__, "model_type": config.model_type, "dtype": str(dtype).removeprefix("torch."),
             "seed": seed, "files": sorted(p.name for p in folder.iterdir()), "rewritten_config": rewrite is not None,
             "attention": attention}
    with torch.no_grad():
        out = loaded(input_ids=ids, labels=ids)
        logits = out.logits[0].contiguous()
        prefix = loaded(input_ids=ids[:, :PREFIX]).logits[0].contiguous()
        other = AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch.float32, attn_implementation="sdpa" if attention == "eager" else "eager").eval()
        entry["eager_vs_sdpa_max_abs"] = float((other(input_ids=ids).logits[0] - logits).abs().max())
    entry["mean_nll"] = float(out.loss)
    entry["min_top2_gap"] = top_gap(logits)
    entry["max_abs_output"] = float(logits.abs().max())
    tensors = {"logits": logits, "logits.prefix": prefix, **column_maxima(loaded, ids)}
    save_file(tensors, str(folder / "expected.safetensors"))
    entry["converted"] = converted_modules(folder)
    return entry


def main() -> None:
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(repo / "Tests/Fixtures/archs"))
    args = ap.parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    manifest = {"versions": VERSIONS, "input_ids": INPUT_IDS, "prefix": PREFIX, "cases": {}}
    for index, (name, cls, make_config, dtype, rewrite) in enumerate(CASES):
        manifest["cases"][name] = build(name, cls, make_config, dtype, rewrite, out_dir, 1500 + index)
        print(name, json.dumps({k: v for k, v in manifest["cases"][name].items() if k != "converted"}), flush=True)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    print(f"wrote {out_dir} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
