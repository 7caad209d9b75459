#!/usr/bin/env python3
"""A tiny qwen2 and a tiny qwen3 as GGUF files, for GGUFArchitectureTests
(Tests/Fixtures/gguf/tiny-qwen2/, Tests/Fixtures/gguf/tiny-qwen3/).

    ~/refenv/bin/python scripts/make_gguf_qwen_fixtures.py [--out-dir Tests/Fixtures/gguf]

For each architecture:
1. A seeded Qwen2ForCausalLM / Qwen3ForCausalLM in float32: 2 layers, hidden 32, 4 query heads and 2
   key/value heads (qwen2, head_dim 8, q/k/v biases, untied head) or 2 and 1 (qwen3, head_dim 128 because
   transformers 5.24's GGUF loader ignores qwen3.attention.key_length and keeps Qwen3Config's default,
   q_norm/k_norm, tied head).
2. Written as llama.cpp's convert_hf_to_gguf.py writes these architectures (Qwen2Model, Qwen3Model): <arch>.*
   metadata (qwen3 adds key_length/value_length), blk.N.* names, no Q/K row permutation (only LlamaModel
   permutes), 1-D tensors F32; a byte-level BPE tokenizer ("gpt2", pre "qwen2": tokens, token_type, merges,
   control tokens <|endoftext|> <|im_start|> <|im_end|>, user-defined <think>, one unused [PAD] token,
   add_bos_token false). Some tensors are quantized with gguf.quants.quantize (Q8_0, Q4_0, Q5_1, Q4_K,
   Q6_K), some F16; the source model's weights are then set to exactly what the file holds
   (gguf.quants.dequantize), so converting the file back must reproduce them bit for bit.
3. <arch>.gguf; expected.safetensors: the state dict transformers' own GGUF loading gives
   (AutoModelForCausalLM.from_pretrained(folder, gguf_file=...), checked equal to the source's);
   tokenizer.json: the tokenizer transformers builds from the file (AutoTokenizer, gguf_file=...);
   expected.json: that model's config, that tokenizer's ids for TEXTS (with and without special tokens;
   at least 4 of them must tokenize differently with GPT-2's ByteLevel regex, or the texts prove nothing),
   and the float32 logits of the GGUF-loaded model for LOGITS_TEXT.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions, quiet_reference_libraries  # noqa: E402  (scripts/refenv.py)
from make_gguf_llama_fixture import stored_and_held  # noqa: E402

LOGITS_TEXT = "The thin hen's 12 inn!"

# Texts that tell Qwen2's split regex from GPT-2's: digits one by one, case-insensitive contractions, a
# letter run keeps one leading non-letter, punctuation runs keep their trailing newlines.
TEXTS = [
    "The thin hen's 123 inn, THEN the end!",
    "",
    "digits 0123456789 and 3.14159",
    "SHE'S here, they'RE not; it'll do",
    "line one\nline two\n\n\tindented  twice   ",
    "<|im_start|>user\nhello<think>why</think><|im_end|>",
    "accents: café naïve, CJK: 中文, emoji: 🦙",
    "(a)+[b]...\n\n{c}",
    "  leading and trailing  ",
]

ARCHITECTURES = {
    "qwen2": dict(hidden=32, intermediate=64, heads=4, kv_heads=2, head_dim=8, tied=False,
                  kinds={"token_embd": "Q8_0", "blk.0.attn_q": "Q4_0", "blk.0.attn_k": "Q5_1",
                         "blk.1.ffn_down": "Q8_0", "blk.1.attn_v": "F16", "output": "F16"}),
    "qwen3": dict(hidden=32, intermediate=64, heads=2, kv_heads=1, head_dim=128, tied=True,
                  kinds={"token_embd": "Q8_0", "blk.0.attn_q": "Q4_0", "blk.0.attn_output": "Q4_1",
                         "blk.1.attn_output": "Q5_0", "blk.1.ffn_up": "F16"}),
}

TOP_NAMES = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
BLOCK_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
               "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
               "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
               "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}


def vocabulary():
    """Bytes, a few merges, then the specials as Qwen's vocabulary orders them; type 1 normal,
    3 control, 4 user-defined, 5 unused (llama.cpp's [PAD<id>] filler up to the model's vocab_size)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode  # GPT-2's byte alphabet
    merges = [("t", "h"), ("Ġ", "t"), ("Ġt", "h"), ("h", "e"), ("i", "n"), ("Ġth", "e"), ("e", "n"), ("Ġ", "i"),
              ("Ġ", "h"), ("Ġh", "en"), ("'", "s"), ("Ġ", "inn"), ("in", "n"), ("T", "h"), ("n", "d"), ("Ġ", "e"), ("Ġe", "nd"),
              ("1", "2"), ("'", "S"), (".", "Ċ"), ("Ġ", "(")]
    tokens = list(bytes_to_unicode().values()) + ["".join(m) for m in merges]
    tokens = list(dict.fromkeys(tokens))
    types = [1] * len(tokens)
    for token, kind in [("<|endoftext|>", 3), ("<|im_start|>", 3), ("<|im_end|>", 3), ("<think>", 4), ("</think>", 4)]:
        tokens.append(token)
        types.append(kind)
    tokens.append(f"[PAD{len(tokens)}]")
    types.append(5)
    return tokens, types, merges


def float32_list(values) -> list:
    """Shortest decimal that reads back as the same float32 (half the digits of Python's float repr)."""
    import numpy as np

    return [float(np.format_float_positional(np.float32(v), unique=True, trim="-")) for v in values]


def make(arch: str, spec: dict, out: Path, versions: dict) -> None:
    import numpy as np
    import torch
    import gguf
    from gguf import GGMLQuantizationType as T
    from safetensors.torch import save_file
    from tokenizers import pre_tokenizers
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(20260301 if arch == "qwen2" else 20260302)
    tokens, types, merges = vocabulary()
    endoftext, im_end = tokens.index("<|endoftext|>"), tokens.index("<|im_end|>")

    common = dict(vocab_size=len(tokens), hidden_size=spec["hidden"], intermediate_size=spec["intermediate"],
                  num_hidden_layers=2, num_attention_heads=spec["heads"], num_key_value_heads=spec["kv_heads"],
                  max_position_embeddings=256, rms_norm_eps=1e-6, rope_theta=1000000.0,
                  tie_word_embeddings=spec["tied"], bos_token_id=endoftext, eos_token_id=im_end, pad_token_id=endoftext)
    if arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    else:
        model = Qwen3ForCausalLM(Qwen3Config(head_dim=spec["head_dim"], **common))
    model = model.float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
            elif name.endswith(".bias"):
                p.normal_(0, 0.5)
            else:
                p.uniform_(0.5, 1.5)

    kinds = {k: T[v] for k, v in spec["kinds"].items()}
    path = out / f"tiny-{arch}.gguf"
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(f"Tiny {arch}")
    writer.add_block_count(2)
    writer.add_context_length(256)
    writer.add_embedding_length(spec["hidden"])
    writer.add_feed_forward_length(spec["intermediate"])
    writer.add_head_count(spec["heads"])
    writer.add_head_count_kv(spec["kv_heads"])
    writer.add_rope_freq_base(1000000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    if arch == "qwen3":
        writer.add_key_length(spec["head_dim"])
        writer.add_value_length(spec["head_dim"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([" ".join(m) for m in merges])
    writer.add_eos_token_id(im_end)
    writer.add_pad_token_id(endoftext)
    writer.add_bos_token_id(endoftext)
    writer.add_add_bos_token(False)

    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if spec["tied"] and name == "lm_head.weight":
                continue
            stem, suffix = name.rsplit(".", 1)
            parts = stem.split(".")
            gname = TOP_NAMES.get(stem) or f"blk.{parts[2]}.{BLOCK_NAMES['.'.join(parts[3:])]}"
            w = tensor.numpy().astype(np.float32)
            kind = kinds.get(gname, T.F32) if suffix == "weight" and w.ndim == 2 else T.F32
            stored, held = stored_and_held(w, kind)
            writer.add_tensor(f"{gname}.{suffix}", stored, raw_dtype=kind if kind not in (T.F32, T.F16) else None)
            tensor.copy_(torch.from_numpy(held))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    loaded = AutoModelForCausalLM.from_pretrained(str(out), gguf_file=path.name, dtype=torch.float32).eval()
    source, converted = model.state_dict(), loaded.state_dict()
    assert source.keys() == converted.keys(), sorted(set(source) ^ set(converted))
    for name in source:
        assert torch.equal(source[name], converted[name]), f"{arch}: transformers' GGUF loading changed {name}"
    state = {k: v.contiguous() for k, v in converted.items() if not (spec["tied"] and k == "lm_head.weight")}
    save_file(state, str(out / "expected.safetensors"))

    tokenizer = AutoTokenizer.from_pretrained(str(out), gguf_file=path.name)
    (out / "tokenizer.json").write_text(tokenizer.backend_tokenizer.to_str() + "\n")
    gpt2_split = copy.deepcopy(tokenizer.backend_tokenizer)
    gpt2_split.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    told_apart = [text for text in TEXTS if gpt2_split.encode(text).ids != tokenizer(text, add_special_tokens=False)["input_ids"]]
    assert len(told_apart) >= 4, f"{arch}: only {told_apart} tell Qwen2's split regex from GPT-2's"
    cases = [{"text": text, "ids": tokenizer(text)["input_ids"],
              "ids_without_special_tokens": tokenizer(text, add_special_tokens=False)["input_ids"]} for text in TEXTS]
    ids = tokenizer(LOGITS_TEXT)["input_ids"]
    with torch.no_grad():
        logits = loaded(torch.tensor([ids])).logits[0]
        reference = model(torch.tensor([ids])).logits[0]
    assert torch.equal(logits, reference), f"{arch}: the GGUF-loaded model's logits differ from the source's"
    # The config.json transformers writes for the model it loaded from the file: model.save_pretrained
    # refuses a GGUF-loaded model, so do its config step by hand (name the class, save the config), minus
    # what describes that loading rather than the model: the GGUF's general.name and quantization_config
    # (the converted folder holds plain F32 weights; a quantization_config would say otherwise).
    loaded.config.architectures = [type(loaded).__name__]
    with tempfile.TemporaryDirectory() as folder:
        loaded.config.save_pretrained(folder)
        config = json.loads((Path(folder) / "config.json").read_text())
    for key in ("_model_name_or_path", "_name_or_path", "quantization_config"):
        config.pop(key, None)
    expected = {"text": LOGITS_TEXT, "ids": ids, "logits": float32_list(logits.flatten().tolist()), "config": config,
                "cases": cases,
                "types": spec["kinds"],
                "versions": {k: versions[k] for k in ("transformers", "gguf", "torch", "tokenizers") if k in versions}}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}: {len(ids)} ids, {path.stat().st_size} bytes of GGUF, "
          f"{len(told_apart)} of {len(TEXTS)} texts tokenize differently with GPT-2's regex")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent.parent / "Tests/Fixtures/gguf"))
    args = parser.parse_args()
    versions = check_reference_versions()
    quiet_reference_libraries()
    for arch, spec in ARCHITECTURES.items():
        make(arch, spec, Path(args.out_dir) / f"tiny-{arch}", versions)


if __name__ == "__main__":
    main()
