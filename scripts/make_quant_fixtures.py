#!/usr/bin/env python3
"""Golden fixtures for QuantKit's bitsandbytes-compatible quantizers.

Writes Tests/Fixtures/bnb/quant.safetensors (every array) and Tests/Fixtures/bnb/cases.json (the
manifest). Run it with the reference venv (pins in scripts/requirements-ref.txt):

    ~/refenv/bin/python scripts/make_quant_fixtures.py [--out-dir Tests/Fixtures/bnb]

What is produced, and how (bitsandbytes 0.50.2 on the CPU):

* 4-bit (op "quantize_4bit"): bitsandbytes.functional.quantize_4bit(A, blocksize, compress_statistics=False,
  quant_type). On the CPU that runs the pure-torch "default" kernel (backends/default/ops.py).
  For double quant the library's CPU path would quantize the centred absmax with a C kernel
  (backends/cpu/ops.py, cquantize_blockwise_cpu_fp32) that is not exact-nearest. The fixtures instead
  run the library's own pure-torch default kernel for that nested step: the op
  torch.ops.bitsandbytes.quantize_blockwise is *redispatched* to its CompositeExplicitAutograd kernel,
  which is exactly the function registered with register_kernel(..., "default"), on
  (absmax - absmax.mean()) with blocksize 256 and create_dynamic_map(). The script cross-checks that
  redispatch against a line-by-line transcription of that default kernel. What the real CPU path
  (compress_statistics=True) produced is stored as "<case>.cpu_kernel_absmax", with per-case counts of
  the one-code differences in the manifest.
* "dequantized" is bitsandbytes' dequantize_4bit semantics (code[nibble] * absmax[i // blocksize], float32)
  computed through the default kernel; the manifest says per case whether the CPU C kernel
  (functional.dequantize_4bit) agreed. It does not for some 2-D shapes whose blocks straddle rows
  (see input m8x96, which stores "cpu_kernel_dequantized" too).
* int8 (LLM.int8): torch.ops.bitsandbytes.int8_vectorwise_quant / int8_vectorwise_dequant /
  int8_mixed_scaled_mm, plus bnb.nn.Linear8bitLt forward on the CPU in eval and train mode.

torch.compile is switched off (torch._dynamo.config.disable) so that the default kernels that
bitsandbytes wraps in torch.compile run eagerly; the arithmetic is the same single float32
multiply either way, and it keeps the run fast and deterministic.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path


# --------------------------------------------------------------------------------------------------
# Reference-environment check (before importing torch & co.)
# --------------------------------------------------------------------------------------------------
from refenv import check_reference_versions  # noqa: E402  (scripts/refenv.py)


VERSIONS = check_reference_versions()

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

import logging  # noqa: E402

logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch._dynamo.config.disable = True

import bitsandbytes as bnb  # noqa: E402
import bitsandbytes.functional as F  # noqa: E402
from bitsandbytes.backends.default.ops import _get_4bit_quantize_bounds  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEED = 20240611
BLOCKSIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096]
QUANT_TYPES = ["nf4", "fp4"]
NESTED_BLOCKSIZE = 256

# The CompositeExplicitAutograd key is where torch.library.register_kernel(op, "default") puts
# bitsandbytes' pure-torch kernels; redispatching to it bypasses the CPU C kernels.
DEFAULT_KEYS = torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd)
DYNAMIC_MAP = F.create_dynamic_map()  # what quantize_blockwise uses when code=None
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def default_quantize_blockwise(A: torch.Tensor, code: torch.Tensor, blocksize: int):
    return torch.ops.bitsandbytes.quantize_blockwise.default.redispatch(DEFAULT_KEYS, A, code, blocksize)


def default_dequantize_blockwise(q, absmax, code, blocksize, dtype=torch.float32):
    return torch.ops.bitsandbytes.dequantize_blockwise.default.redispatch(DEFAULT_KEYS, q, absmax, code, blocksize, dtype)


def default_dequantize_4bit(packed, absmax, blocksize, quant_type, shape, dtype=torch.float32):
    return torch.ops.bitsandbytes.dequantize_4bit.default.redispatch(
        DEFAULT_KEYS, packed, absmax, blocksize, quant_type, list(shape), dtype
    )


def transcribed_quantize_blockwise(A: torch.Tensor, code: torch.Tensor, blocksize: int):
    """The lines of backends/default/ops.py's quantize_blockwise kernel, copied verbatim."""
    A_flat = A.reshape(-1).float()
    n = A_flat.numel()
    rem = n % blocksize
    full = n - rem
    blocks = full // blocksize
    A_com = A_flat[:full].reshape(blocks, blocksize)
    absmax = A_com.abs().max(dim=-1)[0]
    scaled = torch.clamp(A_com * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        am = A_flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, am.unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(A_flat[full:] / am, -1, 1)])
    bounds = (code[:-1] + code[1:]) / 2
    q = torch.bucketize(scaled, bounds, out_int32=True).to(torch.uint8)
    return q.reshape(A.shape), absmax


def flist(t: torch.Tensor) -> list:
    """float32 tensor -> list of Python floats (exact; json writes them with repr)."""
    return [float(x) for x in t.detach().to(torch.float32).reshape(-1).tolist()]


def dump_manifest(manifest: dict) -> str:
    """JSON with one case / input per line (compact but diffable). Floats are written with repr."""
    lines = ["{"]
    keys = list(manifest)
    for i, k in enumerate(keys):
        v = manifest[k]
        comma = "," if i + 1 < len(keys) else ""
        if isinstance(v, list) and v and isinstance(v[0], dict):
            lines.append(f" {json.dumps(k)}: [")
            lines += [f"  {json.dumps(x, separators=(',', ':'))}" + ("," if j + 1 < len(v) else "") for j, x in enumerate(v)]
            lines.append(f" ]{comma}")
        elif isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()):
            lines.append(f" {json.dumps(k)}: {{")
            items = list(v.items())
            lines += [f"  {json.dumps(a)}: {json.dumps(b, separators=(',', ':'))}" + ("," if j + 1 < len(items) else "") for j, (a, b) in enumerate(items)]
            lines.append(f" }}{comma}")
        else:
            lines.append(f" {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# torch's float32 sum / mean on the CPU, emulated (this is what produces the double-quant offset)
# --------------------------------------------------------------------------------------------------
# aten/src/ATen/native/cpu/SumKernel.cpp: a contiguous float32 row is summed as 8-lane vectors
# (Vectorized<float> has 8 lanes on every CPU capability for this kernel) with an ILP factor of 4
# and a 4-level cascade; the tail and then the 8 lanes are added into a scalar. Tensors of at least
# 32768 elements are split into min(threads, ceil(n / 32768)) equal chunks of ceil(n / nchunks), each
# summed that way, and the chunk sums are added in order. mean = sum / float32(n).
_F32 = np.float32
TORCH_REDUCE_GRAIN = 32768
TORCH_SUM_VEC_LANES = 8


def _ceil_log2(x: int) -> int:
    return 1 if x <= 2 else int(x - 1).bit_length()


def _multi_row_sum(rows: np.ndarray) -> np.ndarray:
    size = rows.shape[0]
    num_levels = 4
    level_power = max(4, _ceil_log2(size) // num_levels)
    level_step = 1 << level_power
    level_mask = level_step - 1
    acc = np.zeros((num_levels,) + rows.shape[1:], dtype=np.float32)
    i = 0
    while i + level_step <= size:
        for _ in range(level_step):
            acc[0] = acc[0] + rows[i]
            i += 1
        for j in range(1, num_levels):
            acc[j] = acc[j] + acc[j - 1]
            acc[j - 1] = 0
            if (i & (level_mask << (j * level_power))) != 0:
                break
    while i < size:
        acc[0] = acc[0] + rows[i]
        i += 1
    for j in range(1, num_levels):
        acc[0] = acc[0] + acc[j]
    return acc[0]


def _row_sum(elems: np.ndarray) -> np.ndarray:
    ilp = 4
    size = elems.shape[0]
    size_ilp = size // ilp
    if size_ilp:
        ps = _multi_row_sum(elems[: size_ilp * ilp].reshape(size_ilp, ilp, *elems.shape[1:])).copy()
    else:
        ps = np.zeros((ilp,) + elems.shape[1:], dtype=np.float32)
    for i in range(size_ilp * ilp, size):
        ps[0] = ps[0] + elems[i]
    for k in range(1, ilp):
        ps[0] = ps[0] + ps[k]
    return ps[0]


def _torch_sum_serial(x: np.ndarray) -> np.float32:
    n = x.size
    w = TORCH_SUM_VEC_LANES
    if n < w:
        return _F32(_row_sum(x.reshape(n, 1))[0]) if n else _F32(0)
    vec_size = n // w
    vacc = _row_sum(x[: vec_size * w].reshape(vec_size, w))
    total = _F32(0)
    for k in range(vec_size * w, n):
        total = _F32(total + x[k])
    for k in range(w):
        total = _F32(total + vacc[k])
    return total


def torch_sum_f32(x: np.ndarray, threads: int) -> np.float32:
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    n = x.size
    if n < TORCH_REDUCE_GRAIN or threads <= 1:
        return _torch_sum_serial(x)
    nchunks = min(threads, -(-n // TORCH_REDUCE_GRAIN))
    chunk = -(-n // nchunks)
    total = _F32(0)
    for t in range(nchunks):
        part = x[t * chunk : (t + 1) * chunk]
        if part.size:
            total = _F32(total + _torch_sum_serial(part))
    return total


def torch_mean_f32(x: np.ndarray, threads: int) -> np.float32:
    return _F32(torch_sum_f32(x, threads) / _F32(np.asarray(x).size))


def mean_test_vector(n: int) -> np.ndarray:
    """x[i] = float32(((i * 2654435761) mod 1000003) / 1000003 * 0.05 + 0.001), evaluated in float64."""
    i = np.arange(n, dtype=np.uint64)
    r = (i * np.uint64(2654435761)) % np.uint64(1000003)
    return (r.astype(np.float64) / 1000003.0 * 0.05 + 0.001).astype(np.float32)


def torch_mean_cases() -> list:
    cases = []
    saved = torch.get_num_threads()
    try:
        for n in [1, 5, 7, 8, 9, 33, 100, 257, 4097, 12293, 32767, 32768, 32769, 70000, 704512]:
            x = mean_test_vector(n)
            xt = torch.from_numpy(x)
            per_threads = {}
            for t in (1, 2, 3, 4):
                torch.set_num_threads(t)
                s, m = xt.sum(), xt.mean()
                assert torch_sum_f32(x, t) == _F32(s.item()) and torch_mean_f32(x, t) == _F32(m.item()), (n, t)
                per_threads[str(t)] = {"sum": float(s), "mean": float(m)}
            cases.append({
                "name": f"mean.n{n}",
                "op": "torch_mean_f32",
                "n": n,
                "generator": "x[i] = float32(((i * 2654435761) mod 1000003) / 1000003 * 0.05 + 0.001), in float64",
                "first_values": flist(torch.from_numpy(x[:4])),
                "by_threads": per_threads,
                "thread_independent": len({json.dumps(v) for v in per_threads.values()}) == 1,
            })
    finally:
        torch.set_num_threads(saved)
    return cases


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------
def heavy_normal(rng: np.random.Generator, n: int, scale: float = 1.0, tail_frac: float = 0.02) -> np.ndarray:
    x = rng.standard_normal(n)
    k = max(1, int(round(n * tail_frac))) if n >= 8 else 0
    if k:
        idx = rng.choice(n, size=k, replace=False)
        x[idx] = rng.standard_t(df=2.0, size=k) * 3.0
    return (x * scale).astype(np.float32)


def f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def next_up(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x.astype(np.float32), np.float32(np.inf)).astype(np.float32)


def next_down(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x.astype(np.float32), np.float32(-np.inf)).astype(np.float32)


def build_inputs(rng: np.random.Generator) -> dict:
    """id -> dict(array=float32 numpy array, shape=list, note=str)."""
    inputs = {}

    def add(iid, arr, note):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        inputs[iid] = {"array": arr, "shape": list(arr.shape), "note": note}

    for n in [1, 2, 3, 17, 63, 64, 65, 4097]:
        add(f"n{n}", heavy_normal(rng, n), f"1-D normal(0,1) with ~2% heavy-tailed (t, df=2) values, length {n}")
    w = heavy_normal(rng, 33 * 130, scale=0.05, tail_frac=0.01).reshape(33, 130)
    add("m33x130", w, "2-D (33,130) weight-like: normal*0.05 with ~1% heavy tails; 4290 values (partial blocks)")
    add("n12293", heavy_normal(rng, 3 * 4096 + 5), "1-D 3*4096+5: partial last block at every blocksize")
    z = np.zeros(200, dtype=np.float32)
    z[100:] = -0.0
    add("zeros200", z, "all zeros: first 100 +0.0, last 100 -0.0")

    # tiny: blocks of 64 with different scales, incl. float32 subnormals and absmax below the 1e-38 clamp
    smallest = np.float32(1.4e-45)
    t = np.concatenate(
        [
            heavy_normal(rng, 64) * np.float32(1e-30),  # block 0: ~1e-30
            rng.standard_normal(64).astype(np.float32) * np.float32(1e-40),  # block 1: subnormals, absmax < 1e-38
            f32(rng.uniform(-1, 1, 64)) * np.float32(2e-38),  # block 2: around the 1e-38 clamp
            f32(rng.integers(-20, 21, 64)) * smallest,  # block 3: multiples of the smallest subnormal
            heavy_normal(rng, 44) * np.float32(1e-36),  # partial block at bs64
        ]
    ).astype(np.float32)
    t[64 + 5] = np.float32(1.1754944e-38)  # min normal inside the subnormal block
    add("tiny300", t, "tiny magnitudes ~1e-30 .. 1e-45 incl. float32 subnormals and blocks with absmax < 1e-38")

    h = (heavy_normal(rng, 300) * np.float32(1e30)).astype(np.float32)
    h[192:256] = f32(rng.uniform(-1, 1, 64)) * np.float32(4.0e37)
    h[192 + 7] = np.float32(5.0e37)
    h[256:300] = f32(rng.standard_normal(44)) * np.float32(1e36)
    add("huge300", h, "huge ~1e30; bs64 block 3 up to 5e37, partial block ~1e36 (absmax sums stay finite)")

    fm = np.concatenate(
        [
            f32(rng.uniform(-1, 1, 64)) * np.float32(3.4e38),
            f32(rng.uniform(-1, 1, 64)) * np.float32(1.0e38),
            f32(rng.standard_normal(64)) * np.float32(1e20),
        ]
    ).astype(np.float32)
    fm[5] = np.float32(3.4028235e38)  # float32 max
    fm[70] = np.float32(-1.0e38)
    add("fmax192", fm, "absmax near float32 max, so 1/absmax is subnormal; plain (non-double-quant) cases only: "
        "torch's float32 absmax.mean() overflows to inf here")

    # mixed: exact code values, midpoints and their float32 neighbours after scaling by a power of two.
    nf4 = F.get_4bit_type("nf4", device="cpu")
    fp4 = F.get_4bit_type("fp4", device="cpu")
    nf4_mid, _ = _get_4bit_quantize_bounds("nf4", torch.device("cpu"))
    fp4_mid, _ = _get_4bit_quantize_bounds("fp4", torch.device("cpu"))
    nf4_mid = nf4_mid.numpy().astype(np.float32)
    fp4_mid = fp4_mid.numpy().astype(np.float32)
    nf4c = nf4.numpy().astype(np.float32)
    fp4c = fp4.numpy().astype(np.float32)
    b0 = np.concatenate([f32([1.0, -1.0]), nf4_mid, fp4_mid, next_up(nf4_mid), next_down(nf4_mid), f32([0.0, -0.0])])
    b1 = np.concatenate([nf4c, fp4c, next_up(fp4_mid), next_down(fp4_mid), f32([0.001, -0.001])])
    assert b0.size == 64 and b1.size == 64, (b0.size, b1.size)
    b4 = f32(rng.standard_normal(64))
    mx = np.float32(np.abs(b4).max())
    b4[[3, 17, 40]] = mx
    b4[[8, 33]] = -mx
    b4[[1, 2, 50, 51, 52]] = 0.0
    b4[60] = -0.0
    b5 = np.full(64, -0.7, dtype=np.float32)
    b5[::3] = np.float32(0.7)
    b6 = np.concatenate([f32([3.0, -3.0]), nf4_mid * np.float32(3.0), fp4_mid * np.float32(3.0), f32(rng.standard_normal(8))])
    mixed = np.concatenate(
        [b0, b1, b0 * np.float32(2.0), b0 * np.float32(3.0), b4, b5, b6.astype(np.float32)]
    ).astype(np.float32)
    assert mixed.size == 424
    add(
        "mixed424",
        mixed,
        "bs64 blocks: 0 = ±1, NF4/FP4 midpoints and their float32 neighbours, ±0; 1 = NF4 and FP4 code values, "
        "FP4 midpoint neighbours, ±0.001; 2 = block 0 ×2; 3 = block 0 ×3 (inexact reciprocal); 4 = normal with "
        "exact zeros, -0 and repeated exact ±max; 5 = constant ±0.7; 6 (partial, 40) = ±3 and midpoints ×3 "
        "(division path)",
    )
    add("m8x96", heavy_normal(rng, 8 * 96).reshape(8, 96), "2-D (8,96): bs64/128 blocks straddle rows (CPU dequant kernel differs)")

    # int8 inputs
    w0 = f32(rng.standard_normal((16, 64)) * 0.1)
    w0[3, :] = 0.0  # all-zero row
    w0[5, :] = 0.0
    w0[5, 17] = -0.25  # single non-zero
    w0[7, :] = f32(rng.integers(-30, 31, 64)) * np.float32(2.0**-24)  # fp16 subnormals
    w0[9, 10] = 65504.0  # fp16 max
    w0[11, :] = 0.0
    w0[11, :16] = f32([127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 4.5, -3.5, 125.5, 126.5, -126.5, 63.5, -0.0, 0.25])
    w0[13, :] = -0.0
    add("w16x64", w0, "int8 weight: row 3 all +0, row 13 all -0, row 5 one non-zero, row 7 fp16 subnormals, row 9 holds 65504, row 11 has exact .5 ties at scale 1")
    add("w7x5", f32(rng.standard_normal((7, 5)) * 0.3), "small int8 weight")
    add("w64x257", heavy_normal(rng, 64 * 257, scale=0.04).reshape(64, 257), "F32 weight cast to fp16 before int8 (as transformers does)")

    # int8 activations
    x = f32(rng.standard_normal((24, 96)) * 0.5)
    x[2, 3] = 8.0  # outlier in one row only
    x[5, 10] = -6.0  # exactly -threshold (outlier at t=6)
    x[9, 17] = np.float32(np.float16(5.999))  # 5.999 rounds to 6.0 in fp16: an outlier at t=6
    x[9, 18] = np.float32(np.nextafter(np.float16(6.0), np.float16(0.0)))  # 5.99609375: not an outlier
    x[0, 20] = 7.0
    x[23, 20] = -7.0
    x[12, 30] = 6.5
    x[14, :] = f32(rng.standard_normal(96) * 0.3)
    x[14, 30] = 5.5  # row max sits in an outlier column (but is itself below t)
    x[7, 40] = -1.6  # outlier only at t=1.5
    x[8, 50] = 1.5  # exactly t=1.5
    x[21, :] = 0.0
    x[21, 60] = 9.0  # row whose only non-zeros are outliers
    x[21, 61] = -7.5
    x[22, :] = 0.0  # all-zero row
    add("x24x96", x, "fp16 activation: outliers in one row, exact ±6, fp16(5.999)=6.0, 5.99609375, row max in an outlier column, a row of only outliers, a zero row")

    # mixed matmul
    xm = f32(rng.standard_normal((16, 96)) * 0.5)
    xm[3, 7] = 8.25
    xm[11, 7] = -9.5
    xm[6, 44] = -6.0
    xm[1, 80] = 12.0
    xm[2, 80] = 7.0
    xm[15, 80] = -6.75
    add("xm16x96", xm, "activation for int8_mixed_matmul, outlier columns 7, 44, 80 at t=6")
    xm1 = f32(rng.standard_normal((16, 96)) * 0.5)
    xm1[4, 29] = 10.5
    xm1[9, 29] = -6.25
    add("xm1_16x96", xm1, "activation for int8_mixed_matmul with exactly one outlier column (29)")
    wm = heavy_normal(rng, 40 * 96, scale=0.05, tail_frac=0.01).reshape(40, 96)
    add("wm40x96", wm, "weight for int8_mixed_matmul")
    add("bm40", f32(rng.standard_normal(40) * 0.1), "bias for int8_mixed_matmul")
    return inputs


# --------------------------------------------------------------------------------------------------
# Case generation
# --------------------------------------------------------------------------------------------------
class Store:
    def __init__(self):
        self.tensors: dict[str, torch.Tensor] = {}

    def put(self, name: str, t: torch.Tensor) -> str:
        assert name not in self.tensors, name
        self.tensors[name] = t.detach().contiguous().clone()
        return name


def input_tensor_name(iid: str, dtype_name: str) -> str:
    return f"input.{iid}" if dtype_name == "F32" else f"input.{iid}.{dtype_name.lower()}"


def quantize_4bit_case(store, inputs, iid, dtype_name, quant_type, blocksize, dq, keep_dequantized, extra_cpu_dequant=False):
    A = torch.from_numpy(inputs[iid]["array"]).to(DTYPES[dtype_name])
    shape = list(A.shape)
    name = f"q4.{iid}.{dtype_name.lower()}.{quant_type}.bs{blocksize}.{'dq' if dq else 'plain'}"
    case = {
        "name": name,
        "op": "quantize_4bit",
        "input": input_tensor_name(iid, dtype_name),
        "input_dtype": dtype_name,
        "shape": shape,
        "quant_type": quant_type,
        "blocksize": blocksize,
        "double_quant": dq,
        "outputs": {},
    }
    outs = case["outputs"]
    packed, st = F.quantize_4bit(A, blocksize=blocksize, compress_statistics=False, quant_type=quant_type)
    assert packed.dtype == torch.uint8 and list(packed.shape) == [(A.numel() + 1) // 2, 1]
    absmax = st.absmax
    outs["packed"] = store.put(f"{name}.packed", packed)

    if not dq:
        outs["absmax"] = store.put(f"{name}.absmax", absmax)
        absmax_f32 = absmax
    else:
        offset = absmax.mean()
        centred = absmax - offset
        qabs, nested = default_quantize_blockwise(centred, DYNAMIC_MAP, NESTED_BLOCKSIZE)
        q_t, n_t = transcribed_quantize_blockwise(centred, DYNAMIC_MAP, NESTED_BLOCKSIZE)
        assert torch.equal(qabs, q_t) and torch.equal(nested, n_t), f"{name}: redispatch != transcription"
        outs["absmax"] = store.put(f"{name}.absmax", qabs)
        outs["nested_absmax"] = store.put(f"{name}.nested_absmax", nested)
        outs["offset"] = store.put(f"{name}.offset", offset.reshape(1))
        case["offset"] = float(offset)
        case["offset_equals_float64_mean_rounded"] = bool(
            np.float32(np.mean(absmax.numpy().astype(np.float64))) == np.float32(offset.item())
        )
        emulated = torch_mean_f32(absmax.numpy(), torch.get_num_threads())
        assert emulated.view(np.uint32) == np.float32(offset.item()).view(np.uint32), f"{name}: mean emulation failed"
        absmax_f32 = default_dequantize_blockwise(qabs, nested, DYNAMIC_MAP, NESTED_BLOCKSIZE) + offset
        outs["absmax_dequantized"] = store.put(f"{name}.absmax_dequantized", absmax_f32)

        # What the real CPU path (C kernel for the nested step) gives.
        packed_cpu, st_cpu = F.quantize_4bit(A, blocksize=blocksize, compress_statistics=True, quant_type=quant_type)
        assert torch.equal(packed_cpu, packed), f"{name}: packed differs between dq and plain"
        cpu_q = st_cpu.absmax
        outs["cpu_kernel_absmax"] = store.put(f"{name}.cpu_kernel_absmax", cpu_q)
        d = cpu_q.to(torch.int16) - qabs.to(torch.int16)
        case["cpu_kernel_absmax_code_diffs"] = int((d != 0).sum())
        case["cpu_kernel_absmax_max_code_distance"] = int(d.abs().max()) if d.numel() else 0
        case["cpu_kernel_nested_absmax_equal"] = bool(torch.equal(st_cpu.state2.absmax, nested))
        case["cpu_kernel_offset_equal"] = bool(torch.equal(st_cpu.offset.reshape(1), offset.reshape(1)))

    # dequantized (float32) via the default kernel; compare with the library's CPU functional path.
    deq = default_dequantize_4bit(packed, absmax_f32, blocksize, quant_type, shape, torch.float32)
    assert list(deq.shape) == shape
    # independent check of the semantics: code[nibble] * absmax[i // blocksize]
    code = F.get_4bit_type(quant_type, device="cpu")
    flat = packed.reshape(-1)
    nib = torch.stack([flat >> 4, flat & 0xF], dim=1).reshape(-1)[: A.numel()].long()
    manual = code[nib] * absmax_f32.repeat_interleave(blocksize)[: A.numel()]
    assert torch.equal(manual.reshape(shape), deq), f"{name}: default dequant != code*absmax"

    if dq:
        state = F.QuantState(
            absmax=qabs, shape=A.shape, dtype=torch.float32, blocksize=blocksize, code=code, quant_type=quant_type,
            offset=offset, state2=F.QuantState(absmax=nested, code=DYNAMIC_MAP, blocksize=NESTED_BLOCKSIZE, dtype=torch.float32),
        )
    else:
        state = F.QuantState(absmax=absmax, shape=A.shape, dtype=torch.float32, blocksize=blocksize, code=code, quant_type=quant_type)
    lib_deq = F.dequantize_4bit(packed, state)
    # values compared flat: for 1-D inputs the CPU kernel returns shape (1, n) (or (n, 1) when the
    # packed tensor has one row), not (n,)
    case["cpu_dequant_kernel_agrees"] = bool(torch.equal(lib_deq.reshape(-1), deq.reshape(-1)))
    if list(lib_deq.shape) != shape:
        case["cpu_dequant_kernel_shape"] = list(lib_deq.shape)
    if extra_cpu_dequant:
        outs["cpu_kernel_dequantized"] = store.put(f"{name}.cpu_kernel_dequantized", lib_deq)
    if dtype_name != "F32":
        st_native = copy.copy(state)
        st_native.dtype = A.dtype
        native = F.dequantize_4bit(packed, st_native)
        native_default = default_dequantize_4bit(packed, absmax_f32, blocksize, quant_type, shape, A.dtype)
        case["native_dtype_dequant_equals_cast_of_f32"] = bool(
            torch.equal(native_default, deq.to(A.dtype)) and torch.equal(native.reshape(-1), native_default.reshape(-1))
        )
    if keep_dequantized:
        outs["dequantized"] = store.put(f"{name}.dequantized", deq)
    else:
        case["dequantized_omitted"] = (
            "size budget; equals quant_map[nibble] * absmax[i // blocksize] in float32 (verified by the generator)"
        )
    return case


def int8_weight_case(store, inputs, iid, src_dtype, note):
    src = torch.from_numpy(inputs[iid]["array"])
    name = f"w8.{iid}.{src_dtype.lower()}"
    W = src.half()  # for F16 inputs this is exactly the stored F16 tensor (same cast)
    case = {
        "name": name,
        "op": "int8_vectorwise_weight",
        "input": input_tensor_name(iid, src_dtype),
        "input_dtype": src_dtype,
        "shape": list(W.shape),
        "threshold": 0.0,
        "note": note,
        "outputs": {},
    }
    if src_dtype == "F32":
        case["cast_note"] = "the F32 input is cast to fp16 (round to nearest even) before quantizing"
    CB, SCB, cols = torch.ops.bitsandbytes.int8_vectorwise_quant(W.clone(), 0.0)
    assert cols is None
    deq = torch.ops.bitsandbytes.int8_vectorwise_dequant(CB, SCB)
    case["outputs"]["CB"] = store.put(f"{name}.CB", CB)
    case["outputs"]["SCB"] = store.put(f"{name}.SCB", SCB)
    case["outputs"]["dequantized"] = store.put(f"{name}.dequantized", deq)
    zero_rows = [int(i) for i in torch.nonzero(SCB == 0).reshape(-1)]
    if zero_rows:
        case["zero_rows"] = zero_rows
        case["zero_row_CB_values"] = sorted({int(v) for v in CB[zero_rows].reshape(-1).tolist()})
        case["zero_row_note"] = (
            "SCB = 0, so the library computes w * (127 / 0) = 0 * inf = NaN and casts NaN to int8 (undefined in C; "
            "this is what torch on this CPU produced)"
        )
    return case


def int8_activation_case(store, inputs, iid, threshold):
    X = torch.from_numpy(inputs[iid]["array"]).half()
    name = f"a8.{iid}.t{threshold:g}"
    Xc = X.clone()
    CA, SCA, cols = torch.ops.bitsandbytes.int8_vectorwise_quant(Xc, threshold)
    assert torch.equal(Xc, X), "int8_vectorwise_quant must restore its input"
    case = {
        "name": name,
        "op": "int8_vectorwise_activation",
        "input": input_tensor_name(iid, "F32"),
        "input_dtype": "F32",
        "cast_to": "F16",
        "shape": list(X.shape),
        "threshold": threshold,
        "outlier_cols_is_none": cols is None,
        "outputs": {},
    }
    if cols is None:
        cols = torch.empty(0, dtype=torch.int64)
    case["outputs"]["CA"] = store.put(f"{name}.CA", CA)
    case["outputs"]["SCA"] = store.put(f"{name}.SCA", SCA)
    case["outputs"]["outlier_cols"] = store.put(f"{name}.outlier_cols", cols.to(torch.int64))
    case["outlier_cols"] = [int(c) for c in cols.tolist()]
    case["zero_SCA_rows"] = [int(i) for i in torch.nonzero(SCA == 0).reshape(-1)]
    return case


def int8_matmul_case(store, inputs, xid, wid, bid, threshold):
    X = torch.from_numpy(inputs[xid]["array"]).half()
    W = torch.from_numpy(inputs[wid]["array"]).half()
    bias = torch.from_numpy(inputs[bid]["array"]).half()
    name = f"mm8.{xid}.t{threshold:g}"
    case = {
        "name": name,
        "op": "int8_mixed_matmul",
        "input": input_tensor_name(xid, "F32"),
        "weight": input_tensor_name(wid, "F32"),
        "bias": input_tensor_name(bid, "F32"),
        "input_dtype": "F32",
        "cast_to": "F16",
        "shape": list(X.shape),
        "weight_shape": list(W.shape),
        "threshold": threshold,
        "outputs": {},
    }
    outs = case["outputs"]
    CB, SCB, _ = torch.ops.bitsandbytes.int8_vectorwise_quant(W.clone(), 0.0)
    CA, SCA, cols = torch.ops.bitsandbytes.int8_vectorwise_quant(X.clone(), threshold)
    if threshold > 0.0:
        out, _subA = torch.ops.bitsandbytes.int8_mixed_scaled_mm(X, CA, CB, SCA, SCB, cols, bias)
    else:
        out = torch.ops.bitsandbytes.int8_scaled_mm(CA, CB, SCA, SCB, bias=bias, dtype=torch.float16)
    int8_part = torch.ops.bitsandbytes.int8_scaled_mm(CA, CB, SCA, SCB, bias=bias, dtype=torch.float16)
    acc = torch.ops.bitsandbytes.int8_linear_matmul(CA, CB)
    outs["CB"] = store.put(f"{name}.CB", CB)
    outs["SCB"] = store.put(f"{name}.SCB", SCB)
    outs["CA"] = store.put(f"{name}.CA", CA)
    outs["SCA"] = store.put(f"{name}.SCA", SCA)
    cols_t = cols if cols is not None else torch.empty(0, dtype=torch.int64)
    outs["outlier_cols"] = store.put(f"{name}.outlier_cols", cols_t.to(torch.int64))
    outs["int32_acc"] = store.put(f"{name}.int32_acc", acc)
    outs["int8_part"] = store.put(f"{name}.int8_part", int8_part)
    outs["output"] = store.put(f"{name}.output", out)
    case["outlier_cols"] = [int(c) for c in cols_t.tolist()]

    # Reference formulae, to tell the Swift side which arithmetic matches.
    f_int8 = ((acc.float() * (SCA.view(-1, 1) * SCB.view(1, -1))) * 6.200124e-05 + bias.float()).half()
    case["int8_part_matches_formula"] = bool(torch.equal(f_int8, int8_part))
    if cols_t.numel():
        subA = X[:, cols_t].float()
        subB = torch.ops.bitsandbytes.int8_vectorwise_dequant(CB[:, cols_t].contiguous(), SCB).half().t().float()
        accf = int8_part.float().clone()
        for j in range(cols_t.numel()):
            accf = accf + subA[:, j : j + 1] * subB[j : j + 1, :]
        seq = accf.half()
        dbl = (int8_part.double() + subA.double() @ subB.double()).half()
        case["output_vs_seq_fp32_then_round_mismatches"] = int((seq != out).sum())
        case["output_vs_exact_sum_then_round_mismatches"] = int((dbl != out).sum())
        case["output_max_ulp_vs_exact"] = int(
            (out.view(torch.int16).int() - dbl.view(torch.int16).int()).abs().max()
        )

    # bnb.nn.Linear8bitLt on the CPU
    for mode in ["eval", "train"]:
        try:
            layer = bnb.nn.Linear8bitLt(W.shape[1], W.shape[0], bias=True, has_fp16_weights=False, threshold=threshold)
            layer.weight = bnb.nn.Int8Params(W.clone(), requires_grad=False, has_fp16_weights=False)
            layer.bias = torch.nn.Parameter(bias.clone(), requires_grad=False)
            layer = layer.to("cpu")
            layer.eval() if mode == "eval" else layer.train()
            with torch.no_grad():
                y = layer(X.clone())
            outs[f"linear8bitlt_{mode}"] = store.put(f"{name}.linear8bitlt_{mode}", y)
            case[f"linear8bitlt_{mode}_equals_output"] = bool(torch.equal(y, out))
            case[f"linear8bitlt_{mode}_mismatches"] = int((y != out).sum())
        except Exception as e:  # pragma: no cover - recorded, not fatal
            case[f"linear8bitlt_{mode}_error"] = f"{type(e).__name__}: {e}"
    case["linear8bitlt_note"] = (
        "eval mode runs MatMul8bitLt (int8 path, same ops as 'output'); train mode on the CPU runs MatMul8bitFp "
        "(dequantized weight + F.linear in fp16), which is not the int8 path"
    )
    return case


def code_diff_summary(store, dq_cases) -> str:
    total = one = more = degenerate = 0
    for c in dq_cases:
        q = store.tensors[c["outputs"]["absmax"]].to(torch.int16)
        cq = store.tensors[c["outputs"]["cpu_kernel_absmax"]].to(torch.int16)
        d = (cq - q).abs()
        total += q.numel()
        if not c["cpu_kernel_nested_absmax_equal"]:
            degenerate += int((d != 0).sum())
            continue
        one += int((d == 1).sum())
        more += int((d > 1).sum())
    return (f"{one} one-code and {more} larger of {total} codes, plus {degenerate} in degenerate cases "
            f"(nested_absmax 0 or subnormal, where the C kernel stores a different nested_absmax)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(REPO / "Tests" / "Fixtures" / "bnb"))
    args = ap.parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    inputs = build_inputs(rng)
    store = Store()
    manifest_inputs = {}
    for iid, spec in inputs.items():
        arr = torch.from_numpy(spec["array"])
        store.put(input_tensor_name(iid, "F32"), arr)
        manifest_inputs[input_tensor_name(iid, "F32")] = {"id": iid, "dtype": "F32", "shape": spec["shape"], "note": spec["note"]}
    for iid in ["m33x130", "n4097", "n12293"]:
        for dn in ["F16", "BF16"]:
            t = torch.from_numpy(inputs[iid]["array"]).to(DTYPES[dn])
            store.put(input_tensor_name(iid, dn), t)
            manifest_inputs[input_tensor_name(iid, dn)] = {
                "id": iid, "dtype": dn, "shape": inputs[iid]["shape"],
                "note": f"{inputs[iid]['note']}; {dn} = round-to-nearest-even cast of the F32 values",
            }

    cases = []
    seen = set()

    def q4(iid, dn, qt, bs, dq, keep=True, extra=False):
        key = (iid, dn, qt, bs, dq)
        if key in seen:
            return
        seen.add(key)
        cases.append(quantize_4bit_case(store, inputs, iid, dn, qt, bs, dq, keep, extra))

    for qt in QUANT_TYPES:
        for dq in (False, True):
            # every combination on the 12293-long input (dequantized kept for bs 64 and 4096 only: size)
            for bs in BLOCKSIZES:
                q4("n12293", "F32", qt, bs, dq, keep=bs == 64 and (not dq or qt == "nf4"))
            # awkward inputs at blocksize 64
            for iid in ["n1", "n2", "n3", "n17", "n63", "n64", "n65", "n4097", "m33x130", "zeros200", "tiny300", "huge300", "mixed424"]:
                q4(iid, "F32", qt, 64, dq, keep=iid != "n4097" or (qt, dq) in (("nf4", False), ("fp4", True)))
            # a couple of other blocksizes
            for bs in (32, 128, 4096):
                for iid in ["n65", "m33x130", "zeros200", "tiny300", "huge300", "mixed424"]:
                    q4(iid, "F32", qt, bs, dq, keep=iid != "m33x130" or (bs == 128 and not dq))
            # 16-bit inputs
            for dn in ("F16", "BF16"):
                q4("m33x130", dn, qt, 64, dq, keep=qt == "nf4" and not dq)
                q4("n4097", dn, qt, 64, dq, keep=False)
                q4("n12293", dn, qt, 64, dq, keep=False)
        for bs in (32, 64, 128):
            q4("fmax192", "F32", qt, bs, False)
        # 2-D shape whose blocks straddle rows: the CPU dequant kernel disagrees
        for bs in (64, 128):
            q4("m8x96", "F32", qt, bs, False, extra=True)

    for iid, note in [
        ("w16x64", "16x64 with all-zero rows"),
        ("w7x5", "7x5"),
        ("w64x257", "64x257 F32, cast to fp16 first as transformers does"),
    ]:
        cases.append(int8_weight_case(store, inputs, iid, "F32", note))
    cases.append(int8_weight_case(store, inputs, "m33x130", "F16", "33x130 weight given as F16 (input.m33x130.f16)"))

    for t in (0.0, 1.5, 6.0):
        cases.append(int8_activation_case(store, inputs, "x24x96", t))

    cases.append(int8_matmul_case(store, inputs, "xm16x96", "wm40x96", "bm40", 6.0))
    cases.append(int8_matmul_case(store, inputs, "xm1_16x96", "wm40x96", "bm40", 6.0))
    cases.append(int8_matmul_case(store, inputs, "xm16x96", "wm40x96", "bm40", 0.0))

    cases += torch_mean_cases()

    nf4_bounds, _ = _get_4bit_quantize_bounds("nf4", torch.device("cpu"))
    fp4_bounds, fp4_order = _get_4bit_quantize_bounds("fp4", torch.device("cpu"))
    manifest = {
        "versions": VERSIONS,
        "generator": {
            "script": "scripts/make_quant_fixtures.py",
            "seed": SEED,
            "python": sys.version.split()[0],
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "nested_step": "torch.ops.bitsandbytes.quantize_blockwise redispatched to CompositeExplicitAutograd "
            "(bitsandbytes' pure-torch 'default' kernel), blocksize 256, code = create_dynamic_map()",
            "torch_compile": "disabled (torch._dynamo.config.disable = True)",
        },
        "notes": [
            "4-bit absmax: a full block stores max|x| as is (0 for an all-zero block) but scales with 1/max(absmax, 1e-38); "
            "the last partial block stores max(max|x|, 1e-38) and divides by it. The nested (double-quant) step follows the "
            "same rule with blocksize 256, so fewer than 256 absmax values (one partial block) get nested_absmax >= 1e-38.",
            "quantize: full blocks scaled = clamp(x * float32(1 / absmax), -1, 1); partial block scaled = clamp(x / absmax, -1, 1); "
            "index = number of bounds strictly below scaled (torch.bucketize, right=False); FP4 then maps through fp4_order.",
            "16-bit inputs are converted to float32 first; absmax and codes come from the float32 values.",
            "double-quant offset = torch float32 mean of the absmax vector = torch float32 sum / float32(n); the sum order is "
            "torch's (see op torch_mean_f32 and torch_sum_f32 in the generator) and depends on torch.get_num_threads() when "
            "there are >= 32768 absmax values. Every offset here was checked against that emulation.",
            "dequantized = quant_map[nibble] * absmax[i // blocksize] (float32); for double quant absmax = "
            "dynamic_map[q] * nested_absmax[j // 256] + offset (float32, multiply then add), stored as absmax_dequantized.",
            "int8 dequant = (float32(CB) * SCB) * int8_dequant_constant (float32(1/127)), two float32 roundings.",
        ],
        "nf4_code": flist(F.get_4bit_type("nf4", device="cpu")),
        "fp4_code": flist(F.get_4bit_type("fp4", device="cpu")),
        "dynamic_map": flist(DYNAMIC_MAP),
        "nf4_bounds": flist(nf4_bounds),
        "fp4_bounds": flist(fp4_bounds),
        "fp4_order": [int(i) for i in fp4_order.tolist()],
        "dynamic_map_bounds": flist((DYNAMIC_MAP[:-1] + DYNAMIC_MAP[1:]) / 2),
        "int8_dequant_constant": float(torch.tensor(7.874015718698502e-3, dtype=torch.float32)),
        "int8_mm_dequant_constant": float(torch.tensor(6.200124e-05, dtype=torch.float32)),
        "inputs": manifest_inputs,
        "cases": cases,
    }

    st_path = out_dir / "quant.safetensors"
    save_file(store.tensors, str(st_path), metadata={"generator": f"scripts/make_quant_fixtures.py (bitsandbytes {VERSIONS['bitsandbytes']})"})  # one key: safetensors writes a multi-key metadata map in random order
    os.chmod(st_path, 0o644)
    (out_dir / "cases.json").write_text(dump_manifest(manifest))

    # summary
    by_op = {}
    for c in cases:
        by_op.setdefault(c["op"], []).append(c)
    q4c = by_op.get("quantize_4bit", [])
    dqc = [c for c in q4c if c["double_quant"]]
    print(
        f"quantize_4bit: {len(q4c)} cases ({len(dqc)} double-quant; "
        f"{sum(1 for c in q4c if 'dequantized' in c['outputs'])} with dequantized; "
        f"combos on n12293: {len({(c['quant_type'], c['blocksize'], c['double_quant']) for c in q4c if c['input'] == 'input.n12293'})}/32); "
        f"cpu-kernel nested code diffs: {code_diff_summary(store, dqc)}; "
        f"cpu dequant kernel disagreed in {sum(1 for c in q4c if not c['cpu_dequant_kernel_agrees'])} cases; "
        f"offset != f64-mean-rounded in {sum(1 for c in dqc if not c['offset_equals_float64_mean_rounded'])} cases"
    )
    for op in ["int8_vectorwise_weight", "int8_vectorwise_activation", "int8_mixed_matmul", "torch_mean_f32"]:
        cs = by_op.get(op, [])
        extra = ""
        if op == "int8_mixed_matmul":
            extra = "; " + ", ".join(
                f"{c['name']}: linear8bitlt eval==output {c.get('linear8bitlt_eval_equals_output')}, train mismatches {c.get('linear8bitlt_train_mismatches')}"
                for c in cs
            )
        if op == "int8_vectorwise_weight":
            extra = "; zero-row CB values " + str({c["name"]: c.get("zero_row_CB_values") for c in cs if "zero_rows" in c})
        print(f"{op}: {len(cs)} cases{extra}")
    total = st_path.stat().st_size + (out_dir / "cases.json").stat().st_size
    print(f"inputs: {len(manifest_inputs)} tensors; tensors total: {len(store.tensors)}; "
          f"quant.safetensors {st_path.stat().st_size} bytes, cases.json {(out_dir / 'cases.json').stat().st_size} bytes, total {total} bytes")


if __name__ == "__main__":
    main()
