import CQuantKernels
import Synchronization

/// How much each method changes a layer's *output* on real calibration activations:
/// ‖Y_q − Y‖_F / ‖Y‖_F with Y = X·Wᵀ in fp32, X the sampled input rows.
///
///     int8 at threshold t (LLM.int8, as bitsandbytes computes it):
///       outlier columns C = columns of fp16(X) with any |x| ≥ t; CA, SCA = row-wise int8 of fp16(X)
///       without them; CB, SCB = row-wise int8 of fp16(W)
///       Y_q = (CA·CBᵀ) × (SCA ⊗ SCB) × 6.200124e-05 + X[:, C] · dequant(CB)[:, C]ᵀ
///       (CA·CBᵀ exact in int32, as torch._int_mm computes it, then converted to fp32)
///       (the outlier columns in the activations' own precision: fp16 in an fp16 model; here fp32,
///       as bitsandbytes computes an fp32 model)
///     t = 0 is pure int8 (no decomposition); nf4 / fp4 (± double quant): Y_q = X · dequant(W_q)ᵀ
///
/// The int8 error is a step function of t that changes only where t crosses a value of the sample; it
/// is computed on a grid of thresholds (once per distinct quantization of the sample).
public struct ActivationErrors: Sendable, Equatable {
    public let thresholds: [Float]
    /// int8 with decomposition at each grid threshold.
    public let int8: [Double]
    /// Outlier columns of the sample at each grid threshold.
    public let sampleOutlierColumns: [Int]
    public let int8Pure: Double
    public let fourBit: [QuantMethod: Double]
    public let sampleRows: Int

    public static let defaultGrid: [Float] = stride(from: Float(0.5), through: 12, by: 0.5).map { $0 } + [14, 16, 20, 24, 32]

    /// The int8 error at `threshold`: exact on a grid point, else the nearest grid point below (marked
    /// not exact). Below the grid's first point: that point's value.
    public func int8Error(at threshold: Float) -> (value: Double, exact: Bool) {
        guard threshold > 0 else { return (int8Pure, true) }
        guard let index = thresholds.lastIndex(where: { $0 <= threshold }) else { return (int8[0], false) }
        return (int8[index], thresholds[index] == threshold)
    }

    /// Measures one layer on `sample` (rows × in_features). `isCancelled` (called from several threads) is
    /// asked before each job — a 7B MLP layer's measurement runs for seconds — and stops the measurement
    /// with `CancellationError`.
    public static func measure(_ layer: LinearLayer, in checkpoint: Checkpoint, sample: [Float], rows: Int,
                               blocksize: Int = 64, grid: [Float] = defaultGrid,
                               isCancelled: () -> Bool = { false }) throws -> ActivationErrors {
        let n = layer.outFeatures, k = layer.inFeatures
        precondition(sample.count == rows * k)
        let weight = decodedWeight(layer, in: checkpoint)
        let reference = BLAS.product(sample, rows: rows, weight, n: n, k: k)

        let int8Weight = Int8Weight(weight, n: n, k: k)
        // Thresholds that quantize the sample identically (same outlier columns, same row scales) give
        // the same output: measured once. Pure int8 (threshold 0) is one more quantization — the same as
        // any grid threshold above every value of the sample, so usually measured already.
        struct Quantized: Hashable { let columns: [Int]; let scale: [Float] }
        var distinct: [Int8Rowwise] = []
        var known: [Quantized: Int] = [:]
        func measurement(of activation: Int8Rowwise) -> Int {
            let key = Quantized(columns: activation.outlierColumns, scale: activation.scale)
            if let index = known[key] { return index }
            known[key] = distinct.count
            distinct.append(activation)
            return distinct.count - 1
        }
        // Ascending thresholds with no sample value between them (qk_threshold_intervals) are not even
        // quantized again.
        var measurementOfThreshold = [Int](repeating: 0, count: grid.count)
        var outliers = [Int](repeating: 0, count: grid.count)
        let sameAsBelow = thresholdsQuantizingAlike(sample, grid: grid)
        for index in grid.indices.sorted(by: { grid[$0] < grid[$1] }) {
            if let below = sameAsBelow[index] {
                (measurementOfThreshold[index], outliers[index]) = (measurementOfThreshold[below], outliers[below])
                continue
            }
            let activation = Int8Rowwise.quantize(sample, rows: rows, columns: k, threshold: grid[index])
            measurementOfThreshold[index] = measurement(of: activation)
            outliers[index] = activation.outlierColumns.count
        }
        let pure = measurement(of: Int8Rowwise.quantize(sample, rows: rows, columns: k))

        // The 4-bit types (plain and double-quant each; the longest jobs: first) and every distinct int8
        // quantization run as separate jobs on all cores; each job's result is what it would be alone,
        // and at most one job per core holds its buffers (a 4-bit job one weight's worth of Float and its
        // 4-bit codes, an int8 job the weight's outlier columns) at a time.
        let fourBitTypes = FourBitType.allCases
        var results = [Double](repeating: 0, count: 2 * fourBitTypes.count + distinct.count)
        let cancelled = Atomic(false)
        results.withUnsafeMutableBufferPointer { results in
            Parallel.perform(iterations: fourBitTypes.count + distinct.count) { job in
                if cancelled.load(ordering: .relaxed) || isCancelled() {
                    cancelled.store(true, ordering: .relaxed)
                } else if job < fourBitTypes.count {
                    let errors = fourBitErrors(weight, type: fourBitTypes[job], blocksize: blocksize, sample: sample, rows: rows,
                                               n: n, k: k, reference: reference)
                    (results[2 * job], results[2 * job + 1]) = errors
                } else {
                    let activation = distinct[job - fourBitTypes.count]
                    results[fourBitTypes.count + job] = relativeError(int8Weight.output(activation, sample: sample), reference)
                }
            }
        }
        if cancelled.load(ordering: .relaxed) { throw CancellationError() }
        var fourBit: [QuantMethod: Double] = [:]
        for (index, type) in fourBitTypes.enumerated() {
            fourBit[type == .nf4 ? .nf4 : .fp4] = results[2 * index]
            fourBit[type == .nf4 ? .nf4DoubleQuant : .fp4DoubleQuant] = results[2 * index + 1]
        }
        let int8 = Array(results[(2 * fourBitTypes.count)...])
        return ActivationErrors(thresholds: grid, int8: measurementOfThreshold.map { int8[$0] }, sampleOutlierColumns: outliers,
                                int8Pure: int8[pure], fourBit: fourBit, sampleRows: rows)
    }

    /// For each grid index, the index of the next lower (positive) threshold that quantizes `sample` the
    /// same way — no |fp16(x)| of the sample lies between their fp16 limits — or nil.
    static func thresholdsQuantizingAlike(_ sample: [Float], grid: [Float]) -> [Int?] {
        let ascending = grid.indices.filter { grid[$0] > 0 }.sorted { grid[$0] < grid[$1] }
        var sameAsBelow = [Int?](repeating: nil, count: grid.count)
        guard ascending.count > 1 else { return sameAsBelow }
        let limits = ascending.map { Float(Float16(grid[$0])) }
        var occupied = [UInt8](repeating: 0, count: limits.count)
        qk_threshold_intervals(sample, Int64(sample.count), limits, Int32(limits.count), &occupied)
        for position in 1..<ascending.count where occupied[position - 1] == 0 {
            sameAsBelow[ascending[position]] = ascending[position - 1]
        }
        return sameAsBelow
    }

    /// The output error of one 4-bit type, plain and with double-quantized absmax.
    private static func fourBitErrors(_ weight: [Float], type: FourBitType, blocksize: Int, sample: [Float], rows: Int,
                                      n: Int, k: Int, reference: [Float]) -> (plain: Double, doubleQuant: Double) {
        let (packed, absmax) = weight.withUnsafeBytes {
            FourBitCodec.quantize($0.baseAddress!, dtype: .f32, count: n * k, type: type, blocksize: blocksize)
        }
        // One weight's worth of Float: the nested reconstruction overwrites the plain one once measured.
        var weight = FourBitCodec.dequantized(packed, absmax: absmax, type: type, blocksize: blocksize, count: n * k)
        let plainError = relativeError(BLAS.product(sample, rows: rows, weight, n: n, k: k), reference)
        let reassembled = DoubleQuantizedAbsmax.quantize(absmax).reassembled
        weight.withUnsafeMutableBufferPointer {
            FourBitCodec.dequantize(packed, absmax: reassembled, type: type, blocksize: blocksize, count: n * k, into: $0.baseAddress!)
        }
        return (plainError, relativeError(BLAS.product(sample, rows: rows, weight, n: n, k: k), reference))
    }

    /// The int8 output error at one threshold (the explorer refines off-grid thresholds with it).
    public static func int8Error(_ layer: LinearLayer, in checkpoint: Checkpoint, sample: [Float], rows: Int, threshold: Float) -> Double {
        let n = layer.outFeatures, k = layer.inFeatures
        let weight = decodedWeight(layer, in: checkpoint)
        let reference = BLAS.product(sample, rows: rows, weight, n: n, k: k)
        return relativeError(Int8Weight(weight, n: n, k: k).output(sample, rows: rows, threshold: threshold), reference)
    }

    /// The weight as [out × in] Float.
    static func decodedWeight(_ layer: LinearLayer, in checkpoint: Checkpoint) -> [Float] {
        defer { checkpoint.release(layer.weight) }
        let bytes = checkpoint.bytes(of: layer.weight), columns = layer.inFeatures
        return [Float](unsafeUninitializedCapacity: layer.parameterCount) { weight, initialized in
            // Row ranges on all cores, each with its own scratch (a transposed layout gathers through it).
            Parallel.forEach(layer.outFeatures, grain: max(1, 1 << 16 / max(columns, 1))) { rows in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: rows.count)
                defer { scratch.deallocate() }
                TensorDecoder.decodeRows(of: layer, bytes: bytes, firstRow: rows.lowerBound, rowCount: rows.count,
                                         into: weight.baseAddress! + rows.lowerBound * columns, scratch: scratch)
            }
            initialized = layer.parameterCount
        }
    }

    static func relativeError(_ approximate: [Float], _ exact: [Float]) -> Double {
        var difference = 0.0, norm = 0.0
        for i in exact.indices {
            let e = Double(approximate[i]) - Double(exact[i])
            difference += e * e
            norm += Double(exact[i]) * Double(exact[i])
        }
        return norm > 0 ? (difference / norm).squareRoot() : 0
    }

}

/// A weight quantized to int8 for the LLM.int8 product, with what the product needs pre-computed.
struct Int8Weight: Sendable {
    let n: Int
    let k: Int
    /// CB in the layout qk_int8_product streams (qk_int8_pack; `code(row:column:)` reads it back), and
    /// the column offsets its AVX-512 path subtracts.
    private let packed: [Int8]
    private let columnOffsets: [Int32]
    /// SCB: max |fp16(w)| of each row.
    let scale: [Float]

    init(_ weight: [Float], n: Int, k: Int) {
        self = weight.withUnsafeBufferPointer { Int8Weight($0.baseAddress!, n: n, k: k) }
    }

    /// From the weight as [n × k] Float at `weight`.
    init(_ weight: UnsafePointer<Float>, n: Int, k: Int) {
        precondition(k <= Int(QK_INT8_PRODUCT_MAX_K), "the int32 product would overflow")
        self.n = n
        self.k = k
        var codes = [Int8](repeating: 0, count: n * k)
        var scale = [Float](repeating: 0, count: n)
        var packed = [Int8](repeating: 0, count: Int(qk_int8_packed_size(Int64(n), Int64(k))))
        var columnOffsets = [Int32](repeating: 0, count: (n + 15) / 16 * 16)
        // Groups of 16 rows on all cores: rows quantize alone, and a group's tiles and column offsets are
        // contiguous in the packed layout.
        let tileBytes = Int(qk_int8_packed_size(16, Int64(k)))
        codes.withUnsafeMutableBufferPointer { codes in
            scale.withUnsafeMutableBufferPointer { scale in
                packed.withUnsafeMutableBufferPointer { packed in
                    columnOffsets.withUnsafeMutableBufferPointer { offsets in
                        Parallel.forEach((n + 15) / 16, grain: 8) { groups in
                            let first = groups.lowerBound * 16, rows = min(groups.upperBound * 16, n) - first
                            qk_quantize_int8_rows(weight + first * k, Int32(QK_F32), Int64(rows), Int64(k),
                                                  codes.baseAddress! + first * k, scale.baseAddress! + first)
                            qk_int8_pack(codes.baseAddress! + first * k, Int64(rows), Int64(k),
                                         packed.baseAddress! + groups.lowerBound * tileBytes, offsets.baseAddress! + first)
                        }
                    }
                }
            }
        }
        self.packed = packed
        self.columnOffsets = columnOffsets
        self.scale = scale
    }

    /// CB[row][column], from the packed tiles of 16 rows × 4 columns (int8_product.c draws the layout).
    func code(row: Int, column: Int) -> Int8 {
        packed[((row / 16) * ((k + 3) / 4) + column / 4) * 64 + (row % 16) * 4 + column % 4]
    }

    /// The weight as bitsandbytes dequantizes it: CB × SCB × (1/127), in that order.
    func dequantized(row: Int, column: Int) -> Float { Float(code(row: row, column: column)) * scale[row] * Int8Rowwise.reciprocal127 }

    /// Bytes held: packed CB, column offsets and SCB.
    var byteCount: Int { packed.count + 4 * columnOffsets.count + 4 * scale.count }

    /// Y for inputs X (rows × k) at a threshold: X is quantized as LLM.int8 does first.
    func output(_ x: [Float], rows: Int, threshold: Float) -> [Float] {
        output(Int8Rowwise.quantize(x, rows: rows, columns: k, threshold: threshold), sample: x)
    }

    /// bitsandbytes' int8_mixed_scaled_mm in fp32: the int8 product rescaled, plus the outlier columns
    /// of X (as given, fp32) times the dequantized weight columns. The int8 part and the weight columns in
    /// C (qk_int8_mixed_output), column blocks on all cores; equal to `outputReference` bit for bit.
    func output(_ activation: Int8Rowwise, sample: [Float]) -> [Float] {
        let rows = activation.rows, outliers = activation.outlierColumns, count = outliers.count
        let columns = outliers.map { Int64($0) }
        var y = [Float](repeating: 0, count: rows * n)
        var wOutliers = [Float](repeating: 0, count: n * count)
        activation.codes.withUnsafeBufferPointer { a in
            activation.scale.withUnsafeBufferPointer { rowScale in
                packed.withUnsafeBufferPointer { packed in
                    columnOffsets.withUnsafeBufferPointer { offsets in
                        scale.withUnsafeBufferPointer { columnScale in
                            y.withUnsafeMutableBufferPointer { y in
                                wOutliers.withUnsafeMutableBufferPointer { w in
                                    Parallel.forEach((n + 15) / 16, grain: 4) { part in
                                        let first = part.lowerBound * 16, last = min(part.upperBound * 16, n)
                                        qk_int8_mixed_output(a.baseAddress, rowScale.baseAddress, Int64(rows), Int64(k), packed.baseAddress,
                                                             offsets.baseAddress, columnScale.baseAddress, columns, Int64(count),
                                                             Int64(first), Int64(last - first), y.baseAddress! + first, Int64(n),
                                                             w.baseAddress.map { $0 + first * count })
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        guard count > 0 else { return y }
        addOutlierPart(&y, outliers: outliers, wOutliers, sample: sample, rows: rows)
        return y
    }

    /// y += X[:, outliers] · w_outliersᵀ in fp32 (w_outliers: n × outliers.count).
    private func addOutlierPart(_ y: inout [Float], outliers: [Int], _ wOutliers: [Float], sample: [Float], rows: Int) {
        var xOutliers = [Float](repeating: 0, count: rows * outliers.count)
        for (c, column) in outliers.enumerated() {
            for r in 0..<rows { xOutliers[r * outliers.count + c] = sample[r * k + column] }
        }
        let extra = BLAS.product(xOutliers, rows: rows, wOutliers, n: n, k: outliers.count)
        for i in y.indices { y[i] += extra[i] }
    }

    /// The reference the C path is tested against: the same computation in Swift.
    func outputReference(_ activation: Int8Rowwise, sample: [Float]) -> [Float] {
        let rows = activation.rows
        let product = product(activation)
        let dequantScale: Float = 6.200124e-05
        var y = [Float](repeating: 0, count: rows * n)
        for r in 0..<rows {
            for j in 0..<n { y[r * n + j] = Float(product[r * n + j]) * (activation.scale[r] * scale[j]) * dequantScale }
        }
        let outliers = activation.outlierColumns
        guard !outliers.isEmpty else { return y }
        var wOutliers = [Float](repeating: 0, count: n * outliers.count)
        for (c, column) in outliers.enumerated() {
            for j in 0..<n { wOutliers[j * outliers.count + c] = dequantized(row: j, column: column) }
        }
        addOutlierPart(&y, outliers: outliers, wOutliers, sample: sample, rows: rows)
        return y
    }

    /// CA · CBᵀ (rows × n), exact in int32 as torch._int_mm computes it; column blocks on all cores.
    func product(_ activation: Int8Rowwise) -> [Int32] {
        let rows = activation.rows
        var c = [Int32](repeating: 0, count: rows * n)
        activation.codes.withUnsafeBufferPointer { a in
            packed.withUnsafeBufferPointer { packed in
                columnOffsets.withUnsafeBufferPointer { offsets in
                    c.withUnsafeMutableBufferPointer { c in
                        Parallel.forEach((n + 15) / 16, grain: 4) { part in
                            let first = part.lowerBound * 16, last = min(part.upperBound * 16, n)
                            qk_int8_product(a.baseAddress, Int64(rows), Int64(k), packed.baseAddress, offsets.baseAddress,
                                            Int64(first), Int64(last - first), c.baseAddress! + first, Int64(n))
                        }
                    }
                }
            }
        }
        return c
    }
}
