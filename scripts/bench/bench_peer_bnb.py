#!/usr/bin/env python3
"""CPU timing of bitsandbytes doing what qtui's per-layer analysis does, on one 4096x11008 F16 weight.

    ~/refenv/bin/python scripts/bench/bench_peer_bnb.py [--out /tmp/qtui-bench/w4096x11008.safetensors] [--repeats 3]

Creates (once) a deterministic F16 tensor "model.layers.0.mlp.up_proj.weight" (normal * 0.02 with a few
heavy-tailed outliers) as a safetensors file, then times, best of --repeats, on the CPU:
NF4 quantize_4bit / dequantize_4bit / relative Frobenius error; the same with compress_statistics=True
(the library's real CPU path, C kernel for the nested step); FP4 likewise; int8_vectorwise_quant /
int8_vectorwise_dequant / error; a torch histogram of log2|w|. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: refenv.py and the script folders
from refenv import check_reference_versions  # noqa: E402  (scripts/refenv.py)


VERSIONS = check_reference_versions()

import logging  # noqa: E402

logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

import torch  # noqa: E402
import bitsandbytes.functional as F  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

TENSOR_NAME = "model.layers.0.mlp.up_proj.weight"
SHAPE = (4096, 11008)
SEED = 1234
HIST_BINS, HIST_MIN, HIST_MAX = 160, -24.0, 16.0  # quarter octaves over the fp16 range


def make_weight() -> torch.Tensor:
    g = torch.Generator().manual_seed(SEED)
    w = torch.randn(SHAPE, generator=g, dtype=torch.float32) * 0.02
    flat = w.view(-1)
    k = 512
    idx = torch.randperm(flat.numel(), generator=g)[:k]
    # heavy-tailed outliers: |t|-like magnitudes 0.1 .. ~8, random sign
    mag = 0.1 / torch.rand(k, generator=g).clamp_min(0.0125)
    sign = torch.where(torch.rand(k, generator=g) < 0.5, -1.0, 1.0)
    flat[idx] = mag * sign
    return w.half()


def ensure_file(path: Path) -> torch.Tensor:
    if path.exists():
        t = load_file(str(path)).get(TENSOR_NAME)
        if t is not None and tuple(t.shape) == SHAPE and t.dtype == torch.float16:
            return t
        print(f"note: {path} does not hold the expected tensor; recreating it", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = make_weight()
    save_file({TENSOR_NAME: t}, str(path), metadata={"generator": "scripts/bench/bench_peer_bnb.py", "seed": str(SEED)})
    return t


def rel_fro(D: torch.Tensor, W32: torch.Tensor, w_norm: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(D.float() - W32) / w_norm)


def best_of(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/qtui-bench/w4096x11008.safetensors")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    W = ensure_file(Path(args.out))
    n = W.numel()
    W32 = W.float()
    w_norm = torch.linalg.vector_norm(W32)
    secs, errors = {}, {}

    def timed(name, fn):
        s, out = best_of(fn, args.repeats)
        secs[name] = s
        return out

    for label, qt, dq in (("nf4", "nf4", False), ("nf4_dq", "nf4", True), ("fp4", "fp4", False)):
        packed, state = timed(f"{label}_quantize", lambda: F.quantize_4bit(W, blocksize=64, compress_statistics=dq, quant_type=qt))
        D = timed(f"{label}_dequantize", lambda: F.dequantize_4bit(packed, state))
        errors[label] = timed(f"{label}_error", lambda: rel_fro(D, W32, w_norm))
        del packed, state, D

    CB, SCB, _ = timed("int8_quantize", lambda: F.int8_vectorwise_quant(W))
    D = timed("int8_dequantize", lambda: F.int8_vectorwise_dequant(CB, SCB))
    errors["int8"] = timed("int8_error", lambda: rel_fro(D, W32, w_norm))
    del CB, SCB, D

    def hist():
        a = W32.abs()
        lg = torch.log2(a[a > 0])
        return torch.histc(lg, bins=HIST_BINS, min=HIST_MIN, max=HIST_MAX)

    h = timed("log2_histogram", hist)

    total = sum(secs.values())
    nf4_total = secs["nf4_quantize"] + secs["nf4_dequantize"] + secs["nf4_error"]
    print(json.dumps({
        "tensor_params": n,
        "seconds": secs,
        "total_seconds": total,
        "mparam_per_s_total": n / total / 1e6,
        "mparam_per_s_nf4": n / nf4_total / 1e6,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "rel_fro_err": errors,
        "histogram_counted": int(h.sum()),
        "file": args.out,
        "tensor": TENSOR_NAME,
        "versions": VERSIONS,
    }))


if __name__ == "__main__":
    main()
