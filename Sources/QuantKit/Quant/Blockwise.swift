import CQuantKernels

/// bitsandbytes' blockwise quantization against a sorted code book (the pure-torch path it runs on
/// the CPU for 4-bit, and its default path for the 8-bit dynamic map of double quantization).
///
///     values (flattened) |── block 0 ──|── block 1 ──| … |─ partial ─|   blocks of `blocksize`
///     absmax[b]  = max |x| over block b (Float32; a partial last block's is clamped to ≥ 1e-38)
///     scaled     = clamp(x × (1 / max(absmax, 1e-38)), -1, 1)   full blocks: reciprocal, then multiply
///                  clamp(x / absmax, -1, 1)                      partial last block: a division
///     position   = number of midpoints strictly below `scaled`; index = order[position]
///
/// The reciprocal-then-multiply and the division differ in the last bit now and then; the library
/// does both, so this does too. NaN inputs are not given bitsandbytes' semantics.
public enum Blockwise {
    public static let absmaxFloor: Float = 1e-38

    /// Code indices (one per value) and the absmax of every block.
    public static func quantizeReference(
        _ values: UnsafeBufferPointer<Float>, blocksize: Int, midpoints: [Float], order: [UInt8]
    ) -> (indices: [UInt8], absmax: [Float]) {
        let count = values.count
        let fullBlocks = count / blocksize
        let hasPartial = count % blocksize != 0
        var indices = [UInt8](repeating: 0, count: count)
        var absmax = [Float](repeating: 0, count: fullBlocks + (hasPartial ? 1 : 0))
        for block in 0..<absmax.count {
            let start = block * blocksize
            let end = min(start + blocksize, count)
            var largest: Float = 0
            for i in start..<end { largest = max(largest, abs(values[i])) }
            let isPartial = block == fullBlocks
            if isPartial {
                let divisor = max(largest, absmaxFloor)
                absmax[block] = divisor
                for i in start..<end {
                    indices[i] = order[position(of: clampUnit(values[i] / divisor), in: midpoints)]
                }
            } else {
                absmax[block] = largest
                let reciprocal = 1 / max(largest, absmaxFloor)
                for i in start..<end {
                    indices[i] = order[position(of: clampUnit(values[i] * reciprocal), in: midpoints)]
                }
            }
        }
        return (indices, absmax)
    }

    /// The same results as `quantizeReference`, from the C kernel (tests hold the two to each other), in
    /// runs of whole blocks on all cores (blocks are independent; a run ending the values ends with the
    /// partial block, if any). `table` comes from `bucketTable(midpoints)`.
    public static func quantize(
        _ values: UnsafeBufferPointer<Float>, blocksize: Int, midpoints: [Float], table: [UInt8], order: [UInt8]
    ) -> (indices: [UInt8], absmax: [Float]) {
        let count = values.count
        let blocks = (count + blocksize - 1) / blocksize
        var indices = [UInt8](repeating: 0, count: count)
        var absmax = [Float](repeating: 0, count: blocks)
        indices.withUnsafeMutableBufferPointer { indices in
            absmax.withUnsafeMutableBufferPointer { absmax in
                let indices = indices.baseAddress!, absmax = absmax.baseAddress!
                Parallel.forEach(blocks, grain: max(1, parallelGrain / blocksize)) { run in
                    let start = run.lowerBound * blocksize, end = min(count, run.upperBound * blocksize)
                    qk_quantize_blockwise(values.baseAddress! + start, Int64(end - start), Int64(blocksize), midpoints,
                                          Int32(midpoints.count), table, order, indices + start, absmax + run.lowerBound)
                }
            }
        }
        return (indices, absmax)
    }

    /// Values per run of `quantize` worth a hand-off to another thread (a few hundred microseconds).
    static let parallelGrain = 65_536

    /// The kernel's lookup table for a set of midpoints (build once per code book).
    public static func bucketTable(_ midpoints: [Float]) -> [UInt8] {
        precondition(midpoints.count <= 255)
        var table = [UInt8](repeating: 0, count: 65536)
        table.withUnsafeMutableBufferPointer { qk_bucket_table_build(midpoints, Int32(midpoints.count), $0.baseAddress) }
        return table
    }

    /// value = code[index] × absmax[i / blocksize], in Float32 as the library multiplies.
    public static func dequantize(indices: [UInt8], absmax: [Float], code: [Float], blocksize: Int) -> [Float] {
        indices.enumerated().map { i, index in code[Int(index)] * absmax[i / blocksize] }
    }

    /// Number of midpoints strictly below `value` (torch.bucketize with right=False).
    @inline(__always)
    static func position(of value: Float, in midpoints: [Float]) -> Int {
        var low = 0
        var high = midpoints.count
        while low < high {
            let middle = (low + high) / 2
            if midpoints[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }

    @inline(__always)
    static func clampUnit(_ value: Float) -> Float { min(max(value, -1), 1) }
}
