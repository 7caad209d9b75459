import Foundation
import XCTest
@testable import QuantKit

/// Perplexity with simulated bitsandbytes quantization against transformers + bitsandbytes on the CPU
/// (scripts/make_perplexity_fixture.py): the same model, the same 200 tokens, fp32 compute.
final class PerplexityTests: XCTestCase {
    func testEveryMethodMatchesBitsandbytes() throws {
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/calibration/synthetic-llama-200-perplexity.json")))
        let tokens = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/calibration/synthetic-llama-200.json")))["tokens"]!
            .array!.map { $0.integer! }
        let folder = TemporaryFolder()
        let model = SyntheticModel.calibrationFixture
        try model.write(to: folder.path)
        let runtime = try ModelRuntime(checkpoint: try Checkpoint(path: folder.path))
        func plan(_ method: ExportMethod, threshold: Double = 6, doubleQuant: Bool = false, skip: [String] = []) -> ExportPlan {
            var plan = ExportPlan(method: method)
            plan.threshold = threshold
            plan.doubleQuant = doubleQuant
            plan.skipModules = skip
            return plan
        }
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
}
