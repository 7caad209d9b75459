#!/usr/bin/env python3
"""A tiny llama as a GGUF file, for GGUFConversionTests (Tests/Fixtures/gguf/tiny-llama/).

    ~/refenv/bin/python scripts/make_gguf_llama_fixture.py [--out-dir Tests/Fixtures/gguf/tiny-llama]

1. A seeded LlamaForCausalLM (2 layers, hidden 64, 4 heads, 2 key/value heads, untied head) in float32.
2. Written as llama.cpp's convert_hf_to_gguf.py writes a llama: llama.* metadata, blk.N.* names, q_proj
   and k_proj rows permuted (LlamaModel.permute), a byte-level BPE tokenizer ("gpt2": tokens,
   token_type, merges; two control tokens). Some tensors are quantized with gguf.quants.quantize
   (Q8_0, Q4_0, Q4_1, Q5_0), some F16, the rest F32; the source model's weights are then set to exactly
   what the file holds (gguf.quants.dequantize, permutation undone), so converting the file back must
   reproduce them bit for bit.
3. tiny-llama.gguf, expected.safetensors (the source state dict, lm_head included, float32) and
   expected.json: the config transformers writes for the source model, the ids transformers' own GGUF
   tokenizer (AutoTokenizer.from_pretrained(..., gguf_file=...)) gives a short text, and the source
   model's float32 logits for those ids.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions  # noqa: E402  (scripts/refenv.py)

TEXT = "the thin hen in the inn, then the end. 12 + 3!"


def permute(w, n_head: int):
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head: int):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def stored_and_held(w, kind):
    """w (float32) as a GGUF tensor of type `kind`, and the float32 values the file then holds (what
    converting it back must reproduce): gguf.quants' own quantizer and dequantizer for block types."""
    import gguf
    import numpy as np

    if kind == gguf.GGMLQuantizationType.F32:
        return w, w
    if kind == gguf.GGMLQuantizationType.F16:
        stored = w.astype(np.float16)
        return stored, stored.astype(np.float32)
    stored = gguf.quants.quantize(w, kind)
    return stored, gguf.quants.dequantize(stored, kind).reshape(w.shape).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent.parent / "Tests/Fixtures/gguf/tiny-llama"))
    args = parser.parse_args()
    versions = check_reference_versions()

    import numpy as np
    import torch
    import gguf
    from gguf import GGMLQuantizationType as T
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from transformers.convert_slow_tokenizer import bytes_to_unicode  # GPT-2's byte alphabet

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(20251129)

    byte_tokens = list(bytes_to_unicode().values())
    merges = [("t", "h"), ("Ġ", "t"), ("Ġt", "h"), ("h", "e"), ("i", "n"), ("Ġth", "e"), ("e", "n"), ("Ġ", "i")]
    tokens = byte_tokens + ["".join(m) for m in merges] + ["<s>", "</s>"]
    types = [1] * (len(tokens) - 2) + [3, 3]
    bos, eos = len(tokens) - 2, len(tokens) - 1

    config = LlamaConfig(vocab_size=len(tokens), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
                         rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=bos, eos_token_id=eos)
    model = LlamaForCausalLM(config).float().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3) if p.dim() == 2 else p.uniform_(0.5, 1.5)

    gguf_names = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
    block = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    kinds = {"token_embd": T.Q8_0, "blk.0.attn_q": T.Q4_0, "blk.0.attn_k": T.Q4_1, "blk.1.ffn_down": T.Q5_0,
             "blk.1.attn_q": T.F16, "output": T.F16}

    path = out / "tiny-llama.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_context_length(128)
    writer.add_embedding_length(64)
    writer.add_feed_forward_length(96)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_rope_dimension_count(16)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([" ".join(m) for m in merges])
    writer.add_bos_token_id(bos)
    writer.add_eos_token_id(eos)
    writer.add_add_bos_token(False)

    state = model.state_dict()
    with torch.no_grad():
        for name, tensor in state.items():
            stem = name.removesuffix(".weight")
            parts = stem.split(".")
            gname = gguf_names.get(stem) or f"blk.{parts[2]}.{block['.'.join(parts[3:])]}"
            heads = 4 if gname.endswith("attn_q") else 2 if gname.endswith("attn_k") else None
            w = tensor.numpy().astype(np.float32)
            if heads:
                w = permute(w, heads)
            kind = kinds.get(gname, T.F32)
            stored, held = stored_and_held(w, kind)
            writer.add_tensor(gname + ".weight", stored, raw_dtype=kind if kind not in (T.F32, T.F16) else None)
            tensor.copy_(torch.from_numpy(unpermute(held, heads) if heads else held))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "expected.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(str(out), gguf_file=path.name)
    ids = tokenizer(TEXT)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    with tempfile.TemporaryDirectory() as folder:
        model.config.save_pretrained(folder)
        saved = json.loads((Path(folder) / "config.json").read_text())
    expected = {"text": TEXT, "ids": ids, "logits": logits.flatten().tolist(), "config": saved,
                "types": {k: v.name for k, v in kinds.items()},
                "versions": {k: versions[k] for k in ("transformers", "gguf", "torch", "tokenizers") if k in versions}}
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {out}: {len(ids)} ids, {path.stat().st_size} bytes of GGUF")


if __name__ == "__main__":
    main()
