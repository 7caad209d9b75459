import Foundation
import XCTest

/// `qtui bench --sgemm` through the real binary: the line scripts/bench/bench_large.py divides by.
final class BenchCommandTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "qtui-bench-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    /// The FLOPs are the llama's own, counted by hand from its config (hidden 64, 8 heads of 8, 4 key-value
    /// heads, MLP 176, vocabulary 2048, 2 blocks), and every rate and time is a positive number.
    func testSgemmCountsTheForwardFLOPsAndMeasuresARate() throws {
        let model = (folder as NSString).appendingPathComponent("llama")
        let written = try CommandLineTests.run(["synthesize", "--out", model, "--layers", "2", "--hidden", "64"])
        XCTAssertEqual(written.status, 0, written.stderr)
        let result = try CommandLineTests.run(["bench", model, "--sgemm", "--repeat", "1", "--tokens", "16"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let line = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
        let (tokens, hidden, kv, mlp, vocabulary, blocks) = (16.0, 64.0, 32.0, 176.0, 2048.0, 2.0)
        let perBlock = hidden * hidden * 2 + kv * hidden * 2 + mlp * hidden * 3
        let linear = 2 * tokens * (blocks * perBlock + vocabulary * hidden)
        let attention = blocks * 8 * 2 * (2 * tokens * tokens * 8)
        XCTAssertEqual(try XCTUnwrap(line["linear_gflop"] as? Double), linear / 1e9, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(line["attention_gflop"] as? Double), attention / 1e9, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(line["forward_gflop"] as? Double), (linear + attention) / 1e9, accuracy: 1e-15)
        let shapes = try XCTUnwrap(line["shapes"] as? [[String: Any]])
        XCTAssertEqual(shapes.compactMap { $0["count"] as? Int }.reduce(0, +), 2 * 7 + 1, "7 Linears a block and the head")
        XCTAssertEqual(shapes.count, 5, "q/o, k/v, gate/up, down and the head")
        for key in ["gflop_per_s", "matmul_seconds", "matmul_limit_seconds"] {
            XCTAssertGreaterThan(try XCTUnwrap(line[key] as? Double), 0, key)
        }
        for shape in shapes { XCTAssertGreaterThan(try XCTUnwrap(shape["gflop_per_s"] as? Double), 0) }
        let limit = try XCTUnwrap(line["matmul_limit_seconds"] as? Double), matmul = try XCTUnwrap(line["matmul_seconds"] as? Double)
        XCTAssertEqual(limit, matmul * (linear + attention) / linear, accuracy: limit * 1e-9, "attention priced at the measured rate")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(line["matmul_limit_cpu_seconds"] as? Double), 0)
        XCTAssertNotNil(line["isa"] as? String)
    }

    func testSgemmIsOneMeasureAmongOthers() throws {
        let model = (folder as NSString).appendingPathComponent("llama")
        XCTAssertEqual(try CommandLineTests.run(["synthesize", "--out", model, "--layers", "1", "--hidden", "64"]).status, 0)
        let both = try CommandLineTests.run(["bench", model, "--sgemm", "--forward"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("measure different things"), both.stderr)
    }
}
