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

        // The distinct int8 quantizations (one job: each product builds on the one before; the longest
        // job, so first) and the 4-bit types (plain and double-quant each) run as jobs on all cores; each
        // job's result is what it would be alone, and at most one job per core holds its buffers (a 4-bit
        // job one weight's worth of Float and its 4-bit codes, the int8 job two products and the weight's
        // outlier columns) at a time.
        let fourBitTypes = FourBitType.allCases
        var results = [Double](repeating: 0, count: 2 * fourBitTypes.count + distinct.count)
        let cancelled = Atomic(false)
        func stop() -> Bool {
            if cancelled.load(ordering: .relaxed) || isCancelled() { cancelled.store(true, ordering: .relaxed) }
            return cancelled.load(ordering: .relaxed)
        }
        // The int8 outputs are kept (distinct × rows × n Float: 88 MB for a 7B MLP layer's 24) so that each
        // error sums its output in order, as one job alone would, whichever column range finished first.
        let ranges = columnRanges(n, rows: rows)
        var int8Outputs = [Float](repeating: 0, count: distinct.count * rows * n)
        results.withUnsafeMutableBufferPointer { results in
            int8Outputs.withUnsafeMutableBufferPointer { outputs in
                Parallel.perform(iterations: ranges.count + fourBitTypes.count) { job in
                    guard !stop() else { return }
                    if job < ranges.count {
                        int8Weight.outputs(distinct, sample: sample, columns: ranges[job], into: outputs.baseAddress!) { !stop() }
                    } else {
                        let type = job - ranges.count
                        let errors = fourBitErrors(weight, type: fourBitTypes[type], blocksize: blocksize, sample: sample, rows: rows,
                                                   n: n, k: k, reference: reference)
                        (results[2 * type], results[2 * type + 1]) = errors
                    }
                }
                guard !stop() else { return }
                Parallel.perform(iterations: distinct.count) { index in
                    let output = UnsafeBufferPointer(start: outputs.baseAddress! + index * rows * n, count: rows * n)
                    results[2 * fourBitTypes.count + index] = relativeError(output, reference)
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

    /// The output columns cut into one range per core for `rows` sampled rows: on the outlier product's
    /// sgemm boundaries (`BLAS.fewRowsSlab`), so that each range's outputs are the bits of the whole; with
    /// more rows than `BLAS.fewRows`, one range.
    static func columnRanges(_ n: Int, rows: Int) -> [Range<Int>] {
        guard rows < BLAS.fewRows else { return [0..<n] }
        let slab = BLAS.fewRowsSlab(n), slabs = (n + slab - 1) / slab, parts = max(1, min(Parallel.workers, slabs))
        return (0..<parts).map { min(n, $0 * slabs / parts * slab)..<min(n, ($0 + 1) * slabs / parts * slab) }
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
        approximate.withUnsafeBufferPointer { relativeError($0, exact) }
    }

    static func relativeError(_ approximate: UnsafeBufferPointer<Float>, _ exact: [Float]) -> Double {
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

    /// Output columns `columns` of the outputs of several quantizations of `sample`, each equal to
    /// `output(_:sample:)`'s bit for bit, written to `outputs` (activation i's rows × n output at
    /// i · rows · n), on this thread; with less int8 work where their outlier columns nest, as any
    /// thresholds' do (a lower threshold's columns hold a higher one's). From the fewest outlier columns to the most, each int32 product CA·CBᵀ starts
    /// from the one before: a row whose scale stayed has the same codes but zeros in the new outlier
    /// columns, so only those columns' product is taken off it; a row whose scale changed is multiplied
    /// again. int32 sums are exact in any order, so the product — and all that follows from it — is the
    /// same. (On SmolLM2-135M and the 1B benchmark shape 64% of the 64 sampled rows keep their scale from
    /// one distinct quantization to the next.) Stops when `proceed` returns false.
    func outputs(_ activations: [Int8Rowwise], sample: [Float], columns: Range<Int>, into outputs: UnsafeMutablePointer<Float>,
                 while proceed: () -> Bool) {
        var previous: (activation: Int8Rowwise, product: [Int32])?
        for index in activations.indices.sorted(by: { activations[$0].outlierColumns.count < activations[$1].outlierColumns.count }) {
            guard proceed() else { return }
            let activation = activations[index], rows = activation.rows
            let product: [Int32]
            if let previous, let added = Self.columns(added: previous.activation.outlierColumns, to: activation.outlierColumns) {
                product = updated(previous.product, from: previous.activation, to: activation, addedColumns: added, columns: columns)
            } else {
                product = self.product(activation.codes, rows: rows, columns: columns)
            }
            write(activation, product: product, sample: sample, columns: columns, into: outputs + index * rows * n)
            previous = (activation, product)
        }
    }

    /// `later` without `earlier` when `earlier` ⊆ `later` (both ascending), else nil.
    static func columns(added earlier: [Int], to later: [Int]) -> [Int]? {
        var added: [Int] = [], position = 0
        for column in later {
            if position < earlier.count, earlier[position] == column { position += 1 } else { added.append(column) }
        }
        return position == earlier.count ? added : nil
    }

    /// `next`'s CA·CBᵀ at output columns `columns` (rows × columns.count) from `previousProduct`, that of
    /// `previous`, whose outlier columns are `next`'s less `addedColumns`.
    private func updated(_ previousProduct: [Int32], from previous: Int8Rowwise, to next: Int8Rowwise, addedColumns: [Int],
                         columns: Range<Int>) -> [Int32] {
        let width = columns.count
        var product = previousProduct
        let kept = (0..<next.rows).filter { previous.scale[$0].bitPattern == next.scale[$0].bitPattern }
        let changed = (0..<next.rows).filter { previous.scale[$0].bitPattern != next.scale[$0].bitPattern }
        if !changed.isEmpty {
            let fresh = self.product(Self.gather(rows: changed, columns: Array(0..<k), of: next.codes, width: k), rows: changed.count,
                                     columns: columns)
            for (i, r) in changed.enumerated() { product[(r * width)..<((r + 1) * width)] = fresh[(i * width)..<((i + 1) * width)] }
        }
        guard !kept.isEmpty, !addedColumns.isEmpty else { return product }
        // CB[columns, addedColumns] packed as a weight of its own, times the kept rows' old codes there.
        let count = addedColumns.count
        var subPacked = [Int8](repeating: 0, count: Int(qk_int8_packed_size(Int64(width), Int64(count))))
        var subOffsets = [Int32](repeating: 0, count: (width + 15) / 16 * 16)
        qk_int8_pack_columns(packed, Int64(n), Int64(k), addedColumns.map { Int64($0) }, Int64(count), Int64(columns.lowerBound),
                             Int64(width), &subPacked, &subOffsets)
        let removed = Self.product(Self.gather(rows: kept, columns: addedColumns, of: previous.codes, width: k), rows: kept.count,
                                   k: count, packed: subPacked, columnOffsets: subOffsets, columns: 0..<width)
        for (i, r) in kept.enumerated() {
            for j in 0..<width { product[r * width + j] &-= removed[i * width + j] }
        }
        return product
    }

    /// The `rows` × `columns` submatrix of a matrix of `width` columns.
    private static func gather(rows: [Int], columns: [Int], of codes: [Int8], width: Int) -> [Int8] {
        var out = [Int8](); out.reserveCapacity(rows.count * columns.count)
        for r in rows { for c in columns { out.append(codes[r * width + c]) } }
        return out
    }

    /// `output(_:sample:)` at output columns `columns` into `y` (rows × n), from CA·CBᵀ at those columns.
    private func write(_ activation: Int8Rowwise, product: [Int32], sample: [Float], columns: Range<Int>, into y: UnsafeMutablePointer<Float>) {
        let rows = activation.rows, width = columns.count, outliers = activation.outlierColumns, count = outliers.count
        var wOutliers = [Float](repeating: 0, count: width * count)
        qk_int8_mixed_rescale(product, Int64(width), activation.scale, Int64(rows), Int64(k), packed, scale, outliers.map { Int64($0) },
                              Int64(count), Int64(columns.lowerBound), Int64(width), y + columns.lowerBound, Int64(n), &wOutliers)
        guard count > 0 else { return }
        // The sgemm calls of the whole output's outlier product, for these columns (`columnRanges`).
        let xOutliers = outlierColumns(of: sample, outliers, rows: rows)
        let extra = rows < BLAS.fewRows ? BLAS.fewRowsProduct(xOutliers, rows: rows, wOutliers, n: width, k: count, slab: BLAS.fewRowsSlab(n))
                                        : BLAS.product(xOutliers, rows: rows, wOutliers, n: width, k: count)
        for r in 0..<rows {
            for j in 0..<width { y[r * n + columns.lowerBound + j] += extra[r * width + j] }
        }
    }

    /// y += X[:, outliers] · w_outliersᵀ in fp32 (w_outliers: n × outliers.count).
    private func addOutlierPart(_ y: inout [Float], outliers: [Int], _ wOutliers: [Float], sample: [Float], rows: Int) {
        let extra = BLAS.product(outlierColumns(of: sample, outliers, rows: rows), rows: rows, wOutliers, n: n, k: outliers.count)
        for i in y.indices { y[i] += extra[i] }
    }

    /// X[:, outliers] (rows × outliers.count).
    private func outlierColumns(of sample: [Float], _ outliers: [Int], rows: Int) -> [Float] {
        var xOutliers = [Float](repeating: 0, count: rows * outliers.count)
        for (c, column) in outliers.enumerated() {
            for r in 0..<rows { xOutliers[r * outliers.count + c] = sample[r * k + column] }
        }
        return xOutliers
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
        c.withUnsafeMutableBufferPointer { c in
            Parallel.forEach((n + 15) / 16, grain: 4) { part in
                let first = part.lowerBound * 16, last = min(part.upperBound * 16, n)
                Self.product(activation.codes, rows: rows, k: k, packed: packed, columnOffsets: columnOffsets, columns: first..<last,
                             into: c.baseAddress! + first, ldc: n)
            }
        }
        return c
    }

    /// A (rows × k codes) · CBᵀ at output columns `columns` (rows × columns.count), on this thread.
    private func product(_ a: [Int8], rows: Int, columns: Range<Int>) -> [Int32] {
        Self.product(a, rows: rows, k: k, packed: packed, columnOffsets: columnOffsets, columns: columns)
    }

    /// A (rows × k codes) times a packed B (`qk_int8_pack`) at B's rows `columns`, as rows × columns.count.
    private static func product(_ a: [Int8], rows: Int, k: Int, packed: [Int8], columnOffsets: [Int32], columns: Range<Int>) -> [Int32] {
        [Int32](unsafeUninitializedCapacity: rows * columns.count) { c, initialized in
            product(a, rows: rows, k: k, packed: packed, columnOffsets: columnOffsets, columns: columns, into: c.baseAddress!, ldc: columns.count)
            initialized = rows * columns.count
        }
    }

    private static func product(_ a: [Int8], rows: Int, k: Int, packed: [Int8], columnOffsets: [Int32], columns: Range<Int>,
                                into c: UnsafeMutablePointer<Int32>, ldc: Int) {
        guard rows > 0, !columns.isEmpty else { return }
        qk_int8_product(a, Int64(rows), Int64(k), packed, columnOffsets, Int64(columns.lowerBound), Int64(columns.count), c, Int64(ldc))
    }
}
