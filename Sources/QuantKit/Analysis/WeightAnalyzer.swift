import CQuantKernels
import Foundation
import Synchronization

/// The per-layer weight analysis: statistics, histogram, and the error and bytes of int8, NF4,
/// NF4+double quant, FP4 and FP4+double quant, bit-exact with bitsandbytes' quantizers.
///
/// Two streaming passes over the mapped weight, each split into row chunks across all cores:
///   1. qk_scan: 4-bit block absmax and int8 row absmax (what every quantizer needs before it can
///      start), and whether NaN or Inf occur;
///   2. decode again and run qk_analyze: statistics and histogram, and the error of every method
///      (quantized, dequantized and compared without writing any quantized data) — one loop over the
///      values, so the histogram's scalar work runs beside the vector work.
/// Between them, double quantization of the absmax (tiny). Memory: one chunk buffer per thread plus
/// n/blocksize absmax values; never a Float copy of the weight.
public struct WeightAnalyzer: Sendable {
    public var blocksize: Int
    public var threads: Int

    /// Elements per chunk, about 256 KB of Float: fits the L2 cache, many chunks per layer.
    static let chunkElements = 65_536

    public init(blocksize: Int = 64, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        precondition(FourBitQuantized.blocksizes.contains(blocksize))
        self.blocksize = blocksize
        self.threads = max(1, threads)
    }

    public func analyze(_ layer: LinearLayer, in checkpoint: Checkpoint, isCancelled: () -> Bool = { false }) throws -> LayerReport {
        let bytes = checkpoint.bytes(of: layer.weight)
        checkpoint.file(of: layer.weight).adviseSequential(offset: layer.weight.dataOffset, count: layer.weight.byteCount)
        defer { checkpoint.release(layer.weight) }
        let rows = layer.outFeatures, columns = layer.inFeatures, count = rows * columns
        let chunkRows = rowsPerChunk(columns: columns)
        let chunkCount = (rows + chunkRows - 1) / chunkRows
        let blockCount = (count + blocksize - 1) / blocksize
        let hasPartialBlock = count % blocksize != 0

        var blockAbsmax = [Float](repeating: 0, count: blockCount)
        var rowAbsmax = [Float](repeating: 0, count: rows)
        // A flag per chunk: did pass 1 meet NaN or Inf there? Pass 2 looks for them only where they are.
        var chunkHasSpecial = [Bool](repeating: false, count: chunkCount)
        try blockAbsmax.withUnsafeMutableBufferPointer { blocks in
            try rowAbsmax.withUnsafeMutableBufferPointer { rowMax in
                try chunkHasSpecial.withUnsafeMutableBufferPointer { special in
                    try forEachChunk(layer, bytes: bytes, chunkRows: chunkRows, chunkCount: chunkCount,
                                     isCancelled: isCancelled) { first, rowCount, data, dtype, chunk, _ in
                        let start = first * columns
                        special[chunk] = qk_scan(data, dtype, Int64(rowCount * columns), Int64(blocksize), Int64(columns),
                                                 blocks.baseAddress! + start / blocksize, rowMax.baseAddress! + first) != 0
                    }
                }
            }
        }
        if hasPartialBlock { blockAbsmax[blockCount - 1] = max(blockAbsmax[blockCount - 1], Blockwise.absmaxFloor) }
        let rowScale = rowAbsmax.map { Float(Float16($0)) }
        let doubleQuant = DoubleQuantizedAbsmax.quantize(blockAbsmax)
        let absmaxDQ = doubleQuant.reassembled

        // One accumulator per worker (8 KB each) for what adds up exactly in any order (counts, histogram,
        // extremes); the floating-point sums of each chunk apart, added in chunk order at the end, so the
        // report is the same bytes whichever worker took which chunk.
        var accumulators = [qk_accum](repeating: qk_accum(), count: threads)
        for i in accumulators.indices { qk_accum_init(&accumulators[i]) }
        var chunkSums = [Double](repeating: 0, count: chunkCount * Int(QK_ACCUM_SUMS))
        try measure(layer, bytes: bytes, chunkRows: chunkRows, chunkCount: chunkCount, blockAbsmax: blockAbsmax,
                    absmaxDQ: absmaxDQ, rowScale: rowScale, hasPartialBlock: hasPartialBlock,
                    chunkHasSpecial: chunkHasSpecial, into: &accumulators, sums: &chunkSums, isCancelled: isCancelled)
        var total = qk_accum()
        qk_accum_init(&total)
        for partial in accumulators { withUnsafePointer(to: partial) { qk_accum_merge(&total, $0) } }
        chunkSums.withUnsafeBufferPointer { sums in
            for chunk in 0..<chunkCount { qk_accum_add_sums(&total, sums.baseAddress! + chunk * Int(QK_ACCUM_SUMS)) }
        }
        return report(layer, total: total, rowScale: rowScale, nestedOffset: doubleQuant.offset)
    }

    /// A chunk's accumulator into its worker's, its floating-point sums set apart in `sums`.
    private static func merge(_ local: inout qk_accum, into worker: inout qk_accum, sums: UnsafeMutablePointer<Double>) {
        qk_accum_take_sums(&local, sums)
        withUnsafePointer(to: local) { qk_accum_merge(&worker, $0) }
    }

    /// Whole rows per chunk, chosen so every chunk starts on a 4-bit block boundary.
    private func rowsPerChunk(columns: Int) -> Int {
        let alignment = blocksize / gcd(columns, blocksize)
        let wanted = max(1, Self.chunkElements / max(columns, 1))
        return max(alignment, wanted / alignment * alignment)
    }

    /// Calls `body(firstRow, rowCount, data, kernelDType, chunkIndex, worker)` for every chunk, on
    /// `threads` workers (worker < threads). The kernels read F32/F16/BF16 straight from the mapping; only a transposed (Conv1D)
    /// weight is first gathered into a Float buffer, and a GGUF one decoded into it.
    private func forEachChunk(_ layer: LinearLayer, bytes: UnsafeRawBufferPointer, chunkRows: Int, chunkCount: Int,
                              isCancelled: () -> Bool,
                              _ body: (Int, Int, UnsafeRawPointer, Int32, Int, Int) -> Void) throws {
        let workers = min(threads, chunkCount)
        let columns = layer.inFeatures
        let dtype = layer.weight.dtype
        let decodes = layer.isTransposedInFile || layer.weight.gguf != nil
        let cancelled = Atomic(false)
        // Chunks are handed out one at a time, so a worker that starts late or runs slower takes fewer.
        let queue = ChunkQueue(count: chunkCount)
        Parallel.perform(iterations: workers) { worker in
            let buffer = decodes ? UnsafeMutablePointer<Float>.allocate(capacity: chunkRows * columns) : nil
            let scratch = decodes ? UnsafeMutablePointer<Float>.allocate(capacity: chunkRows) : nil
            defer { buffer?.deallocate(); scratch?.deallocate() }
            while let chunk = queue.next() {
                if isCancelled() { cancelled.store(true, ordering: .relaxed); return }
                let first = chunk * chunkRows
                let rowCount = min(chunkRows, layer.outFeatures - first)
                if let buffer, let scratch {
                    TensorDecoder.decodeRows(of: layer, bytes: bytes, firstRow: first, rowCount: rowCount,
                                             into: buffer, scratch: scratch)
                    body(first, rowCount, UnsafeRawPointer(buffer), Int32(QK_F32), chunk, worker)
                } else {
                    body(first, rowCount, bytes.baseAddress! + first * columns * dtype.byteSize, dtype.kernelCode, chunk, worker)
                }
            }
        }
        if cancelled.load(ordering: .relaxed) { throw CancellationError() }
    }

    /// Pass 2; worker w's statistics and errors go to accumulators[w], chunk c's sums to sums[c].
    private func measure(_ layer: LinearLayer, bytes: UnsafeRawBufferPointer, chunkRows: Int, chunkCount: Int,
                                  blockAbsmax: [Float], absmaxDQ: [Float], rowScale: [Float], hasPartialBlock: Bool,
                                  chunkHasSpecial: [Bool], into accumulators: inout [qk_accum], sums: inout [Double],
                                  isCancelled: () -> Bool) throws {
        let columns = layer.inFeatures
        let count = layer.parameterCount
        let tables = KernelTables.shared
        try accumulators.withUnsafeMutableBufferPointer { accumulators in
          try sums.withUnsafeMutableBufferPointer { sums in
            try forEachChunk(layer, bytes: bytes, chunkRows: chunkRows, chunkCount: chunkCount,
                             isCancelled: isCancelled) { first, rowCount, data, dtype, chunk, worker in
                let start = first * columns
                let elements = rowCount * columns
                let firstBlock = start / blocksize
                blockAbsmax.withUnsafeBufferPointer { absmax in
                    absmaxDQ.withUnsafeBufferPointer { absmaxDQ in
                        rowScale.withUnsafeBufferPointer { rowScale in
                            var range = qk_range()
                            range.data = data
                            range.dtype = dtype
                            range.has_special = chunkHasSpecial[chunk] ? 1 : 0
                            range.count = Int64(elements)
                            range.columns = Int64(columns)
                            range.blocksize = Int64(blocksize)
                            range.absmax = absmax.baseAddress! + firstBlock
                            range.absmax_dq = absmaxDQ.baseAddress! + firstBlock
                            range.last_block_partial = hasPartialBlock && start + elements == count ? 1 : 0
                            range.row_scale = rowScale.baseAddress! + first
                            tables.fill(&range)
                            var local = qk_accum()
                            qk_accum_init(&local)
                            qk_analyze(&range, &local)
                            Self.merge(&local, into: &accumulators[worker], sums: sums.baseAddress! + chunk * Int(QK_ACCUM_SUMS))
                        }
                    }
                }
            }
          }
        }
    }

    private func report(_ layer: LinearLayer, total: qk_accum, rowScale: [Float], nestedOffset: Float) -> LayerReport {
        let counted = layer.parameterCount - Int(total.nan_count)
        let mean = counted > 0 ? total.sum / Double(counted) : 0
        let variance = counted > 0 ? max(0, total.sum_sq / Double(counted) - mean * mean) : 0
        let sortedScale = rowScale.sorted()
        let statistics = WeightStatistics(
            count: layer.parameterCount, min: counted > 0 ? total.min : .nan, max: counted > 0 ? total.max : .nan,
            mean: mean, std: variance.squareRoot(), sumOfSquares: total.sum_sq, nanCount: Int(total.nan_count), infCount: Int(total.inf_count),
            rowAbsmaxMin: sortedScale.first ?? 0, rowAbsmaxMedian: sortedScale.isEmpty ? 0 : sortedScale[sortedScale.count / 2],
            rowAbsmaxMax: sortedScale.last ?? 0)
        let errorSquares = withUnsafeBytes(of: total.err_sq) { Array($0.bindMemory(to: Double.self)) }
        let errorMaxima = withUnsafeBytes(of: total.err_max) { Array($0.bindMemory(to: Float.self)) }
        let methods = QuantMethod.allCases.map { method -> MethodResult in
            let squared = errorSquares[method.kernelSlot]
            let bytes = method.serializedBytes(outFeatures: layer.outFeatures, inFeatures: layer.inFeatures, blocksize: blocksize,
                                               dtype: layer.weight.dtype.torchName,
                                               nestedOffset: method.usesDoubleQuant ? nestedOffset : nil)
            return MethodResult(method: method, bytes: bytes,
                                relativeError: (squared / total.sum_sq).squareRoot(),
                                rmse: (squared / Double(max(counted, 1))).squareRoot(),
                                maxAbsError: Double(errorMaxima[method.kernelSlot]),
                                snrDB: 10 * log10(total.sum_sq / squared))
        }
        let histogramCounts = withUnsafeBytes(of: total.hist) { Array($0.bindMemory(to: UInt64.self)) }
        let span = LogHistogram(counts: histogramCounts).span
        return LayerReport(name: layer.name, tensor: layer.weight.name, outFeatures: layer.outFeatures,
                           inFeatures: layer.inFeatures, dtype: layer.weight.dtype, transposedInFile: layer.isTransposedInFile,
                           bytes: layer.weight.elementCount * layer.weight.dtype.byteSize, statistics: statistics, methods: methods, nestedOffset: nestedOffset,
                           histogramFirstBin: span.firstBin, histogram: span.counts)
    }
}

/// The 4-bit tables in the order the kernel wants them (ascending positions), kept alive for its pointers.
/// Unchecked: the pointers are written once in `init` and only read after, from any thread.
final class KernelTables: @unchecked Sendable {
    static let shared = KernelTables()
    let nf4Midpoints: UnsafeMutablePointer<Float>
    let nf4Values: UnsafeMutablePointer<Float>
    let fp4Midpoints: UnsafeMutablePointer<Float>
    let fp4Values: UnsafeMutablePointer<Float>

    private init() {
        func table(_ values: [Float]) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: values.count)
            pointer.initialize(from: values, count: values.count)
            return pointer
        }
        func ascending(_ type: FourBitType) -> [Float] { type.indexOfPosition.map { type.code[Int($0)] } }
        nf4Midpoints = table(FourBitType.nf4.midpoints)
        nf4Values = table(ascending(.nf4))
        fp4Midpoints = table(FourBitType.fp4.midpoints)
        fp4Values = table(ascending(.fp4))
    }

    func fill(_ range: inout qk_range) {
        range.nf4_midpoints = UnsafePointer(nf4Midpoints)
        range.nf4_values = UnsafePointer(nf4Values)
        range.fp4_midpoints = UnsafePointer(fp4Midpoints)
        range.fp4_values = UnsafePointer(fp4Values)
    }
}

/// The next chunk index for whichever worker asks, until there are none.
private final class ChunkQueue: Sendable {
    private let nextChunk = Atomic(0)
    private let count: Int

    init(count: Int) { self.count = count }

    func next() -> Int? {
        let chunk = nextChunk.add(1, ordering: .relaxed).oldValue
        return chunk < count ? chunk : nil
    }
}

private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

extension DType {
    /// The analysis kernels' code for a decodable float type.
    var kernelCode: Int32 {
        switch self {
        case .f16: return Int32(QK_F16)
        case .bf16: return Int32(QK_BF16)
        default: return Int32(QK_F32)
        }
    }
}
