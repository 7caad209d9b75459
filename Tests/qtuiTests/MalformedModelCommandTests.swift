import Foundation
import XCTest

/// Issue 17 through the real binary: every reproducer of ../shared/fuzz-findings (copied to
/// Tests/Fixtures/malformed) gives one line naming the file and exit 2 — quickly, with no backtrace and
/// nothing half-written — or, for a zero-dimension weight, a report that keeps it and says why.
final class MalformedModelCommandTests: XCTestCase {
    private var folder: String!
    private static let malformed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/malformed").path
    private static let llama = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/runtime/llama-f32").path

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "qtui-malformed-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        setenv("QTUI_CACHE", folder + "/cache", 1)
    }

    override func tearDown() {
        unsetenv("QTUI_CACHE")
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Exit 2, nothing on stdout, one stderr line `qtui: FILE: …` holding `fragment`, in under `seconds`.
    private func assertOneLineExit2(_ arguments: [String], file: String, _ fragment: String, seconds: Double = 5,
                                    line: UInt = #line) throws {
        let start = Date()
        let run = try CommandLineTests.run(arguments)
        XCTAssertLessThan(Date().timeIntervalSince(start), seconds, "\(arguments)", line: line)
        XCTAssertEqual(run.status, 2, run.stderr, line: line)
        XCTAssertEqual(run.stdout, "", line: line)
        let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 2, run.stderr, line: line)
        XCTAssertTrue(run.stderr.hasPrefix("qtui: \(file): "), run.stderr, line: line)
        XCTAssertTrue(run.stderr.contains(fragment), "\(run.stderr) lacks \(fragment)", line: line)
    }

    func testGGUFReproducersExit2WithOneLineInScanAndExport() throws {
        let expected = [
            "gguf-oom-block-count-u32max.gguf": "qwen2.block_count 4294967295 is outside",
            "gguf-divzero-head-count-0.gguf": "qwen2.attention.head_count 0 is outside",
            "gguf-precondition-rope-heads-3.gguf": "llama.embedding_length 8 is not divisible by llama.attention.head_count 3",
            "gguf-overflow-zero-dim-shape.gguf": "tensor token_embd.weight: dimensions",
            "gguf-oom-rows-2pow40-cols-0.gguf": "tensor blk.0.attn_v.weight: has shape [1099511627776, 0]",
            "gguf-slow-spm-token-8k.gguf": "tensor blk.0.ffn_down.weight: has shape",
        ]
        for (name, fragment) in expected {
            let path = Self.malformed + "/" + name
            try assertOneLineExit2(["scan", path, "--no-calib", "--format", "json"], file: path, fragment)
            let out = folder + "/out-" + name
            try assertOneLineExit2(["export", path, "--method", "nf4", "--out", out], file: path, fragment)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), name)
        }
        let cache = folder + "/cache/gguf"
        let left = (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []
        XCTAssertEqual(left, [], "a failed conversion leaves nothing in the cache")
    }

    /// F5: the [2^40, 0] weight is not a layer: the report keeps it with the reason, exit 0.
    func testZeroDimensionWeightIsListedAsKept() throws {
        let path = Self.malformed + "/safetensors-oom-rows-2pow40-cols-0.safetensors"
        let run = try CommandLineTests.run(["scan", path, "--no-calib", "--format", "json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("\"reason\" : \"has a zero dimension (holds no values to quantize)\""), run.stdout)
        XCTAssertTrue(run.stdout.contains("\"layers\" : [\n\n  ]"), run.stdout)
    }

    /// The tiny llama runtime fixture with one of its files replaced.
    private func llama(replacing name: String, with source: String) throws -> String {
        let model = folder + "/llama"
        try? FileManager.default.removeItem(atPath: model)
        try FileManager.default.copyItem(atPath: Self.llama, toPath: model)
        try? FileManager.default.removeItem(atPath: model + "/" + name)
        try FileManager.default.copyItem(atPath: source, toPath: model + "/" + name)
        return model
    }

    /// F8: a calibrated scan and an export both refuse the config before using it.
    func testAbsurdConfigExits2() throws {
        let model = try llama(replacing: "config.json", with: Self.malformed + "/config-divzero-num_key_value_heads-0.config.json")
        try assertOneLineExit2(["scan", model, "--format", "json"], file: model + "/config.json", "num_key_value_heads 0 is outside")
        try assertOneLineExit2(["export", model, "--method", "int8", "--out", folder + "/out"], file: model + "/config.json",
                               "num_key_value_heads 0")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out"))
    }

    /// F9: the normalizer chain that doubles the text 40 times stops at the stage that passes the bound.
    func testAmplifyingNormalizerExits2NamingTheStage() throws {
        let model = try llama(replacing: "tokenizer.json", with: Self.malformed + "/tokenizer-normalizer-amplification-minimal.json")
        let text = folder + "/calib.txt"
        try String(repeating: "a banana and a cat. ", count: 100).write(toFile: text, atomically: true, encoding: .utf8)
        try assertOneLineExit2(["scan", model, "--calib", text, "--format", "json"], file: model + "/tokenizer.json",
                               "normalizer.normalizers[")
    }
}
