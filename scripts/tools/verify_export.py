#!/usr/bin/env python3
"""Check a bitsandbytes checkpoint exported by qtui against transformers' own quantization of the same source.

    ~/refenv/bin/python scripts/tools/verify_export.py SOURCE_DIR EXPORT_DIR [--atol 0] [--strict]

1. Reads EXPORT_DIR/config.json's quantization_config and turns it into the BitsAndBytesConfig arguments
   (the 4-bit blocksize, which BitsAndBytesConfig does not have, is read from the export's quant_state blobs;
   a non-64 blocksize is applied to the reference by patching bitsandbytes.nn.Params4bit's default).
2. Reference: AutoModelForCausalLM.from_pretrained(SOURCE_DIR, quantization_config=..., device_map="cpu"[, dtype=
   the export's config dtype, as qtui export --dtype wrote it]),
   saved with save_pretrained into a temporary folder BEFORE any forward pass.
3. Export: AutoModelForCausalLM.from_pretrained(EXPORT_DIR, device_map="cpu") -- no extra arguments.
4. Compares the two checkpoints tensor by tensor (names, dtypes, shapes, bytes), config.json and the raw files.
   The only tolerated tensor difference is the documented double-quant one: bitsandbytes' CPU kernel for the
   nested absmax step is not exact-nearest, qtui is; uint8 absmax codes may then differ, but only in tensors
   whose codes are all exactly the exact-nearest ones (recomputed here from the source with bitsandbytes'
   pure-torch default kernel). Usually one code step; near code 127 (|value| < ~3e-5 of the nested absmax, where
   the dynamic map is finer than the CPU kernel's lookup table) up to 3 steps were seen.
5. Runs both models on fixed token ids and prints max |delta logits| and the argmax agreement, then lets both
   `generate` 8 tokens greedily from the first ids (they must load, run and agree).
   When the export holds such exact-nearest nested codes, a second reference is built: transformers' own
   checkpoint with exactly those codes replaced by the exact-nearest ones (loaded the same plain way); the
   pass/fail decision uses that one, and the delta against the unpatched reference is printed for information.

Exit 0 when max |delta logits| <= --atol (default 0), every argmax agrees and generate gives the same tokens; 1 otherwise (with --strict also
when a tensor differs beyond the allowed nested codes or config.json differs as JSON); 2 on a usage error.

Why the default tolerance is 0: both models are bitsandbytes Linear4bit / Linear8bitLt modules built from the same
stored bytes and run by the same code on the same machine and thread count, in the same process, on the same
input; torch's CPU kernels are deterministic for a fixed thread count, so identical tensor bytes must give
bit-identical logits. Any non-zero delta therefore means the stored tensors (or the metadata that drives the
kernels: quant_state JSON, dtype, shape) differ.

4-bit forward path: on a CPU with AVX512-BF16, bitsandbytes 0.50.2's Linear4bit.forward repacks the weight for
its own kernel and rounds absmax to bfloat16 on the first call; that path crashes when in_features is not a
multiple of the blocksize (e.g. down_proj with 96 inputs, or blocksize 128 with 64 inputs), hides absmax
differences below bfloat16 precision, and is taken only on some CPUs. This script therefore switches it off for
every model it compares (Linear4bit.support_avx512bf16_for_cpu = False: plain float32 dequantize, then matmul),
so the result is the same on every machine; --bnb-cpu-packed restores bitsandbytes' default.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import sys
import tempfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: refenv.py and the script folders
from refenv import check_reference_versions, quiet_reference_libraries  # noqa: E402  (scripts/refenv.py)


# transformers and accelerate newer than the pins only warn: the check compares an export with what the
# installed transformers itself does, so it stays meaningful (and users run the latest transformers).
VERSIONS = check_reference_versions(newer=("transformers", "accelerate"))

quiet_reference_libraries()

import torch  # noqa: E402
import bitsandbytes as bnb  # noqa: E402
import bitsandbytes.functional as F  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForCausalLM, BitsAndBytesConfig  # noqa: E402

DEFAULT_KEYS = torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd)
DYNAMIC_MAP = F.create_dynamic_map()
QS_PREFIX = "quant_state.bitsandbytes__"
BNB_ARGS = [
    "load_in_8bit", "load_in_4bit", "llm_int8_threshold", "llm_int8_skip_modules", "llm_int8_enable_fp32_cpu_offload",
    "llm_int8_has_fp16_weight", "bnb_4bit_compute_dtype", "bnb_4bit_quant_type", "bnb_4bit_use_double_quant",
    "bnb_4bit_quant_storage",
]


class patched_params4bit_blocksize:
    """bitsandbytes.nn.Params4bit(blocksize=None) -> `blocksize` instead of 64 (BitsAndBytesConfig has no blocksize)."""

    def __init__(self, blocksize):
        self.blocksize = None if blocksize in (None, 64) else blocksize

    def __enter__(self):
        if self.blocksize is not None:
            self.orig = orig = bnb.nn.Params4bit.__new__
            bs = self.blocksize

            def new(cls, data=None, requires_grad=False, quant_state=None, blocksize=None, *args, **kwargs):
                return orig(cls, data, requires_grad, quant_state, bs if blocksize is None else blocksize, *args, **kwargs)

            bnb.nn.Params4bit.__new__ = new
        return self

    def __exit__(self, *exc):
        if self.blocksize is not None:
            bnb.nn.Params4bit.__new__ = self.orig
        return False


def bnb_args_from_config(qc: dict) -> dict:
    if qc.get("quant_method") != "bitsandbytes":
        raise ValueError(f"quantization_config.quant_method is {qc.get('quant_method')!r}, not 'bitsandbytes'")
    args = {k: qc[k] for k in BNB_ARGS if k in qc}
    for k in ("load_in_8bit", "load_in_4bit"):
        if k not in args and f"_{k}" in qc:
            args[k] = qc[f"_{k}"]
    return args


def blocksizes(tensors: dict) -> set:
    return {json.loads(bytes(t.tolist()).decode("utf-8"))["blocksize"] for k, t in tensors.items() if f".weight.{QS_PREFIX}" in k}


def raw_bytes(t: torch.Tensor) -> bytes:
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def exact_nearest_codes(ref_model, source: dict, prefix: str, blocksize: int, quant_type: str) -> torch.Tensor:
    """The nested absmax codes of module `prefix` as the pure-torch default kernel (exact nearest) gives them."""
    W = source[f"{prefix}.weight"]
    # A stored name need not be a module path: Gemma3ForConditionalGeneration is saved with the Hub's names
    # (language_model.model.*) and renamed on load; such checkpoints hold no GPT-2 Conv1D.
    try:
        module = ref_model.get_submodule(prefix)
    except AttributeError:
        module = None
    if getattr(module, "source_cls", None) is not None and module.source_cls.__name__ == "Conv1D":
        W = W.T
    _, st = F.quantize_4bit(W.contiguous(), blocksize=blocksize, compress_statistics=False, quant_type=quant_type)
    absmax = st.absmax
    codes, _ = torch.ops.bitsandbytes.quantize_blockwise.default.redispatch(DEFAULT_KEYS, absmax - absmax.mean(), DYNAMIC_MAP, 256)
    return codes


def compare_tensors(exp: dict, ref: dict, ref_model, source: dict, blocksize: int, quant_type: str | None, dq: bool):
    """-> (problems, allowed) where allowed = {absmax tensor name: exact-nearest codes} for the tolerated diffs."""
    problems, allowed, allowed_count = [], {}, 0
    allowed_max_distance = [0]
    for k in sorted(set(exp) | set(ref)):
        if k not in ref:
            problems.append(f"{k}: only in export")
            continue
        if k not in exp:
            problems.append(f"{k}: missing from export")
            continue
        a, b = exp[k], ref[k]
        if a.dtype != b.dtype or list(a.shape) != list(b.shape):
            problems.append(f"{k}: export {a.dtype}{list(a.shape)} vs reference {b.dtype}{list(b.shape)}")
            continue
        if raw_bytes(a) == raw_bytes(b):
            continue
        if dq and k.endswith(".weight.absmax") and a.dtype == torch.uint8:
            prefix = k[: -len(".weight.absmax")]
            exact = exact_nearest_codes(ref_model, source, prefix, blocksize, quant_type)
            d = a.to(torch.int16) - b.to(torch.int16)
            if torch.equal(a, exact):
                allowed[k] = exact
                allowed_count += int((d != 0).sum())
                allowed_max_distance[0] = max(allowed_max_distance[0], int(d.abs().max()))
                continue
            problems.append(f"{k}: nested absmax codes differ ({int((d != 0).sum())} codes, max distance "
                            f"{int(d.abs().max())}) and the export's codes are {'' if torch.equal(a, exact) else 'not '}exact-nearest")
            continue
        n = a.numel()
        diff = int((a != b).sum()) if a.dtype != torch.bool else n
        problems.append(f"{k}: values differ ({diff}/{n})")
    return problems, allowed, allowed_count, allowed_max_distance[0]


def use_plain_4bit_cpu_path(model) -> int:
    """Make Linear4bit.forward skip bitsandbytes' AVX512-BF16 repacking (see --bnb-cpu-packed)."""
    n = 0
    for m in model.modules():
        if isinstance(m, bnb.nn.Linear4bit):
            m.support_avx512bf16_for_cpu = False
            n += 1
    return n


def logits(model, ids: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def main() -> int:
    ap = argparse.ArgumentParser(description="Compare a qtui bitsandbytes export with transformers' own quantization.")
    ap.add_argument("source", type=Path, help="the unquantized source folder (config.json + model.safetensors)")
    ap.add_argument("export", type=Path, help="the quantized folder to check")
    ap.add_argument("--atol", type=float, default=0.0, help="max |delta logits| allowed (default 0: see the docstring)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0, help="seed of the fixed token ids")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: leave torch's default)")
    ap.add_argument("--bnb-cpu-packed", action="store_true",
                    help="let bitsandbytes repack 4-bit weights for its AVX512-BF16 CPU kernel inside forward (its default on such CPUs). "
                    "Off by default: that path rounds absmax to bfloat16 (less sensitive), differs between CPUs, and crashes when "
                    "in_features is not a multiple of the blocksize")
    ap.add_argument("--strict", action="store_true", help="also fail on tensor differences beyond the allowed nested codes, or a config.json that differs as JSON")
    a = ap.parse_args()
    for d in (a.source, a.export):
        if not (d / "config.json").is_file() or not (d / "model.safetensors").is_file():
            print(f"error: {d} needs config.json and model.safetensors", file=sys.stderr)
            return 2
    if a.threads:
        torch.set_num_threads(a.threads)

    exp_cfg = json.loads((a.export / "config.json").read_text())
    if "quantization_config" not in exp_cfg:
        print(f"error: {a.export}/config.json has no quantization_config", file=sys.stderr)
        return 2
    args = bnb_args_from_config(exp_cfg["quantization_config"])
    exp_tensors = load_file(str(a.export / "model.safetensors"))
    bss = blocksizes(exp_tensors)
    if len(bss) > 1:
        print(f"error: the export mixes 4-bit blocksizes {sorted(bss)}", file=sys.stderr)
        return 2
    blocksize = bss.pop() if bss else 64
    four = bool(args.get("load_in_4bit"))
    dq = four and bool(args.get("bnb_4bit_use_double_quant"))
    qt = args.get("bnb_4bit_quant_type") if four else None
    export_dtype = exp_cfg.get("dtype") or exp_cfg.get("torch_dtype")
    print(f"source  {a.source}\nexport  {a.export}" + (f"\ndtype   {export_dtype}" if export_dtype else ""))
    print(f"BitsAndBytesConfig({', '.join(f'{k}={v!r}' for k, v in args.items())})" + (f"  [blocksize {blocksize}]" if four else ""))

    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        with patched_params4bit_blocksize(blocksize if four else None):
            # The dtype the export says it holds (qtui export --dtype): transformers loads the source in it
            # and quantizes from there, as a user passing dtype=... does.
            ref_model = AutoModelForCausalLM.from_pretrained(a.source, quantization_config=BitsAndBytesConfig(**args), device_map="cpu",
                                                             **({"dtype": export_dtype} if export_dtype else {}))
        ref_dir = td / "reference"
        ref_model.save_pretrained(ref_dir)  # before any forward pass
        ref_tensors = load_file(str(ref_dir / "model.safetensors"))
        source = load_file(str(a.source / "model.safetensors"))
        if export_dtype:  # the values transformers quantized: the source rounded to the export's dtype
            source = {k: v.to(getattr(torch, export_dtype)) if v.is_floating_point() else v for k, v in source.items()}

        # ---- checkpoint comparison
        problems, allowed, allowed_count, allowed_dist = compare_tensors(exp_tensors, ref_tensors, ref_model, source, blocksize, qt, dq)
        file_same = (a.export / "model.safetensors").read_bytes() == (ref_dir / "model.safetensors").read_bytes()
        cfg_text_same = (a.export / "config.json").read_text() == (ref_dir / "config.json").read_text()
        ref_cfg = json.loads((ref_dir / "config.json").read_text())
        cfg_json_same = exp_cfg == ref_cfg
        print(f"tensors: {len(exp_tensors)} in export, {len(ref_tensors)} in reference; "
              f"{'identical' if not problems and not allowed else f'{len(problems)} differing'}"
              + (f"; {allowed_count} nested absmax code(s) in {len(allowed)} tensor(s) differ (max {allowed_dist} code steps), export exact-nearest (allowed)" if allowed else ""))
        for p in problems[:20]:
            print(f"  {p}")
        if len(problems) > 20:
            print(f"  ... {len(problems) - 20} more")
        print(f"model.safetensors byte-identical: {file_same}; config.json byte-identical: {cfg_text_same}, same JSON: {cfg_json_same}")
        if not cfg_json_same:
            for k in sorted(set(exp_cfg) | set(ref_cfg)):
                if exp_cfg.get(k, "<absent>") != ref_cfg.get(k, "<absent>"):
                    print(f"  config {k}: export {json.dumps(exp_cfg.get(k, '<absent>'))} vs reference {json.dumps(ref_cfg.get(k, '<absent>'))}")

        # ---- logits
        vocab = exp_cfg.get("vocab_size") or ref_model.config.get_text_config().vocab_size
        gen = torch.Generator().manual_seed(a.seed)
        ids = torch.randint(0, vocab, (a.batch, a.seq_len), generator=gen)
        exp_model = AutoModelForCausalLM.from_pretrained(a.export, device_map="cpu")
        models = [exp_model, ref_model]
        if allowed:
            patched = dict(ref_tensors)
            patched.update(allowed)
            pdir = td / "reference-exact-nearest"
            pdir.mkdir()
            for f in ("config.json", "generation_config.json"):
                if (ref_dir / f).exists():
                    shutil.copy(ref_dir / f, pdir / f)
            save_file(patched, str(pdir / "model.safetensors"), metadata={"format": "pt"})
            pmodel = AutoModelForCausalLM.from_pretrained(pdir, device_map="cpu")
            models.append(pmodel)
        if not a.bnb_cpu_packed:
            for m in models:
                use_plain_4bit_cpu_path(m)
        le = logits(exp_model, ids)
        lr = logits(ref_model, ids)
        target, target_name = lr, "transformers reference"
        if allowed:
            target, target_name = logits(pmodel, ids), "transformers reference with exact-nearest nested codes"
            dr = (le - lr).abs().max().item()
            print(f"vs unpatched transformers reference (info): max |delta logits| = {dr:.6g}, "
                  f"argmax agree {int((le.argmax(-1) == lr.argmax(-1)).sum())}/{ids.numel()}")
        if le.shape != target.shape:
            print(f"FAIL: logits shape {list(le.shape)} vs {list(target.shape)}")
            return 1
        delta = (le - target).abs().max().item()
        agree = int((le.argmax(-1) == target.argmax(-1)).sum())
        print(f"vs {target_name}: max |delta logits| = {delta:.6g} (atol {a.atol:g}), argmax agree {agree}/{ids.numel()}, "
              f"logits range [{target.min().item():.4g}, {target.max().item():.4g}], tokens {a.batch}x{a.seq_len} seed {a.seed}, "
              f"threads {torch.get_num_threads()}" + (f", 4-bit CPU path {'bitsandbytes default' if a.bnb_cpu_packed else 'plain dequantize (no AVX512-BF16 repack)'}" if four else ""))

        # ---- generate: what a user runs first (a tied head quantized by mistake fails here, not in forward)
        prompt = ids[:1, : min(8, a.seq_len)]
        try:
            gen_exp = exp_model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)[0, prompt.shape[1]:].tolist()
            gen_ref = (pmodel if allowed else ref_model).generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)[0, prompt.shape[1]:].tolist()
            generated = gen_exp == gen_ref
            print(f"generate (greedy, 8 new tokens): export {gen_exp}, reference {gen_ref}: {'same' if generated else 'DIFFERENT'}")
        except Exception as e:  # noqa: BLE001  (any failure to generate is the finding)
            generated = False
            print(f"generate FAILED: {type(e).__name__}: {e}")

    ok = delta <= a.atol and agree == ids.numel() and generated
    if a.strict and (problems or not cfg_json_same):
        ok = False
        print("strict: checkpoint differs beyond the allowed nested codes" if problems else "strict: config.json differs")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
