/// Bit-exact reproduction of `torch.Tensor.mean()` for a 1-D contiguous float32 CPU tensor
/// (torch 2.15, x86-64).
///
/// Why this exists: bitsandbytes' double quantization (nested quant state) computes
/// `offset = absmax.mean()` in float32 and quantizes `absmax - offset`. To write a `quant_state`
/// that is byte-identical to bitsandbytes' output, the offset has to be the same float32 value, and
/// a float64 mean rounded to Float differs from torch's result in about 40% of cases. Torch's
/// value depends on the exact order of its float32 additions, which is reproduced here.
///
/// What torch does (`mean_out` in ATen/native/ReduceOps.cpp; `cascade_sum` in
/// ATen/native/cpu/SumKernel.cpp; `parallel_reduce` in ATen/TensorIteratorReduce.cpp):
///
/// * `mean = sum / Float(n)`: a float32 sum, then one float32 division (not a reciprocal multiply).
/// * The sum kernel treats `Vectorized<float>` as 8 lanes. This holds for the DEFAULT, AVX2 *and*
///   AVX512 dispatch levels: `REGISTER_DISPATCH` leaves the AVX512 slot of `sum_stub` empty, so
///   AVX512 machines run the AVX2 kernel. Only the lanes' additions run in parallel; they are
///   independent IEEE adds with no FMA, so they are plain scalar `Float` adds in lane order.
/// * For `n >= 8`, the first `8 * (n / 8)` floats are read as `n / 8` vectors of 8 lanes and summed
///   by `row_sum` (ILP factor 4): consecutive groups of 4 vectors form the rows of `multi_row_sum`,
///   which keeps 4 vector accumulators in a 4-level cascade. `levelPower = max(4, ceilLog2(rows) / 4)`
///   and `levelStep = 1 << levelPower`. Each full block of `levelStep` rows is added in order into
///   level 0 and then carried upward with `acc[j] += acc[j-1]; acc[j-1] = 0` for `j = 1...3`,
///   stopping after the first `j` where `rowsDone & (levelMask << (j * levelPower))` is non-zero.
///   Leftover rows go into level 0, and then level 0 gets `+= level 1`, `+= level 2`, `+= level 3`.
///   Back in `row_sum`, the leftover vectors (`(n / 8) % 4`) are added to accumulator 0, and then
///   accumulator 0 gets `+= acc 1`, `+= acc 2`, `+= acc 3`, all lane-wise. Finally a scalar starts at
///   0 and gets the `n % 8` tail floats in order, then lanes 0...7 of that vector. The output
///   tensor starts at 0 and torch does `out += result`.
/// * For `n < 8` the same `row_sum` runs on scalars (4 scalar accumulators).
/// * Threading: for `n >= 32768` (`GRAIN_SIZE`) with `T = torch.get_num_threads() > 1`, torch sums
///   `min(T, ceil(n / 32768))` contiguous chunks of `ceil(n / chunks)` elements into the slots of a
///   `T`-element zero buffer, then sums that buffer with the same kernel. The result depends on `T`.
///   Pass `threadCount` equal to torch's intra-op thread count. The default of 1 reproduces
///   `torch.set_num_threads(1)`, and every `n < 32768` is independent of `T`.
///
/// `scripts/tools/torch_mean_emulation.py` holds the same algorithm in numpy, together with its self-check
/// against torch.
public func torchMeanFloat32(_ values: UnsafeBufferPointer<Float>, threadCount: Int = 1) -> Float {
    let sum = torchSumFloat32(values, threadCount: threadCount)
    return sum / Float(values.count)
}

/// `torchMeanFloat32` for an array. See the buffer overload for the summation order.
public func torchMeanFloat32(_ values: [Float], threadCount: Int = 1) -> Float {
    values.withUnsafeBufferPointer { torchMeanFloat32($0, threadCount: threadCount) }
}

/// The float32 result of `torch.sum` for a 1-D contiguous float32 CPU tensor. Torch's `mean` divides
/// this result by the element count.
func torchSumFloat32(_ values: UnsafeBufferPointer<Float>, threadCount: Int = 1) -> Float {
    let n = values.count
    guard let base = values.baseAddress, n > 0 else { return 0 }
    if n < TorchSum.grainSize || threadCount <= 1 {
        return TorchSum.serialSum(base, count: n)
    }
    // two_pass_reduction: one zero-initialised slot per thread, then sum the slots.
    var slots = [Float](repeating: 0, count: threadCount)
    if n > TorchSum.grainSize {
        let chunks = min(threadCount, (n + TorchSum.grainSize - 1) / TorchSum.grainSize)
        let chunkSize = (n + chunks - 1) / chunks
        for t in 0..<chunks {
            let begin = t * chunkSize
            if begin < n {
                slots[t] = TorchSum.serialSum(base + begin, count: min(n, begin + chunkSize) - begin)
            }
        }
    } else {
        slots[0] = TorchSum.serialSum(base, count: n)
    }
    return slots.withUnsafeBufferPointer { TorchSum.serialSum($0.baseAddress!, count: threadCount) }
}

private enum TorchSum {
    /// `Vectorized<float>::size()` for the kernel torch runs on x86-64 (see the doc comment above).
    static let lanes = 8
    /// `ilp_factor` in `row_sum`, and therefore `nrows` in `multi_row_sum`.
    static let ilp = 4
    static let numLevels = 4
    /// `at::internal::GRAIN_SIZE`
    static let grainSize = 32768

    /// `utils::CeilLog2`
    static func ceilLog2(_ x: Int) -> Int {
        if x <= 2 { return 1 }
        return UInt64.bitWidth - UInt64(x - 1).leadingZeroBitCount
    }

    /// One `cascade_sum` call over a contiguous range, stored into a zero output (`0 + result`).
    static func serialSum(_ data: UnsafePointer<Float>, count n: Int) -> Float {
        // numLevels x ilp x lanes accumulators for multi_row_sum; its level 0 holds the result.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: numLevels * ilp * lanes) { scratch in
            let acc = scratch.baseAddress!
            var result: Float = 0
            if n >= lanes {
                let vecCount = n / lanes
                rowSum(data, items: vecCount, width: lanes, acc: acc)
                for k in (vecCount * lanes)..<n {
                    result += data[k]
                }
                for lane in 0..<lanes {
                    result += acc[lane]
                }
            } else {
                rowSum(data, items: n, width: 1, acc: acc)
                result = acc[0]
            }
            return 0 + result
        }
    }

    /// `row_sum`: items of `width` floats (1 = scalars, `lanes` = vectors), left in `acc[0..<width]`.
    static func rowSum(_ data: UnsafePointer<Float>, items: Int, width: Int, acc: UnsafeMutablePointer<Float>) {
        let rows = items / ilp
        multiRowSum(data, rows: rows, width: width, acc: acc)
        // acc[k * width ..< (k + 1) * width] is partial sum k.
        for i in (rows * ilp)..<items {
            let item = data + i * width
            for e in 0..<width {
                acc[e] += item[e]
            }
        }
        for k in 1..<ilp {
            let partial = acc + k * width
            for e in 0..<width {
                acc[e] += partial[e]
            }
        }
    }

    /// `multi_row_sum` with `ilp` columns of `width` floats per row. Leaves the `ilp` column sums in
    /// `acc[0 ..< ilp * width]`.
    static func multiRowSum(_ data: UnsafePointer<Float>, rows size: Int, width: Int, acc: UnsafeMutablePointer<Float>) {
        let rowLength = ilp * width
        acc.initialize(repeating: 0, count: numLevels * rowLength)
        let levelPower = max(4, ceilLog2(size) / numLevels)
        let levelStep = 1 << levelPower
        let levelMask = levelStep - 1

        var i = 0
        while i + levelStep <= size {
            for _ in 0..<levelStep {
                let row = data + i * rowLength
                for e in 0..<rowLength {
                    acc[e] += row[e]
                }
                i += 1
            }
            for j in 1..<numLevels {
                let upper = acc + j * rowLength
                let lower = acc + (j - 1) * rowLength
                for e in 0..<rowLength {
                    upper[e] += lower[e]
                    lower[e] = 0
                }
                if i & (levelMask << (j * levelPower)) != 0 {
                    break
                }
            }
        }
        while i < size {
            let row = data + i * rowLength
            for e in 0..<rowLength {
                acc[e] += row[e]
            }
            i += 1
        }
        for j in 1..<numLevels {
            let level = acc + j * rowLength
            for e in 0..<rowLength {
                acc[e] += level[e]
            }
        }
    }
}
