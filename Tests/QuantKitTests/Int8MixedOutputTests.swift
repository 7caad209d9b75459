import CQuantKernels
import Foundation
import Synchronization
import XCTest
@testable import QuantKit

/// LLM.int8's decomposed product in C (qk_int8_mixed_output) against the Swift reference
/// (Int8Weight.outputReference) and its scalar twin, bit for bit, and the output errors measured in
/// parallel against the same errors measured one threshold after another through the reference.
final class Int8MixedOutputTests: XCTestCase {
    private let shapes: [(rows: Int, n: Int, k: Int)] = [(1, 1, 1), (2, 17, 3), (3, 33, 17), (5, 47, 63), (9, 20, 65), (64, 40, 65)]

    /// Normal values with column 0 (and the last, for k > 2) ten times larger: outliers at moderate thresholds.
    private func sample(rows: Int, k: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        var x = generator.normal(rows * k)
        for r in 0..<rows {
            x[r * k] *= 10
            if k > 2 { x[r * k + k - 1] *= 10 }
        }
        return x
    }

    /// Thresholds with no outlier columns (0: pure int8; 1e6), some (3) and all (1e-3, every value is non-zero).
    private let thresholds: [Float] = [0, 1e6, 3, 1e-3]

    func testCOutputEqualsTheSwiftReferenceBitForBit() {
        var outlierCounts = Set<String>()
        for (index, shape) in shapes.enumerated() {
            let (rows, n, k) = shape
            var generator = SeededGenerator(seed: UInt64(50 + index))
            let int8 = Int8Weight(generator.normal(n * k, scale: 0.05), n: n, k: k)
            let x = sample(rows: rows, k: k, seed: UInt64(90 + index))
            for threshold in thresholds {
                let activation = Int8Rowwise.quantize(x, rows: rows, columns: k, threshold: threshold)
                let outliers = activation.outlierColumns.count
                outlierCounts.insert(outliers == 0 ? "none" : outliers == k ? "all" : "some")
                XCTAssertEqual(int8.output(activation, sample: x).map(\.bitPattern), int8.outputReference(activation, sample: x).map(\.bitPattern),
                               "\(rows)×\(n)×\(k) at \(threshold) (\(outliers) outlier columns)")
            }
        }
        XCTAssertEqual(outlierCounts, ["none", "some", "all"])
    }

    func testDispatchedKernelEqualsItsScalarTwin() {
        for (index, shape) in shapes.enumerated() {
            let (rows, n, k) = shape
            var generator = SeededGenerator(seed: UInt64(150 + index))
            let weight = generator.normal(n * k, scale: 0.05)
            var codes = [Int8](repeating: 0, count: n * k)
            var columnScale = [Float](repeating: 0, count: n)
            weight.withUnsafeBytes { qk_quantize_int8_rows($0.baseAddress, Int32(QK_F32), Int64(n), Int64(k), &codes, &columnScale) }
            var packed = [Int8](repeating: 0, count: Int(qk_int8_packed_size(Int64(n), Int64(k))))
            var offsets = [Int32](repeating: 0, count: (n + 15) / 16 * 16)
            qk_int8_pack(codes, Int64(n), Int64(k), &packed, &offsets)
            let x = sample(rows: rows, k: k, seed: UInt64(190 + index))
            for threshold in thresholds {
                let activation = Int8Rowwise.quantize(x, rows: rows, columns: k, threshold: threshold)
                let outliers = activation.outlierColumns.map { Int64($0) }
                // The whole output, and a column range that starts on a later block (how the callers split it).
                for (first, columns) in [(0, n), (16, n - 16)] where columns > 0 {
                    var results: [[UInt32]] = []
                    for scalar in [false, true] {
                        var y = [Float](repeating: -1, count: rows * columns)
                        var w = [Float](repeating: -1, count: columns * outliers.count)
                        let kernel = scalar ? qk_int8_mixed_output_scalar : qk_int8_mixed_output
                        kernel(activation.codes, activation.scale, Int64(rows), Int64(k), packed, offsets, columnScale, outliers,
                               Int64(outliers.count), Int64(first), Int64(columns), &y, Int64(columns), &w)
                        results.append((y + w).map(\.bitPattern))
                    }
                    XCTAssertEqual(results[0], results[1], "\(rows)×\(n)×\(k) at \(threshold), columns \(first)+\(columns)")
                    XCTAssertFalse(results[1].contains(Float(-1).bitPattern), "every entry written")
                }
            }
        }
    }

    /// The jobs run in parallel; every threshold's error, the pure int8 one and their order are what
    /// the reference gives measured one after another.
    func testOutputErrorsEqualTheSequentialReference() throws {
        let folder = TemporaryFolder()
        try SyntheticModel.calibrationFixture.write(to: folder.path)
        let checkpoint = try Checkpoint(path: folder.path)
        let layers = try ModelRuntime(checkpoint: checkpoint).plan.linears
        for (index, layer) in layers.prefix(3).enumerated() {
            let (n, k, rows) = (layer.outFeatures, layer.inFeatures, 24)
            let x = sample(rows: rows, k: k, seed: UInt64(300 + index))
            let measured = try ActivationErrors.measure(layer, in: checkpoint, sample: x, rows: rows)
            let weight = ActivationErrors.decodedWeight(layer, in: checkpoint)
            let reference = BLAS.product(x, rows: rows, weight, n: n, k: k)
            let int8 = Int8Weight(weight, n: n, k: k)
            func error(_ threshold: Float) -> Double {
                let activation = Int8Rowwise.quantizeReference(x, rows: rows, columns: k, threshold: threshold)
                return ActivationErrors.relativeError(int8.outputReference(activation, sample: x), reference)
            }
            XCTAssertEqual(measured.thresholds, ActivationErrors.defaultGrid)
            XCTAssertEqual(measured.int8, ActivationErrors.defaultGrid.map(error), layer.name)
            XCTAssertEqual(measured.int8Pure, error(0), layer.name)
            XCTAssertGreaterThan(Set(measured.sampleOutlierColumns).count, 2, "\(layer.name): the grid crosses outlier columns")
            XCTAssertEqual(measured.fourBit.count, 4)
        }
    }

    /// A threshold said to quantize like the one below it does (qk_threshold_intervals) quantizes the
    /// sample to the same codes, scales and outlier columns; and every threshold that quantizes like no
    /// other is told apart. An unsorted grid with duplicates, values between fp16 steps, NaN and ±Inf.
    func testThresholdsQuantizingAlikeReallyDo() {
        var x = sample(rows: 16, k: 96, seed: 77)
        x[5] = .nan; x[17] = .infinity; x[40] = -.infinity; x[41] = 6.0009765625; x[42] = -2.5
        let grid: [Float] = [6, 0.5, 2.5, 2.5, 3, 6.0004, 24, 1, 12, 0.75, 20, 4, 5.9999, 0]
        let sameAsBelow = ActivationErrors.thresholdsQuantizingAlike(x, grid: grid)
        let quantized = grid.map { Int8Rowwise.quantize(x, rows: 16, columns: 96, threshold: $0) }
        for index in grid.indices {
            if let below = sameAsBelow[index] {
                XCTAssertLessThanOrEqual(grid[below], grid[index])
                XCTAssertEqual(quantized[below], quantized[index], "\(grid[index]) like \(grid[below])")
            } else if let lower = grid.indices.filter({ grid[$0] > 0 && grid[$0] < grid[index] }).max(by: { grid[$0] < grid[$1] }) {
                XCTAssertNotEqual(quantized[lower], quantized[index], "\(grid[index]) differs from \(grid[lower])")
            }
        }
        XCTAssertNil(sameAsBelow[grid.count - 1], "threshold 0 (pure int8) is never merged")
        XCTAssertGreaterThan(sameAsBelow.compactMap { $0 }.count, 2, "the grid has thresholds that quantize alike")
        for count in [0, 1, 7, x.count] {
            let limits: [Float] = [0.5, 1, 1, 2.5, 6]
            var fast = [UInt8](repeating: 9, count: limits.count), portable = fast
            qk_threshold_intervals(x, Int64(count), limits, Int32(limits.count), &fast)
            qk_threshold_intervals_scalar(x, Int64(count), limits, Int32(limits.count), &portable)
            XCTAssertEqual(fast, portable, "count \(count)")
        }
    }

    /// The weight the output errors use, decoded in row ranges on all cores, is the stored weight as
    /// [out × in]: GPT-2's Conv1D ([in × out] in the file) comes out transposed.
    func testDecodedWeightIsTheStoredWeightAsOutByIn() throws {
        let checkpoint = try Checkpoint(path: RuntimeTests.runtimeFixtures + "/gpt2-f32")
        let layers = LinearLayerPlan(checkpoint: checkpoint).linears
        let layer = try XCTUnwrap(layers.first { $0.isTransposedInFile })
        let stored = checkpoint.bytes(of: layer.weight).bindMemory(to: Float.self)
        let decoded = ActivationErrors.decodedWeight(layer, in: checkpoint)
        for row in 0..<layer.outFeatures {
            for column in 0..<layer.inFeatures {
                XCTAssertEqual(decoded[row * layer.inFeatures + column], stored[column * layer.outFeatures + row])
            }
        }
    }

    /// A measurement asks `isCancelled` before each of its jobs and stops with CancellationError once it
    /// says so (a 7B MLP layer's measurement runs for seconds; Esc must not wait for it).
    func testMeasurementStopsWhenCancelled() throws {
        let folder = TemporaryFolder()
        try SyntheticModel.calibrationFixture.write(to: folder.path)
        let checkpoint = try Checkpoint(path: folder.path)
        let layer = try XCTUnwrap(LinearLayerPlan(checkpoint: checkpoint).linears.first)
        let x = sample(rows: 8, k: layer.inFeatures, seed: 5)
        let asked = Atomic(0)
        XCTAssertThrowsError(try ActivationErrors.measure(layer, in: checkpoint, sample: x, rows: 8, isCancelled: {
            asked.add(1, ordering: .relaxed).newValue > 2
        })) { error in XCTAssertTrue(error is CancellationError, "\(error)") }
        XCTAssertGreaterThan(asked.load(ordering: .relaxed), 2)
        XCTAssertNoThrow(try ActivationErrors.measure(layer, in: checkpoint, sample: x, rows: 8))
    }
}
