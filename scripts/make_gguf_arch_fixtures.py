#!/usr/bin/env python3
"""A tiny phi3 and a tiny falcon as GGUF files, for GGUFArchitectureTests (issue 15)
(Tests/Fixtures/gguf/tiny-phi3/, Tests/Fixtures/gguf/tiny-falcon/).

    ~/refenv/bin/python scripts/make_gguf_arch_fixtures.py [--out-dir Tests/Fixtures/gguf]

Like make_gguf_qwen_fixtures.py (same expected.json, expected.safetensors and tokenizer.json), for the two of
issue 15's families transformers 5.24 loads from GGUF:
1. phi3: a seeded Phi3ForCausalLM (2 layers, hidden 32, 4 query and 2 key/value heads, untied head) written as
   convert_hf_to_gguf.py's Phi3MiniModel writes it: phi3.* metadata (rope.dimension_count, sliding_window 0 when
   the config has none), the fused attn_qkv and ffn_up (gate_up_proj) as they are, and a SentencePiece ("llama")
   tokenizer — the pieces of Tests/Fixtures/tokenizers/llama2.tokenizer.json, scores from its merge ranks, and
   Phi-3's chat tokens as control tokens. transformers builds that tokenizer with phi3_tokenizer (a Prepend +
   Replace normalizer instead of Metaspace).
2. falcon: a seeded FalconForCausalLM in the layout transformers can load from GGUF (FalconConfig's defaults:
   multi-query, parallel attention with one LayerNorm, no biases, tied head; transformers reads neither
   new_decoder_architecture nor the norm epsilon from the file), written as FalconModel writes it: falcon.*
   metadata with layer_norm_epsilon and the "jploski" layout (q heads, then k, then v: the same bytes for one
   key/value head), blk.N.attn_norm with its bias; a byte-level ("gpt2") tokenizer with pre "falcon", which
   transformers' table does not name (GPT-2's ByteLevel split is kept).
Tensors are partly quantized (Q8_0, Q4_0, Q5_1, F16); the source model holds exactly the file's values, so
converting the file back must reproduce transformers' state dict bit for bit.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions, quiet_reference_libraries  # noqa: E402  (scripts/refenv.py)
from make_gguf_llama_fixture import stored_and_held  # noqa: E402
from make_gguf_qwen_fixtures import TEXTS, float32_list, vocabulary  # noqa: E402
from make_gguf_sentencepiece_fixture import score_table  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LOGITS_TEXT = "The thin hen's 12 inn!"
ARCH_TEXTS = TEXTS + [" leading space", "   three leading spaces", "<|user|>\nhi<|end|>\n<|assistant|>"]

PHI3_NAMES = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
PHI3_BLOCK = {"self_attn.qkv_proj": "attn_qkv", "self_attn.o_proj": "attn_output", "mlp.gate_up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
FALCON_NAMES = {"transformer.word_embeddings": "token_embd", "transformer.ln_f": "output_norm", "lm_head": "output"}
FALCON_BLOCK = {"self_attention.query_key_value": "attn_qkv", "self_attention.dense": "attn_output",
                "mlp.dense_h_to_4h": "ffn_up", "mlp.dense_4h_to_h": "ffn_down", "input_layernorm": "attn_norm"}


def phi3_vocabulary():
    source = json.loads((REPO / "Tests/Fixtures/tokenizers/llama2.tokenizer.json").read_text())
    vocab = source["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get) + ["<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>"]
    merged = score_table(source)
    scores = [merged.get(token, 0.0) for token in tokens]
    control = {"<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>"}
    types = [3 if t in control else 6 if t.startswith("<0x") and len(t) == 6 else 1 for t in tokens]
    return tokens, scores, types


def build_phi3(torch):
    from transformers import Phi3Config, Phi3ForCausalLM
    tokens, scores, types = phi3_vocabulary()
    config = Phi3Config(vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                        original_max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
                        bos_token_id=1, eos_token_id=tokens.index("<|endoftext|>"), pad_token_id=tokens.index("<|endoftext|>"),
                        tie_word_embeddings=False)
    model = Phi3ForCausalLM(config)

    def metadata(writer):
        import gguf
        writer.add_context_length(128)
        writer.add_rope_scaling_orig_ctx_len(128)
        writer.add_embedding_length(32)
        writer.add_feed_forward_length(64)
        writer.add_block_count(2)
        writer.add_head_count(4)
        writer.add_head_count_kv(2)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_rope_dimension_count(8)
        writer.add_rope_freq_base(10000.0)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
        writer.add_sliding_window(0)
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_unk_token_id(0)
        writer.add_bos_token_id(1)
        writer.add_eos_token_id(tokens.index("<|endoftext|>"))
        writer.add_pad_token_id(tokens.index("<|endoftext|>"))
        writer.add_add_bos_token(False)
        writer.add_add_eos_token(False)

    kinds = {"token_embd": "Q8_0", "blk.0.attn_qkv": "Q4_0", "blk.0.ffn_up": "Q5_1", "blk.1.ffn_down": "Q8_0",
             "blk.1.attn_output": "F16", "output": "F16"}
    return model, metadata, kinds, PHI3_NAMES, PHI3_BLOCK, lambda name, w: w


def build_falcon(torch):
    from transformers import FalconConfig, FalconForCausalLM
    tokens, types, merges = vocabulary()
    tokens, types = tokens[:-1], types[:-1]  # no [PAD] filler
    eot = tokens.index("<|endoftext|>")
    heads, kv_heads, hidden = 4, 1, 32
    config = FalconConfig(vocab_size=len(tokens), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=heads,
                          max_position_embeddings=2048, bos_token_id=eot, eos_token_id=eot)
    model = FalconForCausalLM(config)

    def metadata(writer):
        import gguf
        writer.add_context_length(2048)
        writer.add_tensor_data_layout("jploski")
        writer.add_embedding_length(hidden)
        writer.add_feed_forward_length(4 * hidden)
        writer.add_block_count(2)
        writer.add_head_count(heads)
        writer.add_head_count_kv(kv_heads)
        writer.add_layer_norm_eps(1e-5)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("falcon")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges([" ".join(m) for m in merges])
        writer.add_bos_token_id(eot)
        writer.add_eos_token_id(eot)
        writer.add_add_bos_token(False)

    def jploski(name, w):
        """convert_hf_to_gguf's FalconModel: per kv group [q heads, k, v] → all q, all k, all v."""
        if "query_key_value" not in name:
            return w
        head_dim = hidden // heads
        qkv = w.reshape(kv_heads, heads // kv_heads + 2, head_dim, w.shape[1])
        q = qkv[:, :-2].reshape(heads * head_dim, w.shape[1])
        k = qkv[:, -2:-1].reshape(kv_heads * head_dim, w.shape[1])
        v = qkv[:, -1:].reshape(kv_heads * head_dim, w.shape[1])
        import numpy as np
        return np.concatenate([q, k, v]).reshape(w.shape)

    kinds = {"token_embd": "Q8_0", "blk.0.attn_qkv": "Q4_0", "blk.0.ffn_up": "Q5_1", "blk.1.ffn_down": "Q8_0",
             "blk.1.attn_output": "F16"}
    return model, metadata, kinds, FALCON_NAMES, FALCON_BLOCK, jploski


def make(arch: str, out: Path, versions: dict) -> None:
    import numpy as np
    import torch
    import gguf
    from gguf import GGMLQuantizationType as T
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(20261501 if arch == "phi3" else 20261502)
    model, metadata, kind_names, top, block, layout = (build_phi3 if arch == "phi3" else build_falcon)(torch)
    model = model.float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
            elif name.endswith(".bias"):
                p.normal_(0, 0.5)
            else:
                p.uniform_(0.5, 1.5)

    kinds = {k: T[v] for k, v in kind_names.items()}
    path = out / f"tiny-{arch}.gguf"
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(f"Tiny {arch}")
    metadata(writer)
    tied = model.config.tie_word_embeddings
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tied and name == "lm_head.weight":
                continue
            stem, suffix = name.rsplit(".", 1)
            parts = stem.split(".")
            gname = top.get(stem) or f"blk.{parts[2]}.{block['.'.join(parts[3:])]}"
            w = tensor.numpy().astype(np.float32)
            kind = kinds.get(gname, T.F32) if suffix == "weight" and w.ndim == 2 else T.F32
            # The file holds the transformed layout; the source model keeps what transformers reads back,
            # which is the file's bytes as they are (transformers undoes no layout for these).
            stored, held = stored_and_held(layout(name, w), kind)
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
    state = {k: v.contiguous() for k, v in converted.items() if not (tied and k == "lm_head.weight")}
    save_file(state, str(out / "expected.safetensors"))

    tokenizer = AutoTokenizer.from_pretrained(str(out), gguf_file=path.name)
    (out / "tokenizer.json").write_text(tokenizer.backend_tokenizer.to_str() + "\n")
    cases = [{"text": text, "ids": tokenizer(text)["input_ids"],
              "ids_without_special_tokens": tokenizer(text, add_special_tokens=False)["input_ids"]} for text in ARCH_TEXTS]
    ids = tokenizer(LOGITS_TEXT)["input_ids"]
    with torch.no_grad():
        logits = loaded(torch.tensor([ids])).logits[0]
        reference = model(torch.tensor([ids])).logits[0]
    assert torch.equal(logits, reference), f"{arch}: the GGUF-loaded model's logits differ from the source's"
    # As make_gguf_qwen_fixtures.py: the config transformers writes for the model it loaded, minus what
    # describes the loading (the GGUF's name, a quantization_config).
    loaded.config.architectures = [type(loaded).__name__]
    with tempfile.TemporaryDirectory() as folder:
        loaded.config.save_pretrained(folder)
        config = json.loads((Path(folder) / "config.json").read_text())
    for key in ("_model_name_or_path", "_name_or_path", "quantization_config"):
        config.pop(key, None)
    expected = {"text": LOGITS_TEXT, "ids": ids, "logits": float32_list(logits.flatten().tolist()), "config": config,
                "cases": cases, "types": kind_names,
                "versions": {k: versions[k] for k in ("transformers", "gguf", "torch", "tokenizers") if k in versions}}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}: {len(ids)} ids, {path.stat().st_size} bytes of GGUF")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(REPO / "Tests/Fixtures/gguf"))
    args = parser.parse_args()
    versions = check_reference_versions()
    quiet_reference_libraries()
    for arch in ("phi3", "falcon"):
        make(arch, Path(args.out_dir) / f"tiny-{arch}", versions)


if __name__ == "__main__":
    main()
