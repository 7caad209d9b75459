import Foundation
import CQuantKernels
import XCTest
@testable import QuantKit

final class SafetensorsTests: XCTestCase {
    func testReadsTensorsMetadataAndDecodesEveryFloatType() throws {
        var builder = SafetensorsBuilder()
        builder.metadata = ["format": "pt"]
        builder.add("a.weight", floats: [1, -2, 3.5, 0], shape: [2, 2])
        builder.add("b.weight", halves: [0.5, -0.25, 65504], shape: [3])
        builder.add("c", "BF16", [2], [0x80, 0x3F, 0x00, 0xC0])  // 1.0, -2.0
        builder.add("ids", "I64", [1], [7, 0, 0, 0, 0, 0, 0, 0])
        let folder = TemporaryFolder()
        let path = folder.write("m.safetensors", builder.bytes())

        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(file.tensors.map(\.name), ["a.weight", "b.weight", "c", "ids"])
        XCTAssertEqual(file.tensors[0].shape, [2, 2])
        XCTAssertEqual(file.tensors[3].dtype, .i64)
        XCTAssertEqual(decode(file, 0), [1, -2, 3.5, 0])
        XCTAssertEqual(decode(file, 1), [0.5, -0.25, 65504])
        XCTAssertEqual(decode(file, 2), [1, -2])
    }

    func testDecodesUnalignedData() throws {
        var generator = SeededGenerator(seed: 7)
        let values = generator.normal(1001, scale: 3)
        let folder = TemporaryFolder()
        // A 1- or 2-byte tensor first, whichever puts the F16 data at an odd file offset.
        for padding in 1...2 {
            var builder = SafetensorsBuilder()
            builder.add("pad", "U8", [padding], [UInt8](repeating: 9, count: padding))
            builder.add("w", halves: values, shape: [1001])
            let file = try SafetensorsFile(path: folder.write("m\(padding).safetensors", builder.bytes()))
            let index = file.tensors.firstIndex { $0.name == "w" }!
            guard file.tensors[index].dataOffset % 2 == 1 else { continue }
            XCTAssertEqual(decode(file, index), values.map { Float(Float16($0)) })
            return
        }
        XCTFail("no layout gave an odd offset")
    }

    func testF16FastPathMatchesTheScalarDecoderOnEveryBitPattern() {
        let patterns = (0...UInt16.max).map { $0 }
        var fast = [Float](repeating: 0, count: patterns.count)
        var scalar = [Float](repeating: 1, count: patterns.count)
        patterns.withUnsafeBytes { source in
            fast.withUnsafeMutableBufferPointer { qk_decode_f16(source.baseAddress, $0.baseAddress, Int64(patterns.count)) }
            scalar.withUnsafeMutableBufferPointer { qk_decode_f16_scalar(source.baseAddress, $0.baseAddress, Int64(patterns.count)) }
        }
        XCTAssertEqual(fast.map(\.bitPattern), scalar.map(\.bitPattern))
        XCTAssertEqual(scalar[0x3C00], 1)
        XCTAssertEqual(scalar[0xC000], -2)
    }

    func testWorksOnAReadOnlyFileAndLeavesItUntouched() throws {
        var builder = SafetensorsBuilder()
        builder.add("w", floats: [1, 2], shape: [2])
        let folder = TemporaryFolder()
        let path = folder.write("m.safetensors", builder.bytes())
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(try SafetensorsFile(path: path).tensors.count, 1)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
    }

    func testHeaderLengthBeyondTheFile() {
        let folder = TemporaryFolder()
        var builder = SafetensorsBuilder()
        builder.add("w", floats: [1], shape: [1])
        let path = folder.write("m.safetensors", builder.bytes(declaredLength: 5000))
        XCTAssertThrowsCheckpointError(try SafetensorsFile(path: path), file: path) {
            if case .truncated = $0 { return true } else { return false }
        }
    }

    func testFileShorterThanTheLengthField() {
        let folder = TemporaryFolder()
        let path = folder.write("m.safetensors", [1, 2, 3])
        XCTAssertThrowsCheckpointError(try SafetensorsFile(path: path), file: path) {
            if case .truncated(0, 8, 3) = $0 { return true } else { return false }
        }
    }

    func testHeaderAboveTheLimit() {
        let folder = TemporaryFolder()
        let path = folder.write("m.safetensors", withUnsafeBytes(of: UInt64(200_000_000).littleEndian, Array.init) + [0x7B])
        XCTAssertThrowsCheckpointError(try SafetensorsFile(path: path), file: path) {
            if case .headerTooLarge(200_000_000, _) = $0 { return true } else { return false }
        }
    }

    func testInvalidJSONAndInvalidUTF8() {
        let folder = TemporaryFolder()
        let json = SafetensorsBuilder().bytes(header: "{\"w\": {\"dtype\": ")
        let notJSON = folder.write("a.safetensors", json)
        XCTAssertThrowsCheckpointError(try SafetensorsFile(path: notJSON), file: notJSON) {
            if case .invalidJSON = $0 { return true } else { return false }
        }
        var bytes = withUnsafeBytes(of: UInt64(4).littleEndian, Array.init)
        bytes += [0x7B, 0xFF, 0xFE, 0x7D]
        let notUTF8 = folder.write("b.safetensors", bytes)
        XCTAssertThrowsCheckpointError(try SafetensorsFile(path: notUTF8), file: notUTF8) { $0 == .headerNotUTF8 }
    }

    func testUnknownDType() {
        var builder = SafetensorsBuilder()
        builder.add("w", "F8_E3M4", [2], [0, 0])
        let folder = TemporaryFolder()
        let path = folder.write("m.safetensors", builder.bytes())
        XCTAssertThrowsCheckpointError(try SafetensorsFile(path: path), file: path) {
            $0 == .unsupportedDType("F8_E3M4", tensor: "w")
        }
    }

    func testShapeTimesDTypeSizeMustEqualTheByteRange() {
        var builder = SafetensorsBuilder()
        builder.add("w", "F32", [3], [0, 0, 0, 0, 0, 0, 0, 0])
        let folder = TemporaryFolder()
        let path = folder.write("m.safetensors", builder.bytes())
        XCTAssertThrowsCheckpointError(try SafetensorsFile(path: path), file: path) {
            $0 == .sizeMismatch(tensor: "w", expectedBytes: 12, actualBytes: 8)
        }
    }

    func testOffsetsOutsideTheData() {
        let header = "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}"
        let folder = TemporaryFolder()
        let path = folder.write("m.safetensors", SafetensorsBuilder().bytes(header: header) + [0, 0, 0, 0])
        XCTAssertThrowsCheckpointError(try SafetensorsFile(path: path), file: path) {
            $0 == .offsetsOutsideData(tensor: "w", end: 16, dataSize: 4)
        }
    }

    /// A file cut short names the first tensor (in file order) that lies past the end, on every run:
    /// the header's dictionary order, which changes between runs, must not decide.
    func testTruncatedFileNamesTheFirstTensorCut() {
        var builder = SafetensorsBuilder()
        for index in 0..<24 { builder.add("t\(index)", floats: [1, 2, 3, 4], shape: [4]) }
        let bytes = builder.bytes()
        let folder = TemporaryFolder()
        let path = folder.write("m.safetensors", Array(bytes.dropLast(16 * 20 + 3)))
        for _ in 0..<8 {
            XCTAssertThrowsCheckpointError(try SafetensorsFile(path: path), file: path) {
                $0 == .offsetsOutsideData(tensor: "t3", end: 64, dataSize: 61)
            }
        }
    }

    /// A text file named .safetensors: its first 8 bytes read as an absurd header length, but the
    /// problem to report is that it is no safetensors file at all.
    func testATextFileIsNotASafetensorsFile() {
        let folder = TemporaryFolder()
        let path = folder.write("notes.safetensors", Array("hello, this is plain text and not tensors\n".utf8))
        XCTAssertThrowsCheckpointError(try SafetensorsFile(path: path), file: path) {
            $0 == .unsupportedFormat("not a safetensors file: no JSON header after the 8-byte header length")
        }
    }

    func testOverlappingTensors() {
        let header = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
            + " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}"
        let folder = TemporaryFolder()
        let path = folder.write("m.safetensors", SafetensorsBuilder().bytes(header: header) + [UInt8](repeating: 0, count: 12))
        XCTAssertThrowsCheckpointError(try SafetensorsFile(path: path), file: path) {
            $0 == .overlapping(tensor: "b", other: "a")
        }
    }

    func testNegativeAndFractionalShapesAreRefused() {
        let folder = TemporaryFolder()
        for shape in ["[-1]", "[1.5]", "[true]"] {
            let header = "{\"w\": {\"dtype\": \"U8\", \"shape\": \(shape), \"data_offsets\": [0, 1]}}"
            let path = folder.write("m.safetensors", SafetensorsBuilder().bytes(header: header) + [0])
            XCTAssertThrowsCheckpointError(try SafetensorsFile(path: path), file: path) {
                if case .invalidEntry(tensor: "w", _) = $0 { return true } else { return false }
            }
        }
    }

    private func decode(_ file: SafetensorsFile, _ index: Int) -> [Float] {
        let tensor = file.tensors[index]
        var out = [Float](repeating: .nan, count: tensor.elementCount)
        out.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(tensor.dtype, bytes: file.bytes(of: tensor), start: 0, count: tensor.elementCount, into: $0.baseAddress!)
        }
        return out
    }
}
