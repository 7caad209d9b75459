#!/usr/bin/env python3
"""Bit-exact numpy-float32 emulation of ``torch.Tensor.mean()`` for a 1-D
contiguous float32 CPU tensor (torch 2.15.0, x86-64).

Why: bitsandbytes' double quantization computes ``offset = absmax.mean()``;
QuantKit must reproduce that float32 value bit-for-bit (see
Sources/QuantKit/Quant/TorchReduction.swift, which ports this file).

What torch does (aten/src/ATen/native/ReduceOps.cpp mean_out, CPU branch):
    mean = at::sum_out(result, self).div_(numel)      # float32 sum, float32 '/'
and the float sum is ``cascade_sum`` in aten/src/ATen/native/cpu/SumKernel.cpp:

* Vectorized<float> has 8 lanes (32-byte vectors).  The sum kernel is the same
  under the DEFAULT, AVX2 and AVX512 dispatch levels: SumKernel.cpp uses
  REGISTER_DISPATCH, which registers nullptr for the AVX512 slot, so AVX512
  CPUs fall back to the AVX2 kernel; the DEFAULT build's generic Vectorized
  is 32 bytes too (verified with ATEN_CPU_CAPABILITY=default/avx2/avx512).
* vectorized_inner_sum (n >= 8): the first ``8*(n//8)`` floats are viewed as
  ``n//8`` 8-lane vectors and summed with ``row_sum`` (ilp_factor 4): vectors
  are grouped as rows of 4 vectors -> ``multi_row_sum`` with 4 vector
  accumulators and a 4-level cascade; leftover (``(n//8) % 4``) vectors go into
  accumulator 0, then acc0 += acc1, += acc2, += acc3 (lane-wise).  Then a
  scalar ``final = 0``; the scalar tail (n % 8 floats) is added sequentially,
  and then the 8 lanes of the vector accumulator, lane 0..7 in order.
* n < 8: scalar ``row_sum`` (same cascade with 4 scalar accumulators).
* multi_row_sum(size rows): level_power = max(4, CeilLog2(size) // 4),
  level_step = 1 << level_power; full blocks of level_step rows are summed
  sequentially into acc[0] and then carried upward acc[j] += acc[j-1],
  acc[j-1] = 0 for j = 1..3, stopping at the first j with
  ``i & (level_mask << (j*level_power)) != 0`` (i = rows consumed so far).
  Leftover rows go into acc[0]; finally acc0 += acc1 += ... in order 1,2,3.
* Output starts at 0 and the kernel does ``out += result``.
* Threading (TensorIterator::parallel_reduce -> two_pass_reduction): if
  numel >= GRAIN_SIZE (32768) and get_num_threads() = T > 1, a buffer of T
  zeros is created; at::parallel_for(0, n, 32768) (OpenMP) uses
  nt = min(T, ceil(n/32768)) chunks of ceil(n/nt) elements (only if
  n > 32768, otherwise one chunk -> slot 0); chunk t is cascade-summed
  into slot t; finally the T-element buffer is cascade-summed (same kernel)
  into the 0-initialised output.  So the result depends on T.
"""
from __future__ import annotations

import numpy as np

F32 = np.float32
LANES = 8            # Vectorized<float>::size() used by SumKernel on x86-64
ILP = 4              # row_sum ilp_factor / multi_row_sum nrows
NUM_LEVELS = 4
GRAIN_SIZE = 32768   # at::internal::GRAIN_SIZE


def _ceil_log2(x: int) -> int:
    if x <= 2:
        return 1
    return int(x - 1).bit_length()


def _multi_row_sum(rows: np.ndarray) -> np.ndarray:
    """rows: shape (size, ILP, ...) float32.  Returns ILP accumulators (ILP, ...)."""
    size = rows.shape[0]
    tail_shape = rows.shape[1:]
    level_power = max(4, _ceil_log2(size) // NUM_LEVELS)
    level_step = 1 << level_power
    level_mask = level_step - 1
    acc = [np.zeros(tail_shape, F32) for _ in range(NUM_LEVELS)]

    nblocks = size // level_step
    if nblocks:
        blocks = rows[: nblocks * level_step].reshape((nblocks, level_step) + tail_shape)
        # acc[0] is exactly 0 at the start of every block; sequential sum of the
        # block = last element of a (strictly sequential) cumsum, added to +0.
        bsums = F32(0) + np.cumsum(blocks, axis=1, dtype=F32)[:, -1]
        i = 0
        for b in range(nblocks):
            acc[0] = acc[0] + bsums[b]   # acc[0] == 0 here
            i += level_step
            for j in range(1, NUM_LEVELS):
                acc[j] = acc[j] + acc[j - 1]
                acc[j - 1] = np.zeros(tail_shape, F32)
                if i & (level_mask << (j * level_power)):
                    break
    rem = rows[nblocks * level_step:]
    if rem.shape[0]:
        # acc[0] is 0 here as well (every block pushes it up).
        acc[0] = acc[0] + np.cumsum(rem, axis=0, dtype=F32)[-1]
    for j in range(1, NUM_LEVELS):
        acc[0] = acc[0] + acc[j]
    return acc[0]  # shape tail_shape = (ILP, ...)


def _row_sum(items: np.ndarray) -> np.ndarray:
    """items: shape (size, ...) -- scalars (size,) or vectors (size, LANES)."""
    size = items.shape[0]
    size_ilp = size // ILP
    rows = items[: size_ilp * ILP].reshape((size_ilp, ILP) + items.shape[1:])
    partial = _multi_row_sum(rows)  # (ILP, ...)
    p0 = partial[0]
    for i in range(size_ilp * ILP, size):
        p0 = p0 + items[i]
    for k in range(1, ILP):
        p0 = p0 + partial[k]
    return p0


def _serial_sum(a: np.ndarray) -> np.float32:
    """cascade_sum of one contiguous 1-D float32 range, added to a 0 output."""
    n = a.shape[0]
    if n >= LANES:
        vec_size = n // LANES
        vec = _row_sum(a[: vec_size * LANES].reshape(vec_size, LANES))
        final = F32(0)
        for x in a[vec_size * LANES:]:
            final = F32(final + x)
        for x in vec:
            final = F32(final + x)
    else:
        final = F32(_row_sum(a)) if n else F32(0)
    return F32(F32(0) + final)  # out.fill_(0); out += final


def torch_sum_f32(a: np.ndarray, num_threads: int = 1) -> np.float32:
    a = np.ascontiguousarray(a, dtype=F32).reshape(-1)
    n = a.shape[0]
    if n < GRAIN_SIZE or num_threads == 1:
        return _serial_sum(a)
    # two_pass_reduction
    buf = np.zeros(num_threads, F32)
    if n > GRAIN_SIZE:
        nt = min(num_threads, -(-n // GRAIN_SIZE))
        chunk = -(-n // nt)
        for t in range(nt):
            b = t * chunk
            if b < n:
                buf[t] = _serial_sum(a[b: min(n, b + chunk)])  # 0 + chunk sum
    else:
        buf[0] = _serial_sum(a)
    return _serial_sum(buf)


def torch_mean_f32(a: np.ndarray, num_threads: int = 1) -> np.float32:
    """float32 result of torch.from_numpy(a).mean() with torch.get_num_threads() == num_threads."""
    a = np.ascontiguousarray(a, dtype=F32).reshape(-1)
    n = a.shape[0]
    return F32(torch_sum_f32(a, num_threads) / F32(n))


# --------------------------------------------------------------------------
# Self-check against torch
# --------------------------------------------------------------------------

def test_sizes(rng: np.random.Generator, n_random: int = 1650) -> list[int]:
    sizes = list(range(1, 301))
    special = set()
    for k in range(9, 22):                       # 512 .. 2M
        special.update({(1 << k) - 1, 1 << k, (1 << k) + 1})
    for k in (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 63, 64, 100, 255, 256, 257, 511, 512, 700, 732):
        special.update({4096 * k - 1, 4096 * k, 4096 * k + 1})
    special.update({32767, 32768, 32769, 49152, 65535, 65536, 65537, 98304, 3_000_000})
    sizes += sorted(s for s in special if 300 < s <= 3_000_000)
    lo, hi = np.log(301), np.log(3_000_000)
    sizes += [int(np.exp(rng.uniform(lo, hi))) for _ in range(n_random)]
    return sizes


def test_values(rng: np.random.Generator, n: int, kind: int) -> np.ndarray:
    kind %= 7
    if kind == 0:      # absmax-like: product of uniforms, scaled
        v = rng.random(n) * rng.random(n) * 3
    elif kind == 1:    # log-uniform in [1e-3, 10]
        v = np.exp(rng.uniform(np.log(1e-3), np.log(10.0), n))
    elif kind == 2:    # uniform in [1e-3, 10]
        v = rng.uniform(1e-3, 10.0, n)
    elif kind == 3:    # real absmax statistics of 64-blocks of N(0, 0.02)
        v = np.abs(rng.normal(0, 0.02, (n, 64))).max(axis=1) if n <= 200_000 else \
            rng.gamma(20.0, 0.003, n)
    elif kind == 4:    # huge dynamic range
        v = 10.0 ** rng.uniform(-30, 30, n)
    elif kind == 5:    # a few outliers on top of small values
        v = rng.random(n) * 0.01
        idx = rng.integers(0, n, max(1, n // 1000))
        v[idx] = rng.uniform(1e3, 1e5, idx.size)
    else:              # mixed sign (not absmax, robustness only)
        v = rng.normal(0, 1, n)
    return v.astype(F32)


def test_cases(seed: int = 12345):
    """Yields (index, array) for the self-check (>= 2000 arrays)."""
    rng = np.random.default_rng(seed)
    for i, n in enumerate(test_sizes(rng)):
        yield i, test_values(rng, n, i)


def _bits(x) -> int:
    return int(np.asarray(x, dtype=F32).view(np.uint32))


if __name__ == "__main__":
    import sys
    import torch

    default_threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}, "
          f"default threads {default_threads}")
    thread_counts = sorted({1, default_threads})
    total = matched = naive_ok = 0
    for i, a in test_cases():
        t = torch.from_numpy(a)
        for th in thread_counts:
            torch.set_num_threads(th)
            ref = t.mean().numpy()
            got = torch_mean_f32(a, th)
            total += 1
            if _bits(ref) == _bits(got):
                matched += 1
            else:
                print(f"MISMATCH case {i} n={a.size} threads={th}: torch {ref!r} emu {got!r}")
            naive_ok += _bits(ref) == _bits(F32(np.mean(a, dtype=np.float64)))
    torch.set_num_threads(default_threads)
    n_arrays = total // len(thread_counts)
    print(f"{n_arrays} arrays x threads {thread_counts}: {matched}/{total} bit-exact "
          f"({100.0 * matched / total:.2f}%); float64-mean-rounded baseline {naive_ok}/{total}")
    sys.exit(0 if matched == total else 1)
