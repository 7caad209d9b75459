import Foundation
import XCTest
import QuantKit

/// `qtui export` as a user runs it: interrupted, over leftovers, with --skip and --dtype.
final class ExportCommandTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "qtui-export-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    private func contents(_ path: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

    /// 16 F16 weights of 4096×4096 (512 MB) in a sparse file: written at once, several seconds to export
    /// on one thread, so a signal lands mid-export.
    private func largeSparseModel() throws -> String {
        let model = folder + "/source"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        let bytes = 4096 * 4096 * 2
        let entries = (0..<16).map { "\"model.layers.\($0).mlp.up_proj.weight\": {\"dtype\": \"F16\", \"shape\": [4096, 4096], \"data_offsets\": [\($0 * bytes), \(($0 + 1) * bytes)]}" }
        let header = Data(("{" + entries.joined(separator: ", ") + "}").utf8)
        var length = UInt64(header.count).littleEndian
        let path = model + "/model.safetensors"
        FileManager.default.createFile(atPath: path, contents: Data(bytes: &length, count: 8) + header)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(8 + header.count + 16 * bytes))
        try handle.close()
        return model
    }

    private func smallModel() throws -> String {
        let model = folder + "/source"
        let result = try CommandLineTests.run(["synthesize", "--out", model, "--layers", "2", "--hidden", "64"])
        XCTAssertEqual(result.status, 0, result.stderr)
        return model
    }

    /// Ctrl-C and SIGTERM mid-export: the partial folder is removed, the exit status says which signal,
    /// and nothing but the source is left.
    func testAnInterruptedExportLeavesNothingBehind() throws {
        let model = try largeSparseModel()
        for (signalNumber, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            let process = Process()
            process.executableURL = CommandLineTests.binary
            process.arguments = ["export", model, "--method", "int8", "--threads", "1", "--out", folder + "/out"]
            let err = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = err
            try process.run()
            let partial = folder + "/.out.qtui-partial-\(process.processIdentifier)"
            let deadline = Date().addingTimeInterval(30)
            while !FileManager.default.fileExists(atPath: partial + "/model.safetensors") && process.isRunning && Date() < deadline {
                usleep(5_000)
            }
            XCTAssertTrue(process.isRunning, "\(name): the export ended before it could be interrupted")
            kill(process.processIdentifier, signalNumber)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 128 + signalNumber, "\(name): \(stderr)")
            XCTAssertEqual(stderr, "qtui: interrupted by \(name); nothing was written\n")
            XCTAssertEqual(contents(folder), ["source"], name)
        }
    }

    /// A partial folder whose process died (SIGKILL) is removed by the next export to the same target;
    /// one whose process lives (another export running) is left alone.
    func testTheNextExportRemovesStalePartialFolders() throws {
        let model = try smallModel()
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let stale = folder + "/.out.qtui-partial-\(finished.processIdentifier)"
        let live = folder + "/.out.qtui-partial-\(getpid())"
        for path in [stale, live] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            FileManager.default.createFile(atPath: path + "/model.safetensors", contents: Data(count: 1000))
        }
        let result = try CommandLineTests.run(["export", model, "--method", "nf4", "--skip", "model.layers.1", "--out", folder + "/out"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(contents(folder), [".out.qtui-partial-\(getpid())", "out", "source"])
    }

    func testASkipNamingNoLayerIsBadInputAndWritesNothing() throws {
        let model = try smallModel()
        let result = try CommandLineTests.run(["export", model, "--method", "int8", "--skip", "model.layers.1", "--skip", "does.not.exist",
                                               "--out", folder + "/out"])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.stderr, "qtui: \(model): --skip does.not.exist matches no Linear layer (qtui scan lists them)\n")
        XCTAssertEqual(contents(folder), ["source"])
    }

    /// Without --dtype a folder keeps its dtypes; a GGUF (dequantized to F32 in the cache) defaults to
    /// float16, as its users load it.
    func testDTypeDefaultsToTheStoredOneAndToFloat16ForAGGUF() throws {
        let gguf = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/gguf/tiny-llama/tiny-llama.gguf").path
        let cache = ["QTUI_CACHE": folder + "/cache"]
        let converted = try CommandLineTests.run(["export", gguf, "--method", "int8", "--out", folder + "/default"], environment: cache)
        XCTAssertEqual(converted.status, 0, converted.stderr)
        let output = try Checkpoint(path: folder + "/default")
        let kept = LinearLayerPlan(checkpoint: output).kept.map(\.tensor).filter { $0.dtype.isDecodableFloat && !$0.name.hasSuffix(".SCB") }
        XCTAssertFalse(kept.isEmpty)
        XCTAssertEqual(Set(kept.map(\.dtype)), [.f16], "\(kept.map { "\($0.name) \($0.dtype)" })")
        let asked = try CommandLineTests.run(["export", gguf, "--method", "int8", "--dtype", "float32", "--out", folder + "/f32"], environment: cache)
        XCTAssertEqual(asked.status, 0, asked.stderr)
        let f32 = try Checkpoint(path: folder + "/f32")
        XCTAssertEqual(f32.tensor(named: kept[0].name)?.dtype, .f32)
        XCTAssertLessThan(output.fileBytes, f32.fileBytes)
    }
}
