import Foundation
import XCTest
import QuantKit

/// The GGUF cache is keyed by content: the same file under another name gets its config and tokenizer
/// once; `qtui cache` lists and removes what it holds.
final class CacheCommandTests: XCTestCase {
    func testSameContentUnderAnotherPathConvertsOnceAndTheCacheListsAndCleans() throws {
        let folder = NSTemporaryDirectory() + "qtui-cache-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/gguf/tiny-llama/tiny-llama.gguf").path
        try FileManager.default.createDirectory(atPath: folder + "/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder + "/b", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture, toPath: folder + "/a/model.gguf")
        try FileManager.default.copyItem(atPath: fixture, toPath: folder + "/b/renamed.gguf")
        let environment = ["QTUI_CACHE": folder + "/cache"]
        func run(_ arguments: [String]) throws -> CommandLineTests.Run { try CommandLineTests.run(arguments, environment: environment) }

        let first = try run(["scan", folder + "/a/model.gguf", "--no-calib", "--format", "json"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("GGUF, read in place (config and tokenizer converted to"), first.stderr)
        let second = try run(["scan", folder + "/b/renamed.gguf", "--no-calib", "--format", "json"])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stderr.contains("using the earlier conversion"), "same content, other path: \(second.stderr)")

        let listed = try run(["cache", "list"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertTrue(listed.stdout.contains("1 entry"), listed.stdout)
        XCTAssertTrue(listed.stdout.contains(folder + "/b/renamed.gguf"), "the path it was last opened from: \(listed.stdout)")
        XCTAssertTrue(try run(["cache", "clean", "--older-than", "1"]).stdout.contains("removed 0 entries"))
        XCTAssertTrue(try run(["cache", "clean"]).stdout.contains("removed 1 entry"))
        XCTAssertTrue(try run(["cache", "list"]).stdout.hasSuffix("gguf: empty\n"))
        XCTAssertEqual(try run(["cache", "clean", "--older-than", "-3"]).status, 1)
    }

    /// An F32 folder an older qtui converted (converter version 3: model.safetensors beside config.json) is
    /// listed as stale and removed even by a clean that keeps recent entries.
    func testStaleF32ConversionsAreListedAndAlwaysCleaned() throws {
        let folder = NSTemporaryDirectory() + "qtui-cache-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let stale = folder + "/cache/gguf/0123456789abcdef-c3"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors", "source.txt", "tokenizer.json"] {
            _ = FileManager.default.createFile(atPath: stale + "/" + name, contents: Data(count: 1000))
        }
        let environment = ["QTUI_CACHE": folder + "/cache"]
        let listed = try CommandLineTests.run(["cache", "list"], environment: environment)
        XCTAssertTrue(listed.stdout.contains("0123456789abcdef-c3") && listed.stdout.contains("(stale"), listed.stdout)
        let cleaned = try CommandLineTests.run(["cache", "clean", "--older-than", "30"], environment: environment)
        XCTAssertTrue(cleaned.stdout.contains("removed 1 entry"), cleaned.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
    }
}
