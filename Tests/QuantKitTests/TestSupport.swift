import Foundation
import XCTest
@testable import QuantKit

/// Builds safetensors files byte by byte for tests, including broken ones.
struct SafetensorsBuilder {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var data: [UInt8]
    }

    var entries: [Entry] = []
    var metadata: [String: String]? = nil

    mutating func add(_ name: String, _ dtype: String, _ shape: [Int], _ data: [UInt8]) {
        entries.append(Entry(name: name, dtype: dtype, shape: shape, data: data))
    }

    mutating func add(_ name: String, floats: [Float], shape: [Int]) {
        add(name, "F32", shape, floats.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }

    mutating func add(_ name: String, halves: [Float], shape: [Int]) {
        add(name, "F16", shape, halves.flatMap { withUnsafeBytes(of: Float16($0).bitPattern.littleEndian, Array.init) })
    }

    /// BF16 by truncation (values should already be BF16-exact).
    mutating func add(_ name: String, bfloats: [Float], shape: [Int]) {
        add(name, "BF16", shape, bfloats.flatMap { withUnsafeBytes(of: UInt16($0.bitPattern >> 16).littleEndian, Array.init) })
    }

    /// The header JSON with data offsets laid out back to back.
    func headerJSON() -> String {
        var parts: [String] = []
        if let metadata {
            let items = metadata.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \"\($0.value)\"" }
            parts.append("\"__metadata__\": {" + items.joined(separator: ", ") + "}")
        }
        var offset = 0
        for entry in entries {
            let shape = entry.shape.map(String.init).joined(separator: ", ")
            parts.append("\"\(entry.name)\": {\"dtype\": \"\(entry.dtype)\", \"shape\": [\(shape)], \"data_offsets\": [\(offset), \(offset + entry.data.count)]}")
            offset += entry.data.count
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }

    func bytes(header: String? = nil, declaredLength: UInt64? = nil) -> [UInt8] {
        let headerBytes = Array((header ?? headerJSON()).utf8)
        var out: [UInt8] = withUnsafeBytes(of: (declaredLength ?? UInt64(headerBytes.count)).littleEndian, Array.init)
        out += headerBytes
        for entry in entries { out += entry.data }
        return out
    }
}

/// A fresh temporary folder per test, removed afterwards.
final class TemporaryFolder {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "qtui-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let file = (path as NSString).appendingPathComponent(name)
        FileManager.default.createFile(atPath: file, contents: Data(bytes))
        return file
    }

    @discardableResult
    func write(_ name: String, text: String) -> String { write(name, Array(text.utf8)) }
}

/// Tests/Fixtures, found from this source file so tests need no resource bundle.
let fixturesFolder: String = {
    let here = URL(fileURLWithPath: #filePath)
    return here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures").path
}()

/// Deterministic pseudo-random test data (QuantKit's SplitMix64, the synthetic model's generator).
struct SeededGenerator {
    private var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// Roughly normal values, scaled.
    mutating func normal(_ count: Int, scale: Float = 1) -> [Float] { generator.normals(count, scale: scale) }
}

func XCTAssertThrowsCheckpointError(_ expression: @autoclosure () throws -> Any, file expectedFile: String? = nil,
                                    _ check: (CheckpointError.Problem) -> Bool, line: UInt = #line) {
    do {
        _ = try expression()
        XCTFail("expected a CheckpointError", line: line)
    } catch let error as CheckpointError {
        if let expectedFile { XCTAssertEqual(error.file, expectedFile, line: line) }
        XCTAssertTrue(check(error.problem), "unexpected problem: \(error)", line: line)
        XCTAssertFalse(error.description.contains("\n"), "errors are one line", line: line)
    } catch {
        XCTFail("unexpected error \(error)", line: line)
    }
}

/// The runtime's float32 logits for `ids` against transformers' (a fixture's JSON array).
func assertLogitsMatchTransformers(checkpoint: Checkpoint, ids: [Int], expected: JSONValue,
                                   file: StaticString = #filePath, line: UInt = #line) throws {
    let logits = try ModelRuntime(checkpoint: checkpoint).logits(tokens: ids)
    let reference = try XCTUnwrap(expected.array).map { value -> Float in
        if case .number(let number) = value { return Float(number) }
        return Float(value.integer!)
    }
    XCTAssertEqual(logits.values.count, reference.count, file: file, line: line)
    let worst = zip(logits.values, reference).map { abs($0 - $1) }.max() ?? .infinity
    XCTAssertLessThanOrEqual(worst, 1e-4, "largest logit difference from transformers", file: file, line: line)
}

/// Every tensor of `expected` (F32) is in `checkpoint` with the same shape and values of the same bits
/// (a GGUF's decoded in place), and no other.
func assertTensorsEqual(_ checkpoint: Checkpoint, _ expected: SafetensorsFile, file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(Set(checkpoint.tensors.map(\.name)), Set(expected.tensors.map(\.name)), file: file, line: line)
    for reference in expected.tensors {
        let converted = try XCTUnwrap(checkpoint.tensor(named: reference.name), reference.name, file: file, line: line)
        XCTAssertEqual(converted.shape, reference.shape, reference.name, file: file, line: line)
        var values = [Float](repeating: .nan, count: converted.elementCount)
        values.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(converted, bytes: checkpoint.bytes(of: converted), start: 0, count: $0.count, into: $0.baseAddress!)
        }
        XCTAssertEqual(values.withUnsafeBytes(Array.init), Array(expected.bytes(of: reference)), "\(reference.name) bit for bit",
                       file: file, line: line)
    }
}
