#!/usr/bin/env python3
"""A tiny gemma2 and a tiny gemma3 as GGUF files, and a GGUF of an architecture qtui cannot run (phi2), for
GGUFGemmaTests (Tests/Fixtures/gguf/tiny-gemma2/, tiny-gemma3/, weight-only/).

    ~/refenv/bin/python scripts/make_gguf_gemma_fixtures.py [--out-dir Tests/Fixtures/gguf]

For gemma2 and gemma3:
1. A seeded Gemma2ForCausalLM / Gemma3ForCausalLM in float32 whose config holds only what transformers
   5.24's GGUF loader reads back (integrations/ggml.py GGUF_CONFIG_MAPPING: sizes, head_dim from key_length,
   rope_theta from rope.freq_base, rms eps, sliding_window) and the class defaults for the rest
   (query_pre_attn_scalar 256, gemma2's soft caps 50/30, gemma3's layer pattern 6 and local RoPE base 1e4),
   since that is the model transformers builds from the file.
2. Written as llama.cpp's convert_hf_to_gguf.py writes Gemma2Model / Gemma3Model: <arch>.* metadata (key and
   value length, gemma2's soft caps, sliding_window), names from gguf-py's tensor map, no q/k permutation,
   the tied head left out, every `*norm.weight` stored as w + 1 (F32), and a SentencePiece vocabulary
   ("llama": pieces, scores, token types; control <start_of_turn>, user-defined <mask2>, byte tokens, runs of
   spaces stored as real spaces, scores that disagree with the file order, add_space_prefix false). Some
   matrices are quantized (Q8_0, Q4_0, Q5_1, Q4_K, Q6_K), some F16; the source model's weights are then set
   to what the file holds so converting back must reproduce them bit for bit.
3. <arch>.gguf; expected.safetensors: the state dict transformers' GGUF loading gives (norms minus 1, checked
   equal to the source's); tokenizer.json: the tokenizer transformers builds (AutoTokenizer, gguf_file=...);
   expected.json: that model's config, that tokenizer's ids for TEXTS, the logits for LOGITS_TEXT.
weight-only/phi2.gguf: a phi2 file (fused attn_qkv, Q4_0 and F16 matrices, F32 norms and biases, a 3-D
tensor) with its tensor list in expected.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions, quiet_reference_libraries  # noqa: E402
from make_gguf_llama_fixture import stored_and_held  # noqa: E402
from make_gguf_qwen_fixtures import float32_list  # noqa: E402

LOGITS_TEXT = "the thin hen in the end, then the  tent"
TEXTS = [
    "the thin hen in the end",
    "",
    "  two spaces,   three spaces",
    "<start_of_turn>user\nhi<mask2>there<end_of_turn>",
    "bytes: é 中 🦙",
    " leading space and trailing ",
    "tab\there\nnew line",
]
ARCHITECTURES = {
    "gemma2": dict(layers=2, kinds={"token_embd": "Q8_0", "blk.0.attn_q": "Q4_0", "blk.0.ffn_down": "Q5_1",
                                    "blk.1.attn_v": "F16", "blk.1.ffn_up": "Q8_0"}),
    "gemma3": dict(layers=7, kinds={"token_embd": "Q8_0", "blk.0.attn_q": "Q4_0", "blk.5.attn_output": "Q8_0",
                                    "blk.6.ffn_gate": "F16"}),
}
SPECIALS = [("<pad>", 3), ("<eos>", 3), ("<bos>", 3), ("<unk>", 2), ("<mask>", 4), ("<start_of_turn>", 3),
            ("<end_of_turn>", 3), ("<mask2>", 4)]
PIECES = ["▁", "t", "h", "e", "n", "i", "▁t", "th", "▁th", "▁the", "he", "▁h", "▁he", "▁hen", "in", "▁in", "en",
          "▁en", "▁end", "nd", "▁then", "▁thin", "te", "▁te", "▁tent", "nt", ",", "s", "p", "a", "c", "▁s", "sp",
          "▁sp", "pa", "ce", "ace", "▁space", "spa", "spac", "  ", "   ", "w", "o", "▁tw", "▁two", "r", "u", "\n"]


def vocabulary():
    """Gemma's layout: specials first, the 256 byte tokens (type 6), then pieces (type 1); runs of spaces
    are stored as real spaces, as Gemma files have them. Scores fall with the id except for a few pieces,
    so merges ordered by score would differ from the file order transformers uses."""
    tokens, types = [t for t, _ in SPECIALS], [k for _, k in SPECIALS]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [6] * 256
    tokens += PIECES
    types += [1] * len(PIECES)
    scores = [0.0] * (len(SPECIALS) + 256) + [-float(i) for i in range(len(PIECES))]
    for index in (tokens.index("▁the"), tokens.index("▁tent"), tokens.index("in")):
        scores[index] = 5.0
    return tokens, types, scores


def make(arch: str, spec: dict, out: Path, versions: dict) -> None:
    import gguf
    import numpy as np
    import torch
    from gguf import GGMLQuantizationType as T
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(20261207 if arch == "gemma2" else 20261208)
    tokens, types, scores = vocabulary()
    common = dict(vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=spec["layers"],
                  num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=128,
                  rms_norm_eps=1e-6, sliding_window=4, bos_token_id=2, eos_token_id=1, pad_token_id=0)
    if arch == "gemma2":
        model = Gemma2ForCausalLM(Gemma2Config(**common, rope_theta=10000.0))
    else:
        model = Gemma3ForCausalLM(Gemma3TextConfig(**common, rope_theta=1000000.0))
    model = model.float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0, 0.3) if p.dim() == 2 else p.normal_(0, 0.2)
    kinds = {k: T[v] for k, v in spec["kinds"].items()}
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA2 if arch == "gemma2" else gguf.MODEL_ARCH.GEMMA3, spec["layers"])
    path = out / f"tiny-{arch}.gguf"
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(f"Tiny {arch}")
    writer.add_context_length(128)
    writer.add_embedding_length(32)
    writer.add_block_count(spec["layers"])
    writer.add_feed_forward_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_key_length(16)
    writer.add_value_length(16)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    if arch == "gemma2":
        writer.add_attn_logit_softcapping(50.0)
        writer.add_final_logit_softcapping(30.0)
    else:
        writer.add_rope_freq_base(1000000.0)
    writer.add_sliding_window(4)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name == "lm_head.weight":
                continue
            stem, suffix = name.rsplit(".", 1)
            gname = names.get_name(stem)
            w = tensor.numpy().astype(np.float32)
            plus_one = name.endswith("norm.weight")
            if plus_one:
                w = w + 1  # convert_hf_to_gguf.py: data_torch = data_torch + 1 for every norm.weight
            kind = kinds.get(gname, T.F32) if w.ndim == 2 else T.F32
            stored, held = stored_and_held(w, kind)
            writer.add_tensor(f"{gname}.{suffix}", stored, raw_dtype=kind if kind not in (T.F32, T.F16) else None)
            tensor.copy_(torch.from_numpy(held - 1 if plus_one else held))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    loaded = AutoModelForCausalLM.from_pretrained(str(out), gguf_file=path.name, dtype=torch.float32).eval()
    source, converted = model.state_dict(), loaded.state_dict()
    assert source.keys() == converted.keys(), sorted(set(source) ^ set(converted))
    for name in source:
        assert torch.equal(source[name], converted[name]), f"{arch}: transformers' GGUF loading changed {name}"
    save_file({k: v.contiguous() for k, v in converted.items() if k != "lm_head.weight"}, str(out / "expected.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(str(out), gguf_file=path.name)
    (out / "tokenizer.json").write_text(tokenizer.backend_tokenizer.to_str() + "\n")
    cases = [{"text": text, "ids": tokenizer(text)["input_ids"],
              "ids_without_special_tokens": tokenizer(text, add_special_tokens=False)["input_ids"]} for text in TEXTS]
    ids = tokenizer(LOGITS_TEXT)["input_ids"]
    with torch.no_grad():
        logits = loaded(torch.tensor([ids])).logits[0]
        reference = model(torch.tensor([ids])).logits[0]
    assert torch.equal(logits, reference), f"{arch}: the GGUF-loaded model's logits differ from the source's"
    loaded.config.architectures = [type(loaded).__name__]
    with tempfile.TemporaryDirectory() as folder:
        loaded.config.save_pretrained(folder)
        config = json.loads((Path(folder) / "config.json").read_text())
    for key in ("_model_name_or_path", "_name_or_path", "quantization_config"):
        config.pop(key, None)
    expected = {"text": LOGITS_TEXT, "ids": ids, "logits": float32_list(logits.flatten().tolist()), "config": config,
                "cases": cases, "types": spec["kinds"],
                "versions": {k: versions[k] for k in ("transformers", "gguf", "torch", "tokenizers") if k in versions}}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}: {len(ids)} ids, {path.stat().st_size} bytes of GGUF")


def weight_only(out: Path) -> None:
    """phi2: no forward pass here, so the file opens weight-only; every 2-D tensor must be listed."""
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType as T

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    path = out / "phi2.gguf"
    writer = gguf.GGUFWriter(str(path), "phi2")
    writer.add_name("Tiny phi2")
    writer.add_context_length(64)
    writer.add_embedding_length(32)
    writer.add_block_count(1)
    writer.add_feed_forward_length(64)
    writer.add_head_count(4)
    tensors = {"token_embd.weight": ((48, 32), T.Q8_0), "output_norm.weight": ((32,), T.F32),
               "output.weight": ((48, 32), T.F16), "output.bias": ((48,), T.F32),
               "blk.0.attn_norm.weight": ((32,), T.F32), "blk.0.attn_qkv.weight": ((96, 32), T.Q4_0),
               "blk.0.attn_qkv.bias": ((96,), T.F32), "blk.0.attn_output.weight": ((32, 32), T.F16),
               "blk.0.ffn_up.weight": ((64, 32), T.Q8_0), "blk.0.ffn_down.weight": ((32, 64), T.Q4_0),
               "blk.0.ffn_gate_exps.weight": ((2, 64, 32), T.F32)}
    listed = []
    for name, (shape, kind) in tensors.items():
        stored, _ = stored_and_held(rng.normal(0, 0.3, size=shape).astype(np.float32), kind)
        writer.add_tensor(name, stored, raw_dtype=kind if kind not in (T.F32, T.F16) else None)
        listed.append({"name": name, "shape": list(shape), "type": kind.name})
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    (out / "expected.json").write_text(json.dumps({"architecture": "phi2", "tensors": listed}, indent=1) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent.parent / "Tests/Fixtures/gguf"))
    args = parser.parse_args()
    versions = check_reference_versions()
    quiet_reference_libraries()
    for arch, spec in ARCHITECTURES.items():
        make(arch, spec, Path(args.out_dir) / f"tiny-{arch}", versions)
    weight_only(Path(args.out_dir) / "weight-only")


if __name__ == "__main__":
    main()
