import CQuantKernels
import Foundation
import XCTest
@testable import QuantKit

/// The fused analysis kernel against its scalar twin, and the whole analyzer against the reference
/// quantizers (which the golden fixtures pin to bitsandbytes).
final class AnalysisKernelTests: XCTestCase {
    /// Awkward weights: heavy tails, an all-zero row, tiny and huge magnitudes, exact zeros.
    private func awkwardWeights(rows: Int, columns: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        var values = generator.normal(rows * columns, scale: 0.05)
        for i in stride(from: 0, to: values.count, by: 97) { values[i] *= 40 }
        for i in stride(from: 5, to: values.count, by: 131) { values[i] = 0 }
        if rows > 2 {
            for c in 0..<columns { values[columns + c] = 0 }
            for c in 0..<columns { values[2 * columns + c] *= 1e-6 }
        }
        return values
    }

    /// scan with the scalar or dispatched build; statistics and errors with `variant` (0 scalar, 1 AVX2,
    /// 2 AVX-512). nil when the CPU or the range does not allow that variant. `special`: the range may hold
    /// NaN/Inf (nil: as the scan found). `bf16`: the kernels read the values as BF16 (they must be exact in it).
    private func runKernel(_ values: [Float], rows: Int, columns: Int, blocksize: Int, scalar: Bool, variant: Int32 = 0,
                           special: Bool? = nil, bf16: Bool = false) -> (qk_accum, [Float], [Float])? {
        let count = values.count
        let dtype = Int32(bf16 ? QK_BF16 : QK_F32)
        let bytes: [UInt8] = bf16
            ? values.flatMap { value -> [UInt8] in
                precondition(value.bitPattern & 0xFFFF == 0, "not a BF16 value")
                return withUnsafeBytes(of: UInt16(value.bitPattern >> 16).littleEndian, Array.init)
            }
            : values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        let blocks = (count + blocksize - 1) / blocksize
        var absmax = [Float](repeating: 0, count: blocks)
        var rowMax = [Float](repeating: 0, count: rows)
        var accumulator = qk_accum()
        var supported = true
        qk_accum_init(&accumulator)
        let found = bytes.withUnsafeBytes { w in
            absmax.withUnsafeMutableBufferPointer { a in
                rowMax.withUnsafeMutableBufferPointer { r in
                    let scan = scalar ? qk_scan_scalar : qk_scan
                    return scan(w.baseAddress, dtype, Int64(count), Int64(blocksize), Int64(columns), a.baseAddress, r.baseAddress)
                }
            }
        }
        XCTAssertEqual(found != 0, values.contains { !$0.isFinite }, "the scan finds NaN and Inf")
        let partial = count % blocksize != 0
        if partial { absmax[blocks - 1] = max(absmax[blocks - 1], Blockwise.absmaxFloor) }
        let absmaxDQ = DoubleQuantizedAbsmax.quantize(absmax).reassembled
        let scale = rowMax.map { Float(Float16($0)) }
        bytes.withUnsafeBytes { w in
            absmax.withUnsafeBufferPointer { a in
                absmaxDQ.withUnsafeBufferPointer { dq in
                    scale.withUnsafeBufferPointer { s in
                        var range = qk_range()
                        range.data = w.baseAddress
                        range.dtype = dtype
                        range.has_special = (special ?? (found != 0)) ? 1 : 0
                        range.count = Int64(count)
                        range.columns = Int64(columns)
                        range.blocksize = Int64(blocksize)
                        range.absmax = a.baseAddress
                        range.absmax_dq = dq.baseAddress
                        range.last_block_partial = partial ? 1 : 0
                        range.row_scale = s.baseAddress
                        KernelTables.shared.fill(&range)
                        if scalar { qk_analyze_scalar(&range, &accumulator) } else {
                            supported = qk_analyze_variant(&range, &accumulator, variant) == 0
                        }
                    }
                }
            }
        }
        return supported ? (accumulator, absmax, rowMax) : nil
    }

    func testFastKernelsMatchTheScalarKernel() throws {
        try XCTSkipUnless(qk_has_avx2() == 1, "no AVX2 on this CPU: only the scalar kernel runs")
        var variantsRun = Set<Int32>()
        for (rows, columns, blocksize) in [(40, 72, 64), (9, 24, 64), (17, 256, 32), (3, 4096, 4096), (5, 1000, 4096), (33, 128, 256),
                                           (6, 192, 64), (4, 512, 128)] {
            for special in [true, false] {
                var values = awkwardWeights(rows: rows, columns: columns, seed: UInt64(rows * 1000 + columns))
                if special {
                    values[7] = .infinity
                    values[values.count / 2] = .nan
                }
                guard let (slow, slowAbsmax, slowRows) = runKernel(values, rows: rows, columns: columns, blocksize: blocksize, scalar: true) else {
                    return XCTFail("the scalar kernel always runs")
                }
                for variant in [Int32(1), 2] {
                    guard let (fast, fastAbsmax, fastRows) = runKernel(values, rows: rows, columns: columns, blocksize: blocksize,
                                                                      scalar: false, variant: variant, special: special) else { continue }
                    variantsRun.insert(variant)
                    let label = "\(rows)×\(columns) bs\(blocksize) special=\(special) variant \(variant)"
                    XCTAssertEqual(fastAbsmax, slowAbsmax, label)
                    XCTAssertEqual(fastRows, slowRows, label)
                    XCTAssertEqual(array(fast.hist, UInt64.self), array(slow.hist, UInt64.self), label)
                    XCTAssertEqual(fast.min, slow.min, label)
                    XCTAssertEqual(fast.max, slow.max, label)
                    XCTAssertEqual(fast.nan_count, slow.nan_count, label)
                    XCTAssertEqual(fast.inf_count, slow.inf_count, label)
                    XCTAssertEqual(array(fast.err_max, Float.self), array(slow.err_max, Float.self), label)
                    // Sums differ only in summation order.
                    // A sum near zero cancels: its rounding scales with Σ|w| ≤ √(n·Σw²), not with the sum.
                    XCTAssertEqual(fast.sum, slow.sum, accuracy: (Double(values.count) * slow.sum_sq).squareRoot() * 1e-6, label)
                    XCTAssertEqual(fast.sum_sq, slow.sum_sq, accuracy: slow.sum_sq * 1e-6, label)
                    for (a, b) in zip(array(fast.err_sq, Double.self), array(slow.err_sq, Double.self)) where b.isFinite {
                        XCTAssertEqual(a, b, accuracy: abs(b) * 1e-6 + 1e-30, label)
                    }
                }
            }
        }
        XCTAssertTrue(variantsRun.contains(1), "the AVX2 path ran")
        if qk_has_avx512() == 1 { XCTAssertTrue(variantsRun.contains(2), "the AVX-512 path ran") }
    }

    /// Values on, and one ulp either side of, every NF4/FP4 midpoint and every cell edge the AVX-512 code
    /// lookup uses (sixteenths of the unit, half-octaves), both signs. Each block is [1, x × 63], so the
    /// scaled value is x itself; a lane sorted into the wrong code shows up as a different error.
    func testFastKernelsAgreeOnEveryCodeBoundary() throws {
        try XCTSkipUnless(qk_has_avx2() == 1, "no AVX2 on this CPU: only the scalar kernel runs")
        var edges: [Float] = FourBitType.nf4.midpoints + FourBitType.fp4.midpoints + [0, 1]
        edges += (0...32).map { Float($0) / 16 - 1 }
        edges += (230...254).map { Float(bitPattern: UInt32($0) << 22) }
        let candidates = Set(edges.flatMap { [$0, $0.nextUp, $0.nextDown, -$0, -$0.nextUp, -$0.nextDown] }).filter { abs($0) <= 1 }.sorted()
        let columns = 64
        let values = candidates.flatMap { [Float(1)] + [Float](repeating: $0, count: columns - 1) }
        let rows = candidates.count
        let (slow, _, _) = try XCTUnwrap(runKernel(values, rows: rows, columns: columns, blocksize: 64, scalar: true))
        var variantsRun = 0
        for variant in [Int32(1), 2] {
            guard let (fast, _, _) = runKernel(values, rows: rows, columns: columns, blocksize: 64, scalar: false,
                                               variant: variant, special: false) else { continue }
            variantsRun += 1
            XCTAssertEqual(array(fast.err_max, Float.self), array(slow.err_max, Float.self), "variant \(variant)")
            for (a, b) in zip(array(fast.err_sq, Double.self), array(slow.err_sq, Double.self)) {
                XCTAssertEqual(a, b, accuracy: b * 1e-6, "variant \(variant)")
            }
        }
        XCTAssertGreaterThan(variantsRun, 0)
        // One value at a time: an error in one lane must not hide in a sum over all of them. special: true
        // takes AVX2's one-vector loop, false its lockstep pairs.
        for x in candidates {
            let block = [Float(1)] + [Float](repeating: x, count: 63)
            let (slowOne, _, _) = try XCTUnwrap(runKernel(block, rows: 1, columns: 64, blocksize: 64, scalar: true))
            for (variant, special) in [(Int32(1), false), (1, true), (2, false)] {
                guard let (fastOne, _, _) = runKernel(block, rows: 1, columns: 64, blocksize: 64, scalar: false,
                                                      variant: variant, special: special) else { continue }
                XCTAssertEqual(array(fastOne.err_max, Float.self), array(slowOne.err_max, Float.self),
                               "x = \(x) variant \(variant) special \(special)")
            }
        }
    }

    /// int8's code of a BF16 value skips the fp16 conversion when the row's factor 127 / scale lies in
    /// (0, 8192) (analyze.c says why that is exact). Rows [scale, w × 63], the scale either side of
    /// 127 / 8192 and w every BF16 value whose code fp16's rounding changes at that scale (fp16's
    /// subnormal range), plus fp16's edges: the AVX2 path's int8 error is the scalar's, row by row.
    func testBF16ValuesKeepTheirInt8Codes() throws {
        try XCTSkipUnless(qk_has_avx2() == 1, "no AVX2 on this CPU: only the scalar kernel runs")
        let bf16Values = (0..<UInt32(0x8000)).map { Float(bitPattern: $0 << 16) }
        let subnormal = bf16Values.filter { $0 > 0 && $0 < Float(bitPattern: 0x3880_0000) }  // below 2^-14
        var changedRows = 0
        for scale: Float in [0.25, 1.0 / 64, 1.0 / 128, 1.0 / 4096, 1.0 / 16384] {
            let factor = (1 / scale) * 127
            let changed = subnormal.filter { ($0 * factor).rounded(.toNearestOrEven) != (Float(Float16($0)) * factor).rounded(.toNearestOrEven) }
            if factor < 8192 { XCTAssertEqual(changed, [], "fp16 rounding never matters where the shortcut is taken (scale \(scale))") }
            changedRows += min(changed.count, 40)
            let edges = [Float(bitPattern: 0x3880_0000), Float(bitPattern: 0x387F_0000), subnormal[0], subnormal[subnormal.count / 2]]
            for w in changed.prefix(40) + edges where w <= scale {
                for sign: Float in [1, -1] {
                    let row = [scale] + [Float](repeating: sign * w, count: 63)
                    let (slow, _, _) = try XCTUnwrap(runKernel(row, rows: 1, columns: 64, blocksize: 64, scalar: true, bf16: true))
                    let (fast, _, _) = try XCTUnwrap(runKernel(row, rows: 1, columns: 64, blocksize: 64, scalar: false, variant: 1, bf16: true))
                    XCTAssertEqual(fast.err_max.0, slow.err_max.0, "scale \(scale) w \(sign * w)")
                }
            }
        }
        XCTAssertGreaterThan(changedRows, 20, "rows whose code fp16's rounding decides")
    }

    /// The vector paths' sum and sum_sq to the last bit, as analyze.c documents their order: Float lanes
    /// k = 0…7 over elements 8j + k of each group of at most 64 values (groups from the start of each
    /// stretch of a row inside a block), moved into Double per group, the four Double lanes added
    /// pairwise at the end. The AVX2 path takes them in its own loop or beside the errors (rows whole
    /// slices of 64; then also the partial last block), AVX-512 from its vectors' halves.
    func testVectorStatisticsKeepTheirSummationOrder() throws {
        try XCTSkipUnless(qk_has_avx2() == 1, "no AVX2 on this CPU: only the scalar kernel runs")
        for (rows, columns, blocksize) in [(40, 72, 64), (33, 128, 256), (3, 4096, 4096), (17, 256, 32), (5, 1000, 4096), (7, 64, 128)] {
            let values = awkwardWeights(rows: rows, columns: columns, seed: UInt64(rows + columns)).enumerated().map { i, x in
                x * Float(pow(2.0, Double(i % 25 - 12)))  // many octaves, so every rounding shows
            }
            let expected = laneOrderSums(values, columns: columns, blocksize: blocksize)
            // special: true takes AVX2's one-vector-at-a-time loop on rows of whole slices, false its pairs.
            for variant in [Int32(1), 2] {
                for special in [false, true] {
                guard let (fast, _, _) = runKernel(values, rows: rows, columns: columns, blocksize: blocksize, scalar: false,
                                                   variant: variant, special: special) else { continue }
                let label = "\(rows)×\(columns) bs\(blocksize) variant \(variant) special \(special)"
                XCTAssertEqual(fast.sum, expected.sum, label)
                XCTAssertEqual(fast.sum_sq, expected.sumOfSquares, label)
                }
            }
        }
    }

    private func laneOrderSums(_ values: [Float], columns: Int, blocksize: Int) -> (sum: Double, sumOfSquares: Double) {
        var total = [Double](repeating: 0, count: 4), totalSquares = total
        var start = 0
        while start < values.count {
            let end = min((start / blocksize + 1) * blocksize, (start / columns + 1) * columns, values.count)
            for group in stride(from: start, to: end, by: 64) {
                var lanes = [Float](repeating: 0, count: 8), squares = lanes
                for i in group..<min(group + 64, end) {
                    lanes[(i - group) % 8] += values[i]
                    squares[(i - group) % 8] = squares[(i - group) % 8].addingProduct(values[i], values[i])  // one rounding, as FMA
                }
                for k in 0..<8 {
                    total[k % 4] += Double(lanes[k])
                    totalSquares[k % 4] += Double(squares[k])
                }
            }
            start = end
        }
        return ((total[0] + total[1]) + (total[2] + total[3]), (totalSquares[0] + totalSquares[1]) + (totalSquares[2] + totalSquares[3]))
    }

    func testAnalyzerMatchesTheReferenceQuantizers() throws {
        // Every kernel variant: F16 / BF16 / F32 input, rows a multiple of 64 or not, scalar shapes.
        for (rows, columns, dtype) in [(48, 96, "F16"), (20, 128, "F16"), (12, 192, "BF16"), (9, 64, "F32"),
                                       (13, 40, "F32"), (7, 10, "F32")] {
            let original = awkwardWeights(rows: rows, columns: columns, seed: UInt64(rows))
            var builder = SafetensorsBuilder()
            let values: [Float]
            switch dtype {
            case "F16":
                values = original.map { Float(Float16($0)) }
                builder.add("layer.weight", halves: values, shape: [rows, columns])
            case "BF16":
                values = original.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) }
                builder.add("layer.weight", bfloats: values, shape: [rows, columns])
            default:
                values = original
                builder.add("layer.weight", floats: values, shape: [rows, columns])
            }
            let folder = TemporaryFolder()
            folder.write("model.safetensors", builder.bytes())
            let checkpoint = try Checkpoint(path: folder.path)
            let layer = try XCTUnwrap(LinearLayerPlan(checkpoint: checkpoint).linears.first)
            for threads in [1, 2] {
                let report = try WeightAnalyzer(blocksize: 64, threads: threads).analyze(layer, in: checkpoint)
                let label = "\(rows)×\(columns) \(dtype) threads \(threads)"
                for method in QuantMethod.allCases {
                    let expected = referenceDequantized(values, rows: rows, columns: columns, method: method)
                    let result = try XCTUnwrap(report.result(for: method))
                    let errorSquares = zip(expected, values).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) }
                    let norm = values.reduce(0.0) { $0 + Double($1) * Double($1) }
                    // The kernel sums squares in Float over 64 values before moving them to Double.
                    let expectedError = (errorSquares / norm).squareRoot()
                    XCTAssertEqual(result.relativeError, expectedError, accuracy: expectedError * 1e-6, "\(label) \(method)")
                    XCTAssertEqual(result.maxAbsError, zip(expected, values).map { Double(abs($0 - $1)) }.max()!, "\(label) \(method)")
                }
                XCTAssertEqual(report.statistics.count, rows * columns)
                XCTAssertEqual(report.statistics.max, values.max())
                XCTAssertEqual(report.fullHistogram.total, UInt64(rows * columns))
            }
        }
    }

    /// A layer of many chunks gives the same report, to the last bit of every sum, on any number of
    /// workers (they take chunks in whatever order they get to them).
    func testReportDoesNotDependOnTheWorkers() throws {
        let (rows, columns) = (600, 1000)
        // Values over 25 octaves (fp16-finite), so the double sums round and their order shows.
        let values = awkwardWeights(rows: rows, columns: columns, seed: 5).enumerated().map { i, x in x * Float(pow(2.0, Double(i % 25 - 20))) }
        var builder = SafetensorsBuilder()
        builder.add("layer.weight", floats: values, shape: [rows, columns])
        let folder = TemporaryFolder()
        folder.write("model.safetensors", builder.bytes())
        let checkpoint = try Checkpoint(path: folder.path)
        let layer = try XCTUnwrap(LinearLayerPlan(checkpoint: checkpoint).linears.first)
        let reports = try [1, 2, 3, 8, 2, 3].map { try WeightAnalyzer(blocksize: 64, threads: $0).analyze(layer, in: checkpoint) }
        for report in reports.dropFirst() { XCTAssertEqual(report, reports[0]) }
    }

    private func referenceDequantized(_ values: [Float], rows: Int, columns: Int, method: QuantMethod) -> [Float] {
        guard let type = method.fourBitType else {
            return Int8Rowwise.quantizeReference(values, rows: rows, columns: columns).dequantized()
        }
        let quantized = FourBitQuantized.quantizeReference(values, type: type, blocksize: 64)
        guard method.usesDoubleQuant else { return quantized.dequantized() }
        return quantized.dequantized(absmax: DoubleQuantizedAbsmax.quantize(quantized.absmax).reassembled)
    }

    private func array<T, Element>(_ tuple: T, _: Element.Type) -> [Element] {
        withUnsafeBytes(of: tuple) { Array($0.bindMemory(to: Element.self)) }
    }
}

/// The export quantizers' portable and AVX2 builds against the Swift references.
final class QuantizeKernelTests: XCTestCase {
    /// Double quantization of a large layer's absmax runs the nested step and the reassembly in runs of
    /// blocks on all cores: the same codes, nested absmax and reassembled values as the reference, which
    /// goes value by value (several runs, and a partial last nested block).
    func testNestedQuantizationInRunsEqualsTheReference() {
        var generator = SeededGenerator(seed: 7)
        let absmax = generator.normal(4 * Blockwise.parallelGrain + 1001, scale: 0.01).map { abs($0) + 0.02 }
        let fast = DoubleQuantizedAbsmax.quantize(absmax)
        let reference = DoubleQuantizedAbsmax.quantize(absmax, reference: true)
        XCTAssertEqual(fast, reference)
        let map = DynamicMap.values
        let expected = fast.codes.enumerated().map { i, code in
            map[Int(code)] * fast.nestedAbsmax[i / DoubleQuantizedAbsmax.nestedBlocksize] + fast.offset
        }
        XCTAssertEqual(fast.reassembled, expected)
    }

    func testBothBuildsEqualTheReferences() {
        var generator = SeededGenerator(seed: 99)
        for (rows, columns) in [(1, 1), (3, 17), (9, 64), (5, 4097), (33, 130)] {
            var values = generator.normal(rows * columns, scale: 0.5)
            for i in stride(from: 0, to: values.count, by: 37) { values[i] *= 60 }
            if values.count > 70 { for i in 0..<64 { values[i] = 0 } }
            let count = values.count
            for type in FourBitType.allCases {
                for blocksize in [32, 64, 4096] {
                    let reference = FourBitQuantized.quantizeReference(values, type: type, blocksize: blocksize)
                    for build in [qk_quantize_4bit, qk_quantize_4bit_scalar] {
                        var packed = [UInt8](repeating: 0, count: (count + 1) / 2)
                        var absmax = [Float](repeating: 0, count: (count + blocksize - 1) / blocksize)
                        values.withUnsafeBytes { raw in
                            build(raw.baseAddress, Int32(QK_F32), Int64(count), Int64(blocksize), count % blocksize != 0 ? 1 : 0,
                                  type.midpoints, type.indexOfPosition, &packed, &absmax)
                        }
                        XCTAssertEqual(packed, reference.packed, "\(type) \(rows)×\(columns) bs\(blocksize)")
                        XCTAssertEqual(absmax.map(\.bitPattern), reference.absmax.map(\.bitPattern))
                    }
                }
            }
            let reference = Int8Rowwise.quantizeReference(values, rows: rows, columns: columns)
            for build in [qk_quantize_int8_rows, qk_quantize_int8_rows_scalar] {
                var codes = [Int8](repeating: 0, count: count)
                var scale = [Float](repeating: 0, count: rows)
                values.withUnsafeBytes { build($0.baseAddress, Int32(QK_F32), Int64(rows), Int64(columns), &codes, &scale) }
                XCTAssertEqual(codes, reference.codes, "int8 \(rows)×\(columns)")
                XCTAssertEqual(scale.map(\.bitPattern), reference.scale.map(\.bitPattern))
            }
        }
    }

    /// The vector int8 row quantizer against its portable twin on what the references do not cover: ±0,
    /// ±Inf, NaN, values past fp16's range, an all-zero row, rows of 1 to 17 values and 4097 (whole
    /// vectors and tails), from F32, F16 and BF16 bytes.
    func testInt8RowQuantizerMatchesItsScalarTwinOnSpecialValues() {
        var generator = SeededGenerator(seed: 11)
        for columns in Array(1...17) + [4097] {
            let rows = 6
            var values = generator.normal(rows * columns, scale: 3)
            for c in 0..<columns { values[columns + c] = 0 }                       // row 1: all zero
            values[2 * columns] = 50                                               // row 2: its largest, then NaN in
            values[2 * columns + min(8, columns - 1)] = .nan                       // the same vector lane
            values[3 * columns + columns / 2] = .infinity                          // row 3: +Inf
            values[4 * columns + columns - 1] = -70000                             // row 4: past fp16 (−Inf)
            values[5 * columns] = -0.0                                             // row 5: −0 and a NaN later
            if columns > 1 { values[5 * columns + 1] = -.nan }
            let halves = values.map { Float16($0) }, brains = values.map { UInt16($0.bitPattern >> 16) }
            let sources: [(Int32, [UInt8])] = [(Int32(QK_F32), values.withUnsafeBytes { Array($0) }),
                                               (Int32(QK_F16), halves.withUnsafeBytes { Array($0) }),
                                               (Int32(QK_BF16), brains.withUnsafeBytes { Array($0) })]
            for (dtype, bytes) in sources {
                var results: [([Int8], [UInt32])] = []
                for build in [qk_quantize_int8_rows, qk_quantize_int8_rows_scalar] {
                    var codes = [Int8](repeating: 99, count: rows * columns), scale = [Float](repeating: 7, count: rows)
                    build(bytes, dtype, Int64(rows), Int64(columns), &codes, &scale)
                    results.append((codes, scale.map(\.bitPattern)))
                }
                XCTAssertEqual(results[0].0, results[1].0, "codes, dtype \(dtype), \(columns) columns")
                XCTAssertEqual(results[0].1, results[1].1, "scales, dtype \(dtype), \(columns) columns")
            }
        }
    }

    /// The vector LLM.int8 activation quantizer against its portable twin: thresholds none, low (most
    /// columns outliers), 6 and past every value; NaN, ±Inf, −0, values on the threshold's fp16 limit and
    /// past fp16's range, an all-zero row; rows of 1 to 17 values and 1030 (whole vectors and tails).
    func testInt8ActivationQuantizerMatchesItsScalarTwin() {
        var generator = SeededGenerator(seed: 13)
        for columns in Array(1...17) + [1030] {
            let rows = 7
            var values = generator.normal(rows * columns, scale: 3)
            for c in 0..<columns { values[columns + c] = 0 }
            values[2 * columns] = 50
            values[2 * columns + min(8, columns - 1)] = .nan
            values[3 * columns + columns / 2] = .infinity
            values[4 * columns + columns - 1] = -70000
            values[5 * columns] = -0.0
            values[6 * columns + columns / 3] = 6   // exactly on the limit: an outlier
            values[6 * columns + columns - 1] = -5.998
            for threshold: Float in [0, 0.5, 6, 1e6] {
                var results: [([Int8], [UInt32], [UInt8])] = []
                for build in [qk_quantize_int8_activations, qk_quantize_int8_activations_scalar] {
                    var codes = [Int8](repeating: 99, count: rows * columns), scale = [Float](repeating: 7, count: rows)
                    var flags = [UInt8](repeating: 9, count: columns)
                    build(values, Int64(rows), Int64(columns), threshold, &codes, &scale, &flags)
                    results.append((codes, scale.map(\.bitPattern), flags))
                }
                XCTAssertEqual(results[0].0, results[1].0, "codes, threshold \(threshold), \(columns) columns")
                XCTAssertEqual(results[0].1, results[1].1, "scales, threshold \(threshold), \(columns) columns")
                XCTAssertEqual(results[0].2, results[1].2, "outlier columns, threshold \(threshold), \(columns) columns")
            }
        }
    }

    /// The vector 4-bit quantizer against its portable twin on values the references do not cover: ±0,
    /// ±Inf, NaN, an all-zero block, from F32, F16 and BF16 bytes, blocks of 8 to 4096, partial or not.
    func testFourBitQuantizerMatchesItsScalarTwinOnSpecialValues() {
        var generator = SeededGenerator(seed: 7)
        var values = generator.normal(4096 + 72, scale: 2)
        for i in 0..<64 { values[64 + i] = 0 }
        values[200] = .infinity; values[333] = -.infinity; values[401] = .nan; values[402] = -0.0; values[777] = .nan
        let halves = values.map { Float16($0) }, brains = values.map { UInt16($0.bitPattern >> 16) }
        let sources: [(Int32, [UInt8])] = [(Int32(QK_F32), values.withUnsafeBytes { Array($0) }),
                                           (Int32(QK_F16), halves.withUnsafeBytes { Array($0) }),
                                           (Int32(QK_BF16), brains.withUnsafeBytes { Array($0) })]
        for (dtype, bytes) in sources {
            for type in FourBitType.allCases {
                for blocksize in [8, 64, 4096] {
                    for count in [values.count, 4096, 65, 8] {
                        for partial in [0, 1] {
                            var results: [([UInt8], [UInt32])] = []
                            for build in [qk_quantize_4bit, qk_quantize_4bit_scalar] {
                                var packed = [UInt8](repeating: 0xAA, count: (count + 1) / 2)
                                var absmax = [Float](repeating: 0, count: (count + blocksize - 1) / blocksize)
                                build(bytes, dtype, Int64(count), Int64(blocksize), Int32(partial), type.midpoints, type.indexOfPosition,
                                      &packed, &absmax)
                                results.append((packed, absmax.map(\.bitPattern)))
                            }
                            let what = "\(type) dtype \(dtype) bs\(blocksize) count \(count) partial \(partial)"
                            XCTAssertEqual(results[0].0, results[1].0, what)
                            XCTAssertEqual(results[0].1, results[1].1, what)
                        }
                    }
                }
            }
        }
    }

    /// 4-bit dequantization (the output errors' reconstruction): the vector and portable kernels equal the
    /// Swift definition bit for bit, odd counts and a partial last block included.
    func testFourBitDequantizeMatchesTheDefinition() {
        var generator = SeededGenerator(seed: 11)
        for type in FourBitType.allCases {
            for (count, blocksize) in [(1, 64), (7, 64), (65, 64), (4097, 64), (1000, 32), (8192, 4096), (129, 128)] {
                let values = generator.normal(count, scale: 3)
                let quantized = FourBitQuantized.quantizeReference(values, type: type, blocksize: blocksize)
                let expected = quantized.dequantized()
                for build in [qk_dequantize_4bit, qk_dequantize_4bit_scalar] {
                    var out = [Float](repeating: .nan, count: count)
                    build(quantized.packed, quantized.absmax, type.code, Int64(count), Int64(blocksize), &out)
                    XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "\(type) \(count) bs\(blocksize)")
                }
            }
        }
    }

    /// Block absmax (the exporter's first 4-bit step) against a plain Swift maximum, both builds, every
    /// source dtype, lengths that end mid-block.
    func testBlockAbsmaxMatchesItsScalarTwinAndSwift() {
        for count in [1, 3, 17, 63, 65, 4097] {
            for blocksize in [32, 64, 4096] {
                let values: [Float] = (0..<count).map { index in
                    let wave = Float(sin(Double(index) * 1.7))
                    let scale: Float = index % 11 == 0 ? 100 : Float(1 + index % 5)
                    return wave * scale
                }
                let halves = values.map { Float16($0) }
                let brains = values.map { UInt16($0.bitPattern >> 16) }
                let sources: [(Int32, [Float], (UnsafeMutableRawPointer) -> Void)] = [
                    (Int32(QK_F32), values, { pointer in values.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }),
                    (Int32(QK_F16), halves.map(Float.init), { pointer in halves.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }),
                    (Int32(QK_BF16), brains.map { Float(bitPattern: UInt32($0) << 16) },
                     { pointer in brains.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }),
                ]
                for (dtype, decoded, fill) in sources {
                    let buffer = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 16)
                    defer { buffer.deallocate() }
                    fill(buffer)
                    let blocks = (count + blocksize - 1) / blocksize
                    let expected = (0..<blocks).map { block in
                        decoded[(block * blocksize)..<min(count, (block + 1) * blocksize)].map { abs($0) }.max()!
                    }
                    for build in [qk_block_absmax, qk_block_absmax_scalar] {
                        var absmax = [Float](repeating: -1, count: blocks)
                        build(buffer, dtype, Int64(count), Int64(blocksize), &absmax)
                        XCTAssertEqual(absmax.map(\.bitPattern), expected.map(\.bitPattern), "dtype \(dtype), \(count) values, blocksize \(blocksize)")
                    }
                }
            }
        }
    }
}
