import Foundation
import XCTest
@testable import QuantKit

/// Calibration against transformers: the same tokens, the same column maxima at every Linear input,
/// the same outlier columns, the same fp32 perplexity (Tests/Fixtures/calibration, made by
/// scripts/fixtures/make_calibration_fixture.sh with transformers' forward hooks).
final class CalibrationTests: XCTestCase {
    func testActivationsEqualTransformersHooks() throws {
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/calibration/synthetic-llama-200.json")))
        let folder = TemporaryFolder()
        let model = SyntheticModel.calibrationFixture
        try model.write(to: folder.path)
        try FileManager.default.copyItem(atPath: fixturesFolder + "/tokenizers/smollm2.tokenizer.json", toPath: folder.path + "/tokenizer.json")
        let checkpoint = try Checkpoint(path: folder.path)
        let calibration = Calibration(tokenLimit: 200)
        let tokens = try calibration.tokens(of: CalibrationText.standard, tokenizer: try Calibration.tokenizer(for: checkpoint))
        XCTAssertEqual(tokens, expected["tokens"]!.array!.map { $0.integer! }, "the same calibration tokens")

        let runtime = try ModelRuntime(checkpoint: checkpoint)
        let statistics = try calibration.run(runtime, tokens: tokens)
        var compared = 0
        for (name, reference) in expected["layers"]!.object! where name != "lm_head" {
            let seen = try XCTUnwrap(statistics[name], name)
            XCTAssertEqual(seen.tokens, 200)
            let columnMax = reference["column_max"]!.array!.map { Float(number($0)) }
            XCTAssertEqual(seen.columnMax.count, columnMax.count)
            for (ours, theirs) in zip(seen.columnMax, columnMax) {
                XCTAssertEqual(ours, theirs, accuracy: max(abs(theirs), 1) * 1e-5, name)
            }
            // bitsandbytes' rule on fp16 activations, applied to both sides.
            for threshold in [Float(0.5), 1, 2, 3, 6, 10, 50, 100] {
                let theirs = columnMax.filter { Float(Float16($0)) >= Float(Float16(threshold)) }.count
                XCTAssertEqual(seen.outlierColumns(atLeast: threshold), theirs, "\(name) at \(threshold)")
                compared += 1
            }
        }
        XCTAssertEqual(compared, 14 * 8)
        let nll = try runtime.negativeLogLikelihood(tokens: tokens)
        let perplexity = exp(nll.reduce(0.0) { $0 + Double($1) } / Double(nll.count))
        XCTAssertEqual(perplexity, number(expected["perplexity"]!), accuracy: number(expected["perplexity"]!) * 1e-4)
    }

    private func number(_ value: JSONValue) -> Double {
        switch value {
        case .integer(let v): return Double(v)
        case .number(let v): return v
        default: return .nan
        }
    }
}
