#!/usr/bin/env python3
"""Golden fixtures for QuantKit's bitsandbytes checkpoint *exporter*.

Writes Tests/Fixtures/export/<model>/source/ (a tiny random model saved by transformers) and, per variant,
Tests/Fixtures/export/<model>/<variant>/ = what

    AutoModelForCausalLM.from_pretrained(source, quantization_config=BitsAndBytesConfig(**args), device_map="cpu")
        .save_pretrained(<variant>)

writes (config.json, generation_config.json, model.safetensors), plus Tests/Fixtures/export/manifest.json that
records, per variant, the BitsAndBytesConfig arguments, the quantization_config as written, every tensor (name,
dtype, shape, in file order), which modules were converted, torch.get_num_threads(), the double-quant nested-code
differences against the exact-nearest (pure-torch default kernel) result, and the byte-level facts about
config.json and model.safetensors that an exporter must reproduce to write identical FILES.

Run it with the reference venv (pins in scripts/requirements-ref.txt):

    ~/refenv/bin/python scripts/make_export_fixtures.py [--out-dir Tests/Fixtures/export]

Notes
* Weights are drawn from torch.Generator streams seeded per model, filled parameter by parameter in sorted-name
  order (not transformers' own init), so the sources do not depend on init order. 1% of every matrix entry is
  replaced by a heavy-tailed (Student t, df=2) value so that block absmax values vary.
* Quantization happens right after loading, and save_pretrained is called BEFORE any forward pass: on a CPU with
  AVX512-BF16, bitsandbytes' Linear4bit.forward repacks the weight for its CPU kernel and casts absmax to
  bfloat16, and the inverse run by save_pretrained is lossy (see probe "save_after_forward" in the manifest).
* torch.compile is switched off (TORCHDYNAMO_DISABLE); bitsandbytes compiles only its dequantize/optimizer
  kernels, never quantize_4bit / int8_vectorwise_quant / the CPU quantize_blockwise, so the bytes are unaffected.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path


# --------------------------------------------------------------------------------------------------
# Reference-environment check (before importing torch & co.) -- same pattern as make_quant_fixtures.py
# --------------------------------------------------------------------------------------------------
from refenv import check_reference_versions, quiet_reference_libraries  # noqa: E402  (scripts/refenv.py)


VERSIONS = check_reference_versions()

quiet_reference_libraries()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import bitsandbytes as bnb  # noqa: E402
import bitsandbytes.functional as F  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM, BitsAndBytesConfig  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_KEYS = torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd)
DYNAMIC_MAP = F.create_dynamic_map()
NESTED_BLOCKSIZE = 256
KEEP_FILES = ("config.json", "generation_config.json", "model.safetensors")
ST_DTYPE = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL", torch.uint16: "U16", torch.uint32: "U32", torch.uint64: "U64",
    torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.complex64: "C64",
}

# --------------------------------------------------------------------------------------------------
# Models and variants
# --------------------------------------------------------------------------------------------------
LLAMA = dict(
    model_type="llama", vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=64,
    tie_word_embeddings=False, rms_norm_eps=1e-6,
)
QWEN2 = dict(
    model_type="qwen2", vocab_size=160, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True,
    rms_norm_eps=1e-6,
)
GPT2 = dict(model_type="gpt2", vocab_size=144, n_embd=64, n_layer=2, n_head=4, n_positions=32, n_inner=None)

C16 = "float16"  # bnb_4bit_compute_dtype for every 4-bit variant
VARIANTS = {
    "int8": dict(load_in_8bit=True),
    "nf4": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=C16),
    "nf4-dq": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=C16),
    "fp4": dict(load_in_4bit=True, bnb_4bit_quant_type="fp4", bnb_4bit_compute_dtype=C16),
    "fp4-dq": dict(load_in_4bit=True, bnb_4bit_quant_type="fp4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=C16),
    # An explicit skip list REPLACES transformers' default skips (lm_head / tied / last module): lm_head is
    # converted here.
    "int8-skip-l1mlp": dict(load_in_8bit=True, llm_int8_skip_modules=["model.layers.1.mlp"]),
    # Skip list with lm_head named explicitly, a regex and a suffix pattern.
    "nf4-dq-skip": dict(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=C16,
        llm_int8_skip_modules=["lm_head", "model.layers.0.self_attn", "down_proj"],
    ),
    # BitsAndBytesConfig (transformers 5.24) has no blocksize argument; this variant is made by patching the
    # default of bitsandbytes.nn.Params4bit(blocksize=None -> 64) to 128 for the quantizing load only.
    "nf4-bs128-patched": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=C16),
    "nf4-dq-bs128-patched": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=C16),
}
PATCHED_BLOCKSIZE = {"nf4-bs128-patched": 128, "nf4-dq-bs128-patched": 128}
BASIC = ["int8", "nf4", "nf4-dq", "fp4", "fp4-dq"]

MODELS = {
    "llama": dict(arch=LLAMA, dtype=torch.float16, seed=1001,
                  variants=BASIC + ["int8-skip-l1mlp", "nf4-dq-skip", "nf4-bs128-patched", "nf4-dq-bs128-patched"]),
    "qwen2": dict(arch=QWEN2, dtype=torch.float16, seed=1002, variants=BASIC),
    "gpt2": dict(arch=GPT2, dtype=torch.float16, seed=1003, variants=BASIC),
    "llama-bf16": dict(arch=LLAMA, dtype=torch.bfloat16, seed=1004, variants=["int8", "nf4", "nf4-dq"]),
    "llama-f32": dict(arch=LLAMA, dtype=torch.float32, seed=1005, variants=["int8", "nf4-dq"]),
}


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
class patched_params4bit_blocksize:
    """Context manager: bitsandbytes.nn.Params4bit(blocksize=None) -> `blocksize` instead of 64."""

    def __init__(self, blocksize: int | None):
        self.blocksize = blocksize

    def __enter__(self):
        if self.blocksize is None:
            return self
        self.orig = bnb.nn.Params4bit.__new__
        bs = self.blocksize
        orig = self.orig

        def new(cls, data=None, requires_grad=False, quant_state=None, blocksize=None, *args, **kwargs):
            return orig(cls, data, requires_grad, quant_state, bs if blocksize is None else blocksize, *args, **kwargs)

        bnb.nn.Params4bit.__new__ = new
        return self

    def __exit__(self, *exc):
        if self.blocksize is not None:
            bnb.nn.Params4bit.__new__ = self.orig
        return False


def make_source(name: str, spec: dict, out: Path) -> None:
    arch = dict(spec["arch"])
    model_type = arch.pop("model_type")
    cfg = AutoConfig.for_model(model_type, **arch)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    gen = torch.Generator().manual_seed(spec["seed"])
    with torch.no_grad():
        for pname, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            shape = tuple(p.shape)
            if p.ndim == 1:
                if pname.endswith("bias"):
                    v = torch.randn(shape, generator=gen) * 0.1
                else:  # norm scales
                    v = 1.0 + torch.randn(shape, generator=gen) * 0.1
            else:
                if "wte" in pname or "wpe" in pname or "embed_tokens" in pname:
                    std = 1.0 if "wpe" not in pname else 0.2
                else:
                    # nn.Linear stores [out, in]; GPT-2's Conv1D stores [in, out]
                    fan_in = shape[0] if model_type == "gpt2" and "lm_head" not in pname else shape[1]
                    std = fan_in ** -0.5
                v = torch.randn(shape, generator=gen) * std
                # 1% heavy-tailed entries
                k = max(1, v.numel() // 100)
                idx = torch.randperm(v.numel(), generator=gen)[:k]
                # Student t with df=2 = z / sqrt(chi2_2 / 2), drawn from the same generator
                z = torch.randn(k, generator=gen)
                c = torch.randn(k, 2, generator=gen).pow(2).sum(1) / 2.0
                v.view(-1)[idx] = z / c.sqrt() * std * 3.0
            p.copy_(v)
    model = model.to(spec["dtype"])
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    prune(out)


def prune(d: Path) -> list:
    dropped = []
    for f in sorted(d.iterdir()):
        if f.name not in KEEP_FILES:
            dropped.append(f.name)
            if f.is_dir():
                shutil.rmtree(f)
            else:
                f.unlink()
    for f in d.iterdir():
        os.chmod(f, 0o644)
    return dropped


def read_header(path: Path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    hbytes = raw[8 : 8 + n]
    header = json.loads(hbytes)  # dict keeps the file's key order
    return raw, n, hbytes, header


def st_rank_order() -> list:
    """The dtype order safetensors 0.8.0 writes tensors in, found by writing one tensor of each dtype."""
    tensors = {f"t{i:02d}": torch.zeros(1, dtype=d) for i, d in enumerate(ST_DTYPE)}
    with tempfile.TemporaryDirectory() as td:
        p = Path(td) / "o.safetensors"
        save_file(tensors, str(p))
        _, _, _, h = read_header(p)
    return [v["dtype"] for k, v in h.items() if k != "__metadata__"]


def expected_order(header: dict, rank: list) -> list:
    names = [k for k in header if k != "__metadata__"]
    return sorted(names, key=lambda k: (rank.index(header[k]["dtype"]), k.encode("utf-8")))


def safetensors_facts(path: Path, rank: list) -> dict:
    raw, n, hbytes, header = read_header(path)
    keys = list(header)
    names = [k for k in keys if k != "__metadata__"]
    by_offset = sorted(names, key=lambda k: header[k]["data_offsets"][0])
    stripped = hbytes.rstrip(b" ")
    # Re-serialise the header compactly in the file's key order and check it is byte-identical.
    rebuilt = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    contiguous = True
    pos = 0
    for k in by_offset:
        a, b = header[k]["data_offsets"]
        contiguous &= a == pos
        pos = b
    return {
        "file_size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "header_len": n,
        "header_len_mod_8": n % 8,
        "header_padding_spaces": len(hbytes) - len(stripped),
        "header_is_compact_json_in_file_key_order": rebuilt == stripped,
        "first_header_key": keys[0],
        "metadata": header.get("__metadata__"),
        "header_key_order_equals_data_order": names == by_offset,
        "data_order_is_dtype_rank_then_name": by_offset == expected_order(header, rank),
        "data_contiguous_from_0_no_gaps": contiguous and pos == len(raw) - 8 - n,
        "per_tensor_field_order": list(header[names[0]].keys()) if names else [],
    }


def tensor_list(path: Path) -> list:
    _, _, _, header = read_header(path)
    return [[k, v["dtype"], v["shape"]] for k, v in header.items() if k != "__metadata__"]


def default_quantize_blockwise(A, code, blocksize):
    return torch.ops.bitsandbytes.quantize_blockwise.default.redispatch(DEFAULT_KEYS, A, code, blocksize)


def quant_state_json(t: torch.Tensor) -> str:
    return bytes(t.tolist()).decode("utf-8")


def check_tensors(model_name: str, variant: str, src_dir: Path, out_dir: Path, converted: list, conv1d: bool) -> dict:
    """Recompute every converted module from the source weights with bitsandbytes' functional API and compare
    with the bytes transformers saved; for double quant compare the nested codes with the exact-nearest ones."""
    src = load_file(str(src_dir / "model.safetensors"))
    out = load_file(str(out_dir / "model.safetensors"))
    args = VARIANTS[variant]
    res = {"modules": len(converted), "weight_equal": 0, "stats_equal": 0}
    dq = args.get("bnb_4bit_use_double_quant", False)
    if dq:
        res.update(nested_code_diffs=0, nested_code_max_distance=0, nested_absmax_values=0,
                   saved_equals_cpu_kernel_path=0, nested_absmax_equal_exact=0, offset_equal=0, per_module_diffs={})
    qs_examples = {}
    for prefix in converted:
        W = src[f"{prefix}.weight"]
        if conv1d and prefix.split(".")[-1] in ("c_attn", "c_proj", "c_fc"):
            W = W.T
        W = W.contiguous()
        if args.get("load_in_8bit"):
            CB, SCB, _ = F.int8_vectorwise_quant(W.to(torch.float16))
            res["weight_equal"] += int(torch.equal(CB, out[f"{prefix}.weight"]))
            res["stats_equal"] += int(torch.equal(SCB, out[f"{prefix}.SCB"]))
            wf = out[f"{prefix}.weight_format"]
            res.setdefault("weight_format_values", [])
            if [wf.dtype == torch.uint8, list(wf.shape), int(wf)] not in res["weight_format_values"]:
                res["weight_format_values"].append([wf.dtype == torch.uint8, list(wf.shape), int(wf)])
            continue
        qt = args["bnb_4bit_quant_type"]
        bs = PATCHED_BLOCKSIZE.get(variant, 64)
        packed, st = F.quantize_4bit(W, blocksize=bs, compress_statistics=False, quant_type=qt)
        res["weight_equal"] += int(torch.equal(packed, out[f"{prefix}.weight"]))
        qs_key = f"{prefix}.weight.quant_state.bitsandbytes__{qt}"
        qsj = quant_state_json(out[qs_key])
        qs = json.loads(qsj)
        if len(qs_examples) < 2:
            qs_examples[qs_key] = qsj
        res.setdefault("quant_state_json_is_python_json_dumps_default", True)
        res["quant_state_json_is_python_json_dumps_default"] &= json.dumps(qs) == qsj
        res.setdefault("quant_state_key_orders", [])
        if list(qs) not in res["quant_state_key_orders"]:
            res["quant_state_key_orders"].append(list(qs))
        res.setdefault("quant_state_dtypes", [])
        if qs["dtype"] not in res["quant_state_dtypes"]:
            res["quant_state_dtypes"].append(qs["dtype"])
        res.setdefault("quant_state_shape_is_linear_out_in", True)
        res["quant_state_shape_is_linear_out_in"] &= qs["shape"] == list(W.shape)
        res.setdefault("quant_map_equals_code", True)
        res["quant_map_equals_code"] &= torch.equal(out[f"{prefix}.weight.quant_map"], F.get_4bit_type(qt, device="cpu"))
        if not dq:
            res["stats_equal"] += int(torch.equal(st.absmax, out[f"{prefix}.weight.absmax"]))
            continue
        absmax = st.absmax
        offset = absmax.mean()
        codes, nested = default_quantize_blockwise(absmax - offset, DYNAMIC_MAP, NESTED_BLOCKSIZE)
        saved = out[f"{prefix}.weight.absmax"]
        d = saved.to(torch.int16) - codes.to(torch.int16)
        nd = int((d != 0).sum())
        res["nested_code_diffs"] += nd
        res["nested_code_max_distance"] = max(res["nested_code_max_distance"], int(d.abs().max()))
        res["nested_absmax_values"] += absmax.numel()
        if nd:
            res["per_module_diffs"][prefix] = {
                "indices": [int(i) for i in torch.nonzero(d).flatten()],
                "saved_codes": [int(saved[i]) for i in torch.nonzero(d).flatten()],
                "exact_nearest_codes": [int(codes[i]) for i in torch.nonzero(d).flatten()],
            }
        _, st_cpu = F.quantize_4bit(W, blocksize=bs, compress_statistics=True, quant_type=qt)
        res["saved_equals_cpu_kernel_path"] += int(torch.equal(st_cpu.absmax, saved))
        res["nested_absmax_equal_exact"] += int(torch.equal(nested, out[f"{prefix}.weight.nested_absmax"]))
        res["offset_equal"] += int(np.float32(qs["nested_offset"]) == np.float32(offset.item()))
        res.setdefault("nested_offset_is_repr_of_float32_as_double", True)
        res["nested_offset_is_repr_of_float32_as_double"] &= f'"nested_offset": {float(offset.item())!r}' in qsj
        res.setdefault("nested_quant_map_equals_dynamic_map", True)
        res["nested_quant_map_equals_dynamic_map"] &= torch.equal(out[f"{prefix}.weight.nested_quant_map"], DYNAMIC_MAP)
        res["stats_equal"] += int(torch.equal(st_cpu.absmax, saved))
    res["quant_state_json_examples"] = qs_examples
    return res


def quantize_variant(src_dir: Path, out_dir: Path, variant: str, num_threads: int | None = None) -> dict:
    args = VARIANTS[variant]
    saved_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        with patched_params4bit_blocksize(PATCHED_BLOCKSIZE.get(variant)):
            qcfg = BitsAndBytesConfig(**args)
            model = AutoModelForCausalLM.from_pretrained(src_dir, quantization_config=qcfg, device_map="cpu")
        threads = torch.get_num_threads()
        converted = sorted(n for n, m in model.named_modules() if isinstance(m, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)))
        not_convert = sorted(model.hf_quantizer.modules_to_not_convert)
        linear_like = sorted(
            n for n, m in model.named_modules()
            if type(m) is torch.nn.Linear or type(m).__name__ == "Conv1D"
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        dropped = prune(out_dir)
    finally:
        torch.set_num_threads(saved_threads)
    return {
        "model": model, "converted": converted, "modules_to_not_convert": not_convert,
        "left_unconverted_linear": linear_like, "threads": threads, "dropped": dropped,
    }


def files_equal(a: Path, b: Path) -> dict:
    r = {}
    for f in KEEP_FILES:
        pa, pb = a / f, b / f
        if pa.exists() or pb.exists():
            r[f] = pa.exists() and pb.exists() and pa.read_bytes() == pb.read_bytes()
    return r


def tensor_diff(a: Path, b: Path) -> list:
    ta, tb = load_file(str(a)), load_file(str(b))
    diffs = []
    for k in sorted(set(ta) | set(tb)):
        if k not in ta or k not in tb:
            diffs.append(f"{k}: only in {'first' if k in ta else 'second'}")
        elif ta[k].dtype != tb[k].dtype or ta[k].shape != tb[k].shape:
            diffs.append(f"{k}: {ta[k].dtype}{list(ta[k].shape)} vs {tb[k].dtype}{list(tb[k].shape)}")
        elif not torch.equal(ta[k].view(torch.uint8) if ta[k].dim() else ta[k], tb[k].view(torch.uint8) if tb[k].dim() else tb[k]):
            diffs.append(f"{k}: values differ")
    return diffs


# --------------------------------------------------------------------------------------------------
# Probes
# --------------------------------------------------------------------------------------------------
def probe_repeat_and_threads(root: Path) -> dict:
    r = {}
    src = root / "llama" / "source"
    for variant in ["nf4-dq", "int8"]:
        for label, threads in [("repeat", None), ("threads_1", 1)]:
            with tempfile.TemporaryDirectory() as td:
                info = quantize_variant(src, Path(td), variant, threads)
                r[f"llama/{variant}/{label}"] = {"threads": info["threads"], "files_identical": files_equal(root / "llama" / variant, Path(td))}
    return r


def probe_save_after_forward(root: Path) -> dict:
    from bitsandbytes.functional import has_avx512bf16

    r = {"has_avx512bf16": bool(has_avx512bf16())}
    src = root / "llama" / "source"
    ids = torch.arange(12).reshape(1, 12) % 128
    for variant in ["nf4", "nf4-dq", "int8"]:
        with tempfile.TemporaryDirectory() as td:
            with patched_params4bit_blocksize(None):
                model = AutoModelForCausalLM.from_pretrained(src, quantization_config=BitsAndBytesConfig(**VARIANTS[variant]), device_map="cpu")
            with torch.no_grad():
                model(ids)
            model.save_pretrained(td)
            diffs = tensor_diff(root / "llama" / variant / "model.safetensors", Path(td) / "model.safetensors")
            r[f"llama/{variant}"] = {
                "files_identical": files_equal(root / "llama" / variant, Path(td)),
                "tensor_differences": diffs[:8] + ([f"... {len(diffs) - 8} more"] if len(diffs) > 8 else []),
                "tensor_difference_count": len(diffs),
            }
    return r


def probe_nested_cpu_kernel() -> dict:
    """How far bitsandbytes' CPU quantize_blockwise (used for the double-quant nested step) is from exact nearest."""
    gen = torch.Generator().manual_seed(7)
    n = 256 * 4000
    cases = {
        "absmax_like": lambda: (torch.randn(n, generator=gen).abs() * 0.05 + 0.01),
        "uniform_times_u4": lambda: (torch.rand(n, generator=gen) * 2 - 1) * torch.rand(n, generator=gen).pow(4),
    }
    r = {"what": "torch.ops.bitsandbytes.quantize_blockwise(A - A.mean(), create_dynamic_map(), 256) on the CPU (the C kernel) "
         "vs the same op redispatched to the pure-torch default kernel (exact nearest); scaled = A / nested_absmax"}
    for label, make in cases.items():
        A = make()
        A = A - A.mean()
        qc, ac = torch.ops.bitsandbytes.quantize_blockwise(A, DYNAMIC_MAP, NESTED_BLOCKSIZE)
        qd, ad = default_quantize_blockwise(A, DYNAMIC_MAP, NESTED_BLOCKSIZE)
        d = (qc.to(torch.int16) - qd.to(torch.int16)).abs()
        scaled = (A.view(-1, NESTED_BLOCKSIZE) / ad.view(-1, 1)).reshape(-1)
        err_c = (DYNAMIC_MAP[qc.long()] - scaled).abs()
        err_d = (DYNAMIC_MAP[qd.long()] - scaled).abs()
        big = d > 1
        r[label] = {
            "values": n,
            "nested_absmax_equal": bool(torch.equal(ac, ad)),
            "code_diffs": int((d != 0).sum()),
            "code_distance_histogram": torch.bincount(d.flatten().long()).tolist(),
            "max_extra_error_of_cpu_code_in_scaled_units": float((err_c - err_d).max()),
            "exact_codes_where_distance_gt_1": sorted(set(qd[big].tolist())),
            "cpu_codes_where_distance_gt_1": sorted(set(qc[big].tolist())),
            "cpu_codes_never_produced_near_zero": [c for c in range(120, 136) if not bool((qc == c).any())],
        }
    return r


def probe_packed_forward(root: Path) -> dict:
    """bitsandbytes' AVX512-BF16 CPU forward path (taken only on such CPUs) on fixtures whose in_features is not a
    multiple of the blocksize."""
    from bitsandbytes.functional import has_avx512bf16

    r = {"has_avx512bf16": bool(has_avx512bf16())}
    for model, variant in [("qwen2", "nf4"), ("llama", "nf4-bs128-patched"), ("llama", "nf4")]:
        m = AutoModelForCausalLM.from_pretrained(root / model / variant, device_map="cpu")
        try:
            with torch.no_grad():
                m(torch.arange(8).reshape(1, 8))
            r[f"{model}/{variant}"] = "forward ok"
        except Exception as e:  # noqa: BLE001
            r[f"{model}/{variant}"] = f"forward raised {type(e).__name__}: {e}"
    return r


def probe_foreign_config(root: Path) -> dict:
    """A source whose config.json looks like an older transformers wrote it: what does save_pretrained write?"""
    src = root / "llama" / "source"
    cfg = json.loads((src / "config.json").read_text())
    foreign = {"transformers_version": "4.44.0", "torch_dtype": cfg.pop("dtype")}
    foreign.update(reversed(list(cfg.items())))
    foreign.pop("transformers_version", None)
    foreign = {"torch_dtype": foreign["torch_dtype"], **{k: v for k, v in foreign.items() if k != "torch_dtype"}}
    foreign["transformers_version"] = "4.44.0"
    foreign["rope_theta"] = 10000.0  # old-style rope key
    foreign.pop("rope_parameters", None)
    foreign["custom_field_kept"] = "x"
    with tempfile.TemporaryDirectory() as td:
        s = Path(td) / "src"
        s.mkdir()
        shutil.copy(src / "model.safetensors", s / "model.safetensors")
        (s / "config.json").write_text(json.dumps(foreign, indent=4))
        o = Path(td) / "out"
        quantize_variant(s, o, "nf4")
        written = (o / "config.json").read_text()
        ref = (root / "llama" / "nf4" / "config.json").read_text()
        wd, rd = json.loads(written), json.loads(ref)
        return {
            "input_config_style": "4-space indent, unsorted keys, 'torch_dtype' instead of 'dtype', transformers_version 4.44.0, "
            "flat rope_theta instead of rope_parameters, an unknown key 'custom_field_kept'",
            "written_identical_to_fixture": written == ref,
            "keys_only_in_written": sorted(set(wd) - set(rd)),
            "keys_only_in_fixture": sorted(set(rd) - set(wd)),
            "differing_values": {k: [wd[k], rd[k]] for k in sorted(set(wd) & set(rd)) if wd[k] != rd[k]},
            "written_has_torch_dtype": "torch_dtype" in wd,
            "written_transformers_version": wd.get("transformers_version"),
            "written_rope": {k: wd[k] for k in ("rope_parameters", "rope_theta") if k in wd},
        }


# --------------------------------------------------------------------------------------------------
# config.json facts
# --------------------------------------------------------------------------------------------------
def config_facts(path: Path) -> dict:
    text = path.read_text()
    d = json.loads(text)
    return {
        "text_equals_json_dumps_indent2_sort_keys_plus_newline": text == json.dumps(d, indent=2, sort_keys=True) + "\n",
        "ends_with_newline": text.endswith("\n"),
        "top_level_keys": list(d),
    }


def dump_manifest(manifest: dict) -> str:
    """indent-1 JSON, but leaf lists (tensor rows, shapes) on one line so the file stays small and diffable."""

    def enc(v, ind):
        pad = " " * ind
        if isinstance(v, dict):
            if not v:
                return "{}"
            items = [f"{pad} {json.dumps(k)}: {enc(x, ind + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(v, list) and v and all(isinstance(x, list) for x in v):
            return "[\n" + ",\n".join(f"{pad} {json.dumps(x, separators=(',', ':'))}" for x in v) + f"\n{pad}]"
        return json.dumps(v, separators=(",", ":"))

    return enc(manifest, 0) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(REPO / "Tests" / "Fixtures" / "export"))
    ap.add_argument("--skip-probes", action="store_true")
    a = ap.parse_args()
    root = Path(a.out_dir)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rank = st_rank_order()

    manifest = {
        "versions": VERSIONS,
        "generator": {
            "script": "scripts/make_export_fixtures.py",
            "python": sys.version.split()[0],
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_num_threads": torch.get_num_threads(),
            "torch_compile": "disabled (TORCHDYNAMO_DISABLE=1); no bitsandbytes quantize kernel is compiled",
            "how": "AutoModelForCausalLM.from_pretrained(source, quantization_config=BitsAndBytesConfig(**bnb_config_args), "
            "device_map='cpu').save_pretrained(variant_dir), with no forward pass in between; files other than "
            + ", ".join(KEEP_FILES) + " are deleted (none were written)",
            "nested_exact_nearest": "torch.ops.bitsandbytes.quantize_blockwise redispatched to CompositeExplicitAutograd "
            "(bitsandbytes' pure-torch default kernel) on absmax - absmax.mean(), blocksize 256, create_dynamic_map()",
        },
        "bitsandbytesconfig_init_parameters": [p for p in inspect.signature(BitsAndBytesConfig.__init__).parameters if p != "self"],
        "blocksize_exposed_by_BitsAndBytesConfig": "blocksize" in inspect.signature(BitsAndBytesConfig.__init__).parameters,
        "safetensors": {},
        "config_json": {},
        "models": {},
    }

    for mname, spec in MODELS.items():
        src = root / mname / "source"
        make_source(mname, spec, src)
        mrec = {
            "architecture": spec["arch"],
            "dtype": str(spec["dtype"]).split(".")[1],
            "seed": spec["seed"],
            "source": {
                "tensors": tensor_list(src / "model.safetensors"),
                "safetensors": safetensors_facts(src / "model.safetensors", rank),
                "files": sorted(f.name for f in src.iterdir()),
            },
            "variants": {},
        }
        conv1d = spec["arch"]["model_type"] == "gpt2"
        for variant in spec["variants"]:
            out = root / mname / variant
            info = quantize_variant(src, out, variant)
            cfg_written = json.loads((out / "config.json").read_text())
            src_cfg = json.loads((src / "config.json").read_text())
            rec = {
                "bnb_config_args": VARIANTS[variant],
                "patched_params4bit_default_blocksize": PATCHED_BLOCKSIZE.get(variant),
                "quantization_config": cfg_written["quantization_config"],
                "config_json_equals_source_plus_quantization_config": {k: v for k, v in cfg_written.items() if k != "quantization_config"} == src_cfg,
                "generation_config_identical_to_source": (out / "generation_config.json").read_bytes() == (src / "generation_config.json").read_bytes(),
                "files": sorted(f.name for f in out.iterdir()),
                "dropped_files": info["dropped"],
                "torch_num_threads": info["threads"],
                "converted_modules": info["converted"],
                "modules_to_not_convert": info["modules_to_not_convert"],
                "unconverted_linear_modules": info["left_unconverted_linear"],
                "tensors": tensor_list(out / "model.safetensors"),
                "safetensors": safetensors_facts(out / "model.safetensors", rank),
                "recomputed_from_source": check_tensors(mname, variant, src, out, info["converted"], conv1d),
            }
            mrec["variants"][variant] = rec
            del info["model"]
            r = rec["recomputed_from_source"]
            print(f"{mname}/{variant}: {len(rec['tensors'])} tensors, {rec['safetensors']['file_size']} bytes, "
                  f"{len(info['converted'])} converted, weight_equal {r['weight_equal']}/{r['modules']}, stats_equal {r['stats_equal']}"
                  + (f", nested diffs {r['nested_code_diffs']}/{r['nested_absmax_values']}" if "nested_code_diffs" in r else ""),
                  flush=True)
        manifest["models"][mname] = mrec

    # global safetensors / config facts
    allst = [(m, "source", mr["source"]["safetensors"]) for m, mr in manifest["models"].items()]
    allst += [(m, v, vr["safetensors"]) for m, mr in manifest["models"].items() for v, vr in mr["variants"].items()]
    manifest["safetensors"] = {
        "writer": "transformers save_pretrained -> safetensors.torch.save_file(shard, path, metadata={'format': 'pt'}) (one shard)",
        "dtype_rank_order_written_first_to_last": rank,
        "rule": "tensors are written (header and data) sorted by dtype in the order above (safetensors' Dtype enum, "
        "descending), then by name (bytewise ascending); '__metadata__' is the first header key; each tensor entry "
        "is {\"dtype\",\"shape\",\"data_offsets\"} in that order; compact JSON (no spaces); the header is padded with "
        "ASCII spaces to a multiple of 8 bytes; the 8-byte little-endian u64 prefix is that padded length; data "
        "is contiguous from offset 0 with no alignment padding between tensors",
        "all_files_follow_rule": all(
            f["data_order_is_dtype_rank_then_name"] and f["header_key_order_equals_data_order"] and f["header_len_mod_8"] == 0
            and f["first_header_key"] == "__metadata__" and f["metadata"] == {"format": "pt"} and f["data_contiguous_from_0_no_gaps"]
            and f["header_is_compact_json_in_file_key_order"] and f["per_tensor_field_order"] == ["dtype", "shape", "data_offsets"]
            for _, _, f in allst
        ),
        "metadata_note": "save_pretrained passes exactly {'format': 'pt'} (bnb quantizer adds nothing); safetensors writes a "
        "multi-key metadata map in hash order (not reproducible), a single key is deterministic",
    }
    cf = {f"{m}/{v}": config_facts(root / m / v / "config.json") for m, mr in manifest["models"].items() for v in ["source", *mr["variants"]]}
    manifest["config_json"] = {
        "format": "json.dumps(config.to_diff_dict(), indent=2, sort_keys=True) + '\\n' (ASCII-escaped, floats as Python repr: "
        "6.0, 1e-06, 10000.0; null for None); nested objects (quantization_config, rope_parameters) are sorted too",
        "all_files_match_format": all(v["text_equals_json_dumps_indent2_sort_keys_plus_newline"] for v in cf.values()),
        "dtype_key": "'dtype' (string of the torch dtype of the model as loaded, e.g. 'float16'; transformers 5 never writes 'torch_dtype')",
        "quantization_config_key_order": "sorted (sort_keys=True): _load_in_4bit, _load_in_8bit, bnb_4bit_compute_dtype, "
        "bnb_4bit_quant_storage, bnb_4bit_quant_type, bnb_4bit_use_double_quant, llm_int8_enable_fp32_cpu_offload, "
        "llm_int8_has_fp16_weight, llm_int8_skip_modules, llm_int8_threshold, load_in_4bit, load_in_8bit, quant_method",
        "quantization_config_note": "BitsAndBytesConfig.to_dict() in full (no diff): every field is written even for "
        "8-bit; llm_int8_skip_modules is null unless given (the default lm_head skip is NOT written); "
        "bnb_4bit_compute_dtype is 'float32' when not given; no blocksize field exists",
        "per_file": cf,
    }

    if not a.skip_probes:
        print("probes ...", flush=True)
        manifest["probes"] = {
            "repeat_and_threads": probe_repeat_and_threads(root),
            "save_after_forward": probe_save_after_forward(root),
            "foreign_source_config": probe_foreign_config(root),
            "nested_cpu_kernel": probe_nested_cpu_kernel(),
            "packed_cpu_forward": probe_packed_forward(root),
        }

    (root / "manifest.json").write_text(dump_manifest(manifest))
    total = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    print(f"total {total} bytes in {sum(1 for f in root.rglob('*') if f.is_file())} files")


if __name__ == "__main__":
    main()
