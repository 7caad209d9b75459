#!/usr/bin/env python3
"""Reference perplexities of qtui's synthetic llama under bitsandbytes quantization (transformers + bitsandbytes, CPU).

Writes Tests/Fixtures/calibration/synthetic-llama-200-perplexity.json. Run it with the reference venv
(pins in scripts/requirements-ref.txt) from the repository root:

    ~/refenv/bin/python scripts/make_perplexity_fixture.py [--model DIR] [--out PATH] [--threads 1]

Model: without --model the script builds it exactly like scripts/make_calibration_fixture.sh does
(.build/release/qtui synthesize --layers 2 --hidden 64 into a temporary folder, then
Tests/Fixtures/tokenizers/smollm2.tokenizer.json copied to tokenizer.json); it needs a release build.
The sha256 of model.safetensors is recorded.

Tokens: the "tokens" array of Tests/Fixtures/calibration/synthetic-llama-200.json (the first 200 tokens of the
built-in calibration text), used as given, as one sequence of 200. Perplexity = exp(mean NLL of tokens 1..199),
NLL = -log_softmax(float32 logits, computed in float64)[next token], natural log -- the same rule as
scripts/activation_reference.py, whose fp32 perplexity in that fixture the "fp32" result must reproduce.

Every configuration is AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, device_map="cpu",
attn_implementation="eager", quantization_config=BitsAndBytesConfig(...)), run once, no KV cache, in eval mode
under torch.no_grad(), torch threads fixed (default 1). Non-quantized modules (embedding, norms, attention math,
lm_head unless quantized) compute in float32.

int8 (LLM.int8, Linear8bitLt -> bnb.matmul -> MatMul8bitLt.forward, bitsandbytes 0.50.2):
  * weights: Int8Params quantizes the weight cast to float16 row-wise at load (int8_vectorwise_quant:
    SCB = max|w| per output row, CB = round(w * 127 / SCB)).
  * activations: A (float32 here) is cast to float16 (bitsandbytes logs "inputs will be cast from torch.float32
    to float16 during quantization"); int8_vectorwise_quant (pure-torch "default" kernel, the only one on the CPU)
    on that float16 copy: outliers = |A16| >= threshold (>=, on the float16 values); outlier elements are set
    to 0 before the row absmax SCA = max|A16| per token row (float32), CA = round(A16 * (127 / SCA)) (float32
    arithmetic), then whole outlier columns of CA are zeroed (when there is more than one row).
  * product: int8_linear_matmul on the CPU is torch._int_mm(CA, CB.T) (int32; registered by backends/cpu when
    torch's CPU capability is AVX512, else the default kernel: float32 matmul of the int8 values, exact for these
    sizes), then int8_mm_dequant: out_i32 * (SCA * SCB) * 6.200124e-05 (= 1/127^2, float32), cast to A's dtype
    (float32 here), + bias.
  * threshold > 0 (int8_mixed_scaled_mm): subA = A[:, outlier_cols] in A's ORIGINAL dtype (float32 here, not
    float16), subB = int8_vectorwise_dequant(CB[:, outlier_cols], SCB) = CB * SCB * 7.874015718698502e-3 (the
    int8-dequantized weight columns, not the original ones), output.addmm(subA, subB.T) in float32.
  * threshold 0.0: plain int8_scaled_mm, no outlier columns.
  The outlier columns each Linear8bitLt found (state.idx) are recorded per module.

4-bit (Linear4bit -> bnb.matmul_4bit): quantized at load by quantize_4bit's pure-torch default kernel (blocks of
64 over the flattened [out, in] weight; double quant: the absmax vector minus its mean, blockwise 8-bit with
the dynamic map in blocks of 256, by the CPU C kernel, which is not exact-nearest). Under no_grad, matmul_4bit
calls gemm_4bit (default kernel): dequantize_4bit(weight) to the compute dtype, then F.linear. Two bitsandbytes
0.50.2 CPU behaviours matter:
  * AVX512-BF16 repack: on a CPU with AVX512-BF16, Linear4bit.forward repacks the weight on its first call and
    then runs gemv_4bit's CPU kernel with the activations AND absmax cast to bfloat16 (bf16 compute). It asserts
    out_features % 32 == 0 and reshapes absmax to [out, in / 64], which fails when in_features is not a multiple
    of the blocksize (down_proj: 176 inputs). Like scripts/verify_export.py, the reference turns it off
    (Linear4bit.support_avx512bf16_for_cpu = False) so the result does not depend on the CPU; the variants
    "avx512bf16_packed" (bitsandbytes' default, all layers) and "avx512bf16_packed_where_possible" (only layers
    it can repack) record what that path gives.
  * the CPU C kernel of dequantize_4bit indexes absmax per row (block row * (in // 64) + col // 64) instead of
    over the flattened tensor ((row * in + col) // 64), which is wrong when a row is not a whole number of
    blocks: down_proj (64 x 176) is dequantized with the wrong scales. The reference therefore routes
    dequantize_4bit to bitsandbytes' own pure-torch default kernel (a TorchDispatchMode redispatching the op to
    its CompositeExplicitAutograd kernel), i.e. the semantics of the stored checkpoint (and of the CUDA
    kernels); the variant "cpu_c_dequant_kernel" is the plain path exactly as bitsandbytes runs it on the CPU
    without the repack. The nested absmax is dequantized by the CPU C kernel of dequantize_blockwise, checked
    here to equal the default kernel bit for bit.
  For double quant, the variant "exact_nearest_nested_codes" replaces bitsandbytes' CPU-kernel nested codes by
  the exact-nearest ones (its default kernel, as qtui quantizes), recomputed from the source weights.
  bnb_4bit_compute_dtype float16 configurations ("<name>/fp16-compute") cast the Linear inputs to float16,
  dequantize to float16 and run F.linear in float16 on the CPU; the rest of the model stays float32.

Output JSON: "versions", "tokens_count", "results" {name: {"perplexity", "mean_nll", "config", "notes",
"quantized_modules", "forward_path", ["outlier_columns"], ["variants"]}}, then "model", "tokens_source",
"environment", "int8_cpu_path", "four_bit_cpu_path", "method". No timings are stored (they are printed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


# --------------------------------------------------------------------------------------------------
# Reference-environment check (before importing torch & co.); same pattern as make_quant_fixtures.py
# --------------------------------------------------------------------------------------------------
from refenv import check_reference_versions  # noqa: E402  (scripts/refenv.py)


VERSIONS = check_reference_versions()

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

import logging  # noqa: E402

import torch  # noqa: E402

torch._dynamo.config.disable = True

import bitsandbytes as bnb  # noqa: E402
import bitsandbytes.functional as F  # noqa: E402
from bitsandbytes.functional import has_avx512bf16  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from transformers import AutoModelForCausalLM, BitsAndBytesConfig  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
# "MatMul8bitLt: inputs will be cast from torch.float32 to float16" (documented above) and the
# kernels-community notice (not installed: the packed path falls back to bitsandbytes' own C kernel)
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
for _name in ("bitsandbytes.autograd._functions", "bitsandbytes.backends.cpu.ops"):
    logging.getLogger(_name).setLevel(logging.ERROR)

REPO = Path(__file__).resolve().parent.parent
TOKENS_FIXTURE = REPO / "Tests/Fixtures/calibration/synthetic-llama-200.json"
DEFAULT_OUT = REPO / "Tests/Fixtures/calibration/synthetic-llama-200-perplexity.json"
TOKENIZER = REPO / "Tests/Fixtures/tokenizers/smollm2.tokenizer.json"
QTUI = REPO / ".build/release/qtui"
SYNTH_ARGS = ["--layers", "2", "--hidden", "64"]
BLOCKSIZE = 64  # BitsAndBytesConfig has no blocksize: Params4bit's default
NESTED_BLOCKSIZE = 256
DEFAULT_KEYS = torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd)
DEQUANT_4BIT = torch.ops.bitsandbytes.dequantize_4bit.default
GEMM_4BIT = torch.ops.bitsandbytes.gemm_4bit.default
LOAD_KW = dict(dtype=torch.float32, device_map="cpu", attn_implementation="eager")


class DefaultDequant4bit(TorchDispatchMode):
    """Route bitsandbytes::dequantize_4bit to its pure-torch default kernel (see the docstring)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is DEQUANT_4BIT:
            self.calls += 1
            return func.redispatch(DEFAULT_KEYS, *args, **kwargs)
        if func is GEMM_4BIT:
            # the mode is popped inside this handler: re-enter it so that the dequantize_4bit call made by
            # gemm_4bit's default (Python) kernel is seen too
            with self:
                return func.redispatch(DEFAULT_KEYS, *args, **kwargs)
        return func(*args, **kwargs)


# --------------------------------------------------------------------------------------------------
def build_model(tmp: Path) -> Path:
    if not QTUI.is_file():
        sys.exit(f"error: {QTUI} not found: build qtui in release mode first, or pass --model")
    out = tmp / "synthetic-llama"
    subprocess.run([str(QTUI), "synthesize", "--out", str(out), *SYNTH_ARGS], check=True, stdout=subprocess.DEVNULL)
    shutil.copy(TOKENIZER, out / "tokenizer.json")
    return out


def load(model_dir: Path, qcfg: BitsAndBytesConfig | None):
    kw = dict(LOAD_KW)
    if qcfg is not None:
        kw["quantization_config"] = qcfg
    m = AutoModelForCausalLM.from_pretrained(model_dir, **kw)
    m.eval()
    return m


def nll_of(model, ids: torch.Tensor) -> list[float]:
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0]
    if logits.dtype != torch.float32:
        raise RuntimeError(f"logits are {logits.dtype}, expected float32")
    logp = torch.log_softmax(logits[:-1].to(torch.float64), dim=-1)
    return (-logp.gather(1, ids[0, 1:, None])[:, 0]).tolist()


def summary(nll: list[float]) -> dict:
    mean = sum(nll) / len(nll)
    return {"perplexity": math.exp(mean), "mean_nll": mean}


def quantized_modules(model) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (bnb.nn.Linear8bitLt, bnb.nn.Linear4bit))]


def linear4(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]


def set_packed(model, which) -> list[str]:
    """support_avx512bf16_for_cpu per Linear4bit: which(name, module) -> bool. Returns the names left on."""
    on = []
    for n, m in linear4(model):
        m.support_avx512bf16_for_cpu = bool(which(n, m)) and has_avx512bf16()
        if m.support_avx512bf16_for_cpu:
            on.append(n)
    return on


def packable(m) -> bool:
    # what _convert_weight_packed_for_cpu can handle (block_n 32; absmax reshaped to [out, in / blocksize])
    return m.out_features % 32 == 0 and m.in_features % BLOCKSIZE == 0 and m.in_features % 2 == 0


def unpackable_reason(m) -> str:
    why = []
    if m.out_features % 32:
        why.append(f"out_features {m.out_features} not a multiple of 32 (assert N % block_n == 0)")
    if m.in_features % BLOCKSIZE:
        why.append(f"in_features {m.in_features} not a multiple of the blocksize {BLOCKSIZE} (absmax reshape to [out, in/{BLOCKSIZE}])")
    return "; ".join(why)


def cfg_json(kw: dict) -> dict:
    """The BitsAndBytesConfig arguments (None: no quantization) and the from_pretrained arguments."""
    bnb_cfg = {k: (str(v).replace("torch.", "") if isinstance(v, torch.dtype) else v) for k, v in kw.items()} or None
    if kw.get("load_in_4bit"):
        bnb_cfg["blocksize"] = BLOCKSIZE  # not an argument: Params4bit's default, recorded for clarity
    return {"bitsandbytes_config": bnb_cfg, "dtype": "float32", "device_map": "cpu", "attn_implementation": "eager"}


# --------------------------------------------------------------------------------------------------
def c_kernel_checks(model) -> dict:
    """Per Linear4bit: does the CPU C dequantize_4bit kernel agree with the default kernel; nested absmax check."""
    bad, nested_ok = [], True
    for n, m in linear4(model):
        qs = m.weight.quant_state
        absmax = qs.absmax
        if qs.nested:
            c = F.dequantize_blockwise(qs.absmax, qs.state2) + qs.offset
            d = torch.ops.bitsandbytes.dequantize_blockwise.default.redispatch(
                DEFAULT_KEYS, qs.absmax, qs.state2.absmax, qs.state2.code, qs.state2.blocksize, torch.float32) + qs.offset
            nested_ok &= torch.equal(c, d)
            absmax = d
        args = (m.weight.data, absmax, qs.blocksize, qs.quant_type, qs.shape, torch.float32)
        if not torch.equal(DEQUANT_4BIT(*args), DEQUANT_4BIT.redispatch(DEFAULT_KEYS, *args)):
            bad.append(n)
    return {"c_dequant_kernel_differs": bad, "nested_absmax_c_kernel_equals_default": nested_ok}


def exact_nearest_codes(model, source: dict, quant_type: str) -> tuple[dict, int, int]:
    """For double quant: bitsandbytes' default-kernel (exact-nearest) nested codes per Linear4bit."""
    out, differing, total = {}, 0, 0
    for n, m in linear4(model):
        qs = m.weight.quant_state
        w = source[n + ".weight"].to(torch.float32)
        packed, st = F.quantize_4bit(w, blocksize=BLOCKSIZE, quant_type=quant_type, compress_statistics=False)
        if not torch.equal(packed.view(-1), m.weight.data.view(torch.uint8).view(-1)):
            raise RuntimeError(f"{n}: recomputed 4-bit codes differ from the loaded ones")
        offset = st.absmax.mean()
        codes, absmax2 = torch.ops.bitsandbytes.quantize_blockwise.default.redispatch(
            DEFAULT_KEYS, st.absmax - offset, qs.state2.code, NESTED_BLOCKSIZE)
        if not (torch.equal(absmax2, qs.state2.absmax) and torch.equal(offset, qs.offset)):
            raise RuntimeError(f"{n}: recomputed nested absmax/offset differ from the loaded ones")
        out[n] = codes
        differing += int((codes != qs.absmax).sum())
        total += codes.numel()
    return out, differing, total


# --------------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--model", type=Path, help="the synthetic llama folder (default: synthesize it with .build/release/qtui)")
    ap.add_argument("--tokens-fixture", type=Path, default=TOKENS_FIXTURE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    fixture = json.loads(a.tokens_fixture.read_text())
    tokens = fixture["tokens"]
    ids = torch.tensor([tokens], dtype=torch.long)

    with tempfile.TemporaryDirectory() as td:
        model_dir = a.model or build_model(Path(td))
        cfg = json.loads((model_dir / "config.json").read_text())
        model_sha = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
        source = load_file(str(model_dir / "model.safetensors"))
        results: dict[str, dict] = {}
        timings: list[tuple[str, float | None, float]] = []

        def run(name, qkw, notes, *, fourbit=False, extra=None):
            t0 = time.perf_counter()
            qcfg = BitsAndBytesConfig(**qkw) if qkw else None
            model = load(model_dir, qcfg)
            t1 = time.perf_counter()
            entry = {"config": cfg_json(qkw)}
            entry["quantized_modules"] = quantized_modules(model)
            if fourbit:
                checks = c_kernel_checks(model)
                set_packed(model, lambda n, m: False)
                mode = DefaultDequant4bit()
                with mode:
                    nll = nll_of(model, ids)
                packed_after = [n for n, m in linear4(model) if getattr(m.weight.quant_state, "packing_format_for_cpu", False)]
                assert not packed_after and mode.calls == len(linear4(model)), (packed_after, mode.calls)
                entry["forward_path"] = ("plain: Linear4bit.support_avx512bf16_for_cpu = False, gemm_4bit default kernel, "
                                         "dequantize_4bit routed to bitsandbytes' pure-torch default kernel, F.linear in "
                                         + qkw["bnb_4bit_compute_dtype"].__repr__().replace("torch.", ""))
            else:
                nll = nll_of(model, ids)
                entry["forward_path"] = ("Linear8bitLt eval: MatMul8bitLt (int8_vectorwise_quant on float16 activations, "
                                         + ("torch._int_mm" if torch.backends.cpu.get_cpu_capability() == "AVX512" else "float32 matmul")
                                         + ", int8_mm_dequant" + (", int8_mixed_scaled_mm outliers in float32" if qkw.get("llm_int8_threshold", 0) > 0 else "")
                                         + ")") if qkw else "torch float32"
            t2 = time.perf_counter()
            entry = {**summary(nll), **entry, "notes": notes}
            if qkw and qkw.get("load_in_8bit"):
                thr = {float(m.state.threshold) for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear8bitLt)}
                assert thr == {float(qkw["llm_int8_threshold"])}, thr
                if qkw["llm_int8_threshold"] > 0:
                    entry["outlier_columns"] = {
                        n: [int(i) for i in (m.state.idx.tolist() if m.state.idx is not None else [])]
                        for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear8bitLt)}
            timings.append((name, t1 - t0, t2 - t1))
            if fourbit:
                entry["variants"] = variants(name, qkw, checks, model_dir, source, ids, timings)
            results[name] = entry
            print(f"{name:26s} ppl {entry['perplexity']:.6f}  mean nll {entry['mean_nll']:.8f}  "
                  f"(load {t1 - t0:.2f}s, forward {t2 - t1:.2f}s)", flush=True)
            for vn, v in entry.get("variants", {}).items():
                if not isinstance(v, dict):
                    print(f"    {vn:34s} {v}")
                elif "perplexity" in v:
                    print(f"    {vn:34s} ppl {v['perplexity']:.6f}  ({100 * (v['perplexity'] / entry['perplexity'] - 1):+.3f}%)")
                else:
                    print(f"    {vn:34s} {v.get('error', '')}")

        run("fp32", {}, "float32 throughout, no quantization; must equal the fp32 perplexity in "
            + a.tokens_fixture.name)
        for t in (6.0, 0.0, 2.0):
            run(f"int8@{t:g}", dict(load_in_8bit=True, llm_int8_threshold=t),
                "LLM.int8 with outlier decomposition: outlier columns are the input columns with |x16| >= threshold in any "
                "token, x16 = float32 activation cast to float16; those columns use the float32 activations times the "
                "int8-dequantized weight columns; the rest int8 x int8 (row-wise absmax, outliers zeroed first)"
                if t > 0 else "threshold 0.0: pure int8 (row-wise absmax of the float16-cast activations, no outlier columns)")
        run("int8@6-skip", dict(load_in_8bit=True, llm_int8_threshold=6.0, llm_int8_skip_modules=["lm_head", "model.layers.1.mlp"]),
            "as int8@6, with lm_head and every Linear under model.layers.1.mlp left in float32 (llm_int8_skip_modules)")
        for qt in ("nf4", "fp4"):
            for dq in (False, True):
                for cd in (torch.float32, torch.float16):
                    name = qt + ("-dq" if dq else "") + ("" if cd == torch.float32 else "/fp16-compute")
                    run(name, dict(load_in_4bit=True, bnb_4bit_quant_type=qt, bnb_4bit_use_double_quant=dq, bnb_4bit_compute_dtype=cd),
                        f"{qt.upper()} blocksize 64" + (" with double quant (nested 8-bit absmax, blocks of 256, bitsandbytes' CPU-kernel codes)" if dq else "")
                        + ("; float32 compute" if cd == torch.float32 else "; float16 compute: Linear inputs cast to float16, weight dequantized to float16, F.linear in float16, output cast back to float32"),
                        fourbit=True)

    fp32 = results["fp32"]["perplexity"]
    ref = fixture.get("perplexity")
    if ref is not None and abs(fp32 / ref - 1) > 1e-9:
        print(f"warning: fp32 perplexity {fp32!r} differs from {a.tokens_fixture.name}'s {ref!r}", file=sys.stderr)

    out = {
        "versions": VERSIONS,
        "tokens_count": len(tokens),
        "results": results,
        "model": {
            "built_with": f"qtui synthesize {' '.join(SYNTH_ARGS)} + Tests/Fixtures/tokenizers/smollm2.tokenizer.json",
            "model_safetensors_sha256": model_sha,
            "config": {k: cfg[k] for k in ("model_type", "num_hidden_layers", "hidden_size", "intermediate_size",
                                           "num_attention_heads", "num_key_value_heads", "vocab_size", "dtype", "tie_word_embeddings") if k in cfg},
        },
        "tokens_source": {"fixture": str(a.tokens_fixture.resolve().relative_to(REPO)) if a.tokens_fixture.resolve().is_relative_to(REPO) else str(a.tokens_fixture),
                          "key": "tokens", "fp32_perplexity_there": ref,
                          "tokens_sha256": hashlib.sha256(json.dumps(tokens).encode()).hexdigest()},
        "environment": {"device": "cpu", "threads": torch.get_num_threads(),
                        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
                        "bitsandbytes_has_avx512bf16": bool(has_avx512bf16())},
        "int8_cpu_path": ("MatMul8bitLt: A (float32) cast to float16; int8_vectorwise_quant (pure torch) on the float16 copy: "
                          "outlier = |A16| >= threshold, outlier elements zeroed, SCA = row max|A16| (float32), CA = round(A16 * 127/SCA), "
                          "outlier columns of CA zeroed; torch._int_mm(CA, CB.T) (AVX512) or float32 matmul of the int8 values; "
                          "out = i32 * (SCA * SCB) * 6.200124e-05 in float32; outlier columns added as A[:, cols] (float32, not float16) "
                          "@ (CB[:, cols] * SCB * 7.874015718698502e-3).T; weights: CB = round(W16 * 127/SCB), SCB = row max|W16|"),
        "four_bit_cpu_path": ("reference: plain float32 (or float16) dequantize + F.linear with bitsandbytes' default dequantize_4bit "
                              "kernel; see each result's variants for the CPU C kernel (wrong absmax indexing when in_features is not a "
                              "multiple of 64) and the AVX512-BF16 repack (fails on this model's MLP shapes; bf16 activations and absmax)"),
        "method": ("perplexity = exp(mean over tokens 1..199 of -log_softmax(float32 logits, in float64)[next token]), one "
                   "sequence of 200, natural log. Model loaded with AutoModelForCausalLM.from_pretrained(dtype=float32, "
                   "device_map='cpu', attn_implementation='eager', quantization_config=BitsAndBytesConfig(**config)). "
                   "See scripts/make_perplexity_fixture.py's docstring for the exact bitsandbytes CPU paths."),
    }
    text = json.dumps(out, indent=1)
    # lists of numbers (outlier columns) on one line
    text = re.sub(r"\[\s+(-?\d+(?:,\s+-?\d+)*)\s+\]", lambda mt: "[" + re.sub(r",\s+", ", ", mt.group(1)) + "]", text)
    if json.loads(text) != out:
        raise RuntimeError("compacting the JSON changed it")
    a.out.write_text(text + "\n")
    print(f"wrote {a.out}")
    print("timings (s): " + ", ".join(f"{n} load {l:.2f} forward {f:.2f}" if l is not None else f"{n} {f:.2f} (load + forward)"
                                       for n, l, f in timings))
    return 0


def variants(name, qkw, checks, model_dir, source, ids, timings) -> dict:
    """Other ways the same 4-bit configuration can run (fresh model each: the repack mutates the weights)."""
    qcfg = BitsAndBytesConfig(**qkw)
    v = {}

    t0 = time.perf_counter()
    m = load(model_dir, qcfg)
    set_packed(m, lambda n, mod: False)
    s = summary(nll_of(m, ids))
    v["cpu_c_dequant_kernel"] = {**s, "notes": "plain path exactly as bitsandbytes runs it without the AVX512-BF16 repack: the CPU C "
                                 "dequantize_4bit kernel, which mis-indexes absmax for " + (", ".join(checks["c_dequant_kernel_differs"]) or "no layer")}
    timings.append((name + ":cpu_c_dequant_kernel", None, time.perf_counter() - t0))

    for vn, which in (("avx512bf16_packed", lambda n, mod: True), ("avx512bf16_packed_where_possible", lambda n, mod: packable(mod))):
        t0 = time.perf_counter()
        m = load(model_dir, qcfg)
        on = set_packed(m, which)
        if not has_avx512bf16():
            v[vn] = {"error": "this CPU has no AVX512-BF16: bitsandbytes never repacks here"}
            continue
        try:
            with DefaultDequant4bit():  # only reaches the layers that were not repacked
                s = summary(nll_of(m, ids))
            v[vn] = {**s, "packed_modules": on,
                     "notes": "bitsandbytes' AVX512-BF16 CPU path (gemv_4bit C kernel, bitsandbytes' own fallback since the "
                              "kernels-community package is not installed): activations and absmax cast to bfloat16"
                              + ("" if vn == "avx512bf16_packed" else "; other Linear4bit layers plain float32 with the default dequant kernel")}
        except Exception as e:  # noqa: BLE001 - the failure is the result
            v[vn] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}",
                     "cannot_repack": {n: unpackable_reason(mod) for n, mod in linear4(m) if not packable(mod)}}
        timings.append((name + ":" + vn, None, time.perf_counter() - t0))

    v["c_dequant_kernel_differs_for"] = checks["c_dequant_kernel_differs"]
    if qkw.get("bnb_4bit_use_double_quant"):
        v["nested_absmax_c_kernel_equals_default"] = checks["nested_absmax_c_kernel_equals_default"]
        t0 = time.perf_counter()
        m = load(model_dir, qcfg)
        codes, differing, total = exact_nearest_codes(m, source, qkw["bnb_4bit_quant_type"])
        for n, mod in linear4(m):
            mod.weight.quant_state.absmax = codes[n]
        set_packed(m, lambda n, mod: False)
        with DefaultDequant4bit():
            s = summary(nll_of(m, ids))
        v["exact_nearest_nested_codes"] = {**s, "codes_changed": differing, "codes_total": total,
                                           "notes": "nested absmax codes re-quantized exact-nearest (bitsandbytes' default kernel, as qtui does); default dequant kernel"}
        timings.append((name + ":exact_nearest_nested_codes", None, time.perf_counter() - t0))
    return v


if __name__ == "__main__":
    sys.exit(main())
