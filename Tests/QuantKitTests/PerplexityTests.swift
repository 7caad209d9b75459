import Foundation
import XCTest
@testable import QuantKit

/// Perplexity with simulated bitsandbytes quantization against transformers + bitsandbytes on the CPU
/// (scripts/fixtures/make_perplexity_fixture.py): the same model, the same 200 tokens, fp32 compute.
final class PerplexityTests: XCTestCase {
    /// Holds the fixture model's files while a test runs.
    private var modelFolder: TemporaryFolder?

    /// The runtime on the synthetic llama the reference fixtures were made from.
    private func fixtureRuntime() throws -> ModelRuntime {
        let folder = TemporaryFolder()
        modelFolder = folder
        try SyntheticModel.calibrationFixture.write(to: folder.path)
        return try ModelRuntime(checkpoint: try Checkpoint(path: folder.path))
    }

    /// The 200 tokens the reference scripts fed transformers.
    private func calibrationTokens() throws -> [Int] {
        try XCTUnwrap(JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/calibration/synthetic-llama-200.json")))["tokens"]?.array)
            .map { $0.integer! }
    }

    private func plan(_ method: ExportMethod, threshold: Double = 6, doubleQuant: Bool = false, skip: [String] = []) -> ExportPlan {
        var plan = ExportPlan(method: method)
        plan.threshold = threshold
        plan.doubleQuant = doubleQuant
        plan.skipModules = skip
        return plan
    }

    func testEveryMethodMatchesBitsandbytes() throws {
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/calibration/synthetic-llama-200-perplexity.json")))
        let tokens = try calibrationTokens()
        let runtime = try fixtureRuntime()
        let cases: [(String, ExportPlan?)] = [
            ("fp32", nil), ("int8@6", plan(.int8)), ("int8@0", plan(.int8, threshold: 0)), ("int8@2", plan(.int8, threshold: 2)),
            ("int8@6-skip", plan(.int8, skip: ["lm_head", "model.layers.1.mlp"])),
            ("nf4", plan(.nf4)), ("nf4-dq", plan(.nf4, doubleQuant: true)), ("fp4", plan(.fp4)), ("fp4-dq", plan(.fp4, doubleQuant: true)),
        ]
        for (name, plan) in cases {
            let reference = try XCTUnwrap(expected["results"]?[name]?["perplexity"], name)
            guard case .number(let want) = reference else { return XCTFail("\(name): no number") }
            let got = try runtime.perplexity(tokens: tokens, plan: plan)
            // Double quant may differ by the CPU kernel's few inexact nested codes (0.001% here).
            XCTAssertEqual(got, want, accuracy: want * 5e-5, name)
        }
    }

    /// KL(p ‖ q) = Σ p_j log(p_j / q_j) for p = softmax(a), q = softmax(z) over four tokens, through an
    /// identity output head (logits = hidden state) read in slabs of 1, 2, 3 and 4 rows.
    func testDivergenceOfAHandCheckablePair() throws {
        let a: [Float] = [0, -1, 0.5, 2], z: [Float] = [1, 1, -2, 0.5]
        func softmax(_ x: [Float]) -> [Double] {
            let e = x.map { exp(Double($0)) }
            return e.map { $0 / e.reduce(0, +) }
        }
        let p = softmax(a), q = softmax(z)
        let divergence = zip(p, q).reduce(0.0) { $0 + $1.0 * log($1.0 / $1.1) }
        let folder = TemporaryFolder()
        var builder = SafetensorsBuilder()
        builder.add("lm_head.weight", floats: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], shape: [4, 4])
        folder.write("model.safetensors", builder.bytes())
        let checkpoint = try Checkpoint(path: folder.path)
        for slab in 1...4 {
            var head = OutputHead(tensor: try XCTUnwrap(checkpoint.tensor(named: "lm_head.weight")), store: WeightStore(checkpoint: checkpoint))
            head.slabBytes = slab * 4 * 4
            let (reference, nll) = a.withUnsafeBufferPointer { head.distributions($0.baseAddress!, targets: [2]) }
            XCTAssertEqual(Double(nll[0]), -log(p[2]), accuracy: 1e-6)
            let scores = z.withUnsafeBufferPointer { head.score($0.baseAddress!, targets: [2], reference: reference) }
            XCTAssertEqual(scores[0].divergence, divergence, accuracy: 1e-7, "slab of \(slab)")
            XCTAssertEqual(Double(scores[0].negativeLogLikelihood), -log(q[2]), accuracy: 1e-6)
            let same = a.withUnsafeBufferPointer { head.score($0.baseAddress!, targets: [2], reference: reference) }
            XCTAssertEqual(same[0].divergence, 0, accuracy: 1e-15, "KL(p ‖ p)")
        }
    }

    /// On the fixture model: the fp32 pass compared with itself diverges by 0 (to rounding), every quantized
    /// method by more, pure int8 more than int8 with the outlier columns in fp16, and the report's fp32
    /// perplexity is the plain one.
    func testDivergenceIsZeroForFp32AndPositiveWhenQuantized() throws {
        let tokens = try calibrationTokens()
        let runtime = try fixtureRuntime()
        let reference = try runtime.referencePass(tokens: tokens)
        XCTAssertEqual(reference.perplexity, try runtime.perplexity(tokens: tokens), accuracy: reference.perplexity * 1e-7)
        let fp32 = try runtime.compare(plan: nil, against: reference)
        XCTAssertEqual(fp32.meanKLDivergence, 0, accuracy: 1e-12)
        XCTAssertEqual(fp32.perplexity, reference.perplexity, accuracy: reference.perplexity * 1e-7)
        var int8 = ExportPlan(method: .int8)
        int8.threshold = 6
        var pure = int8
        pure.threshold = 0
        let decomposed = try runtime.compare(plan: int8, against: reference).meanKLDivergence
        let plain = try runtime.compare(plan: pure, against: reference).meanKLDivergence
        let nf4 = try runtime.compare(plan: ExportPlan(method: .nf4), against: reference).meanKLDivergence
        XCTAssertGreaterThan(decomposed, 0)
        XCTAssertGreaterThan(plain, decomposed)
        XCTAssertGreaterThan(nf4, decomposed)
        XCTAssertThrowsError(try runtime.referencePass(tokens: [1])) { error in
            XCTAssertEqual((error as? ModelError)?.problem, .tooFewTokens(1))
        }
    }

    /// The suggestion is the highest grid threshold whose KL is within ln(1 + tolerance).
    func testSuggestionFollowsTheDivergenceBound() throws {
        let runtime = try fixtureRuntime()
        let report = try PerplexityReport.measure(runtime, tokens: Array(1...40), threshold: 6, blocksize: 64, tolerance: 0.01)
        XCTAssertEqual(report.maximumKLDivergence, log(1.01), accuracy: 1e-15)
        XCTAssertEqual(report.suggestedThreshold, report.int8Curve.last { $0.klDivergence <= log(1.01) }?.threshold)
        XCTAssertEqual(report.klDivergence.int8, report.int8Curve.first { $0.threshold == 6 }?.klDivergence)
        // A threshold off the grid gets its own pass; on the grid it shares the grid's.
        let offGrid = try PerplexityReport.measure(runtime, tokens: Array(1...40), threshold: 7, blocksize: 64, tolerance: 0.01)
        XCTAssertEqual(offGrid.int8Curve, report.int8Curve.filter { $0.threshold != 6 || offGrid.int8Curve.contains($0) })
        XCTAssertEqual(offGrid.suggestedThreshold, report.suggestedThreshold)
        let direct = try runtime.compare(plan: plan(.int8, threshold: 7), against: try runtime.referencePass(tokens: Array(1...40)))
        XCTAssertEqual(offGrid.int8, direct.perplexity)
        XCTAssertEqual(offGrid.klDivergence.int8, direct.meanKLDivergence)
    }

    /// Calibration's pass doubles as perplexity's fp32 reference: the statistics are calibration's alone,
    /// and the report the one a reference pass of its own gives (every KL reads the reference's
    /// distributions).
    func testCalibrationPassIsThePerplexityReference() throws {
        let runtime = try fixtureRuntime()
        let tokens = Array(1...40)
        let calibration = Calibration()
        let shared = try calibration.runObservingExperts(runtime, tokens: tokens, reference: true)
        XCTAssertEqual(shared.statistics, try calibration.run(runtime, tokens: tokens))
        let reference = try XCTUnwrap(shared.reference)
        XCTAssertNil(try calibration.runObservingExperts(runtime, tokens: tokens).reference)
        var passes: [Int] = []
        let reused = try PerplexityReport.measure(runtime, tokens: tokens, threshold: 6, blocksize: 64, reference: reference,
                                                  progress: { done, _ in passes.append(done) })
        XCTAssertEqual(reused, try PerplexityReport.measure(runtime, tokens: tokens, threshold: 6, blocksize: 64))
        XCTAssertEqual(passes.first, 0)
    }

    /// Searching the grid from the top finds the suggestion the whole curve gives, with the same values
    /// at the points it measures, and measures nothing below it: for a bound under every point, between
    /// each two neighbouring KLs, and over every point.
    func testSearchFromTheTopFindsTheWholeCurvesSuggestion() throws {
        let runtime = try fixtureRuntime()
        let tokens = Array(1...40)
        let full = try PerplexityReport.measure(runtime, tokens: tokens, threshold: 7, blocksize: 64, fullCurve: true)
        XCTAssertEqual(full.int8Curve.map(\.threshold), PerplexityReport.searchGrid)
        let divergences = Set(full.int8Curve.map(\.klDivergence)).sorted()
        XCTAssertGreaterThan(divergences.count, 3, "the fixture's KL varies along the grid")
        let bounds = [divergences[0] / 2] + zip(divergences, divergences.dropFirst()).map { ($0 + $1) / 2 } + [divergences.last! * 2]
        var stoppedEarly = 0
        for bound in bounds {
            let tolerance = expm1(bound)
            let expected = full.int8Curve.last { $0.klDivergence <= log1p(tolerance) }?.threshold
            var reported: [Int] = []
            let searched = try PerplexityReport.measure(runtime, tokens: tokens, threshold: 7, blocksize: 64, tolerance: tolerance,
                                                        progress: { done, _ in reported.append(done) })
            XCTAssertEqual(searched.suggestedThreshold, expected, "bound \(bound)")
            let measured = PerplexityReport.searchGrid.filter { $0 >= (expected ?? 0) }
            XCTAssertEqual(searched.int8Curve, full.int8Curve.filter { measured.contains($0.threshold) }, "bound \(bound)")
            XCTAssertEqual(searched.int8, full.int8)
            XCTAssertEqual(searched.klDivergence, full.klDivergence)
            // Passes run: fp32, the six methods, the grid points searched (the last report is the end).
            XCTAssertEqual(reported.dropLast().last, 7 + measured.count, "bound \(bound)")
            XCTAssertEqual(reported.last, 7 + PerplexityReport.searchGrid.count)
            if measured.count < PerplexityReport.searchGrid.count { stoppedEarly += 1 }
        }
        XCTAssertGreaterThan(stoppedEarly, 1)
    }

    /// Mean KL(p_fp32 ‖ p_quantized) against transformers + bitsandbytes (scripts/fixtures/make_kl_fixture.py): the
    /// same model and 200 tokens, the fp32 reference from transformers' own fp32 pass.
    func testDivergenceMatchesBitsandbytes() throws {
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/calibration/synthetic-llama-200-kl.json")))
        let tokens = try calibrationTokens()
        let runtime = try fixtureRuntime()
        let reference = try runtime.referencePass(tokens: tokens)
        let cases: [(String, ExportPlan?)] = [
            ("fp32", nil), ("int8@0", plan(.int8, threshold: 0)), ("int8@1", plan(.int8, threshold: 1)), ("int8@2", plan(.int8, threshold: 2)),
            ("int8@6", plan(.int8)), ("int8@6-skip", plan(.int8, skip: ["lm_head", "model.layers.1.mlp"])),
            ("nf4", plan(.nf4)), ("nf4-dq", plan(.nf4, doubleQuant: true)), ("fp4", plan(.fp4)),
        ]
        for (name, plan) in cases {
            guard case .number(let want) = try XCTUnwrap(expected["results"]?[name]?["kl"], name) else { return XCTFail("\(name): no number") }
            let got = try runtime.compare(plan: plan, against: reference).meanKLDivergence
            // qtui agrees within 5e-6 of the value (2026-11-29); the bound leaves room for BLAS order.
            XCTAssertEqual(got, want, accuracy: max(want * 1e-4, 1e-12), name)
        }
    }
}
