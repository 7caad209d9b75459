import CQuantKernels
import Foundation
import XCTest
@testable import QuantKit

/// The quantizers against golden outputs that bitsandbytes 0.50.2 itself produced
/// (scripts/fixtures/make_quant_fixtures.py → Tests/Fixtures/bnb). Bytes and bit patterns must be identical.
final class BitsandbytesFixtureTests: XCTestCase {
    static let folder = fixturesFolder + "/bnb"
    static let manifest: [String: JSONValue] = {
        let data = FileManager.default.contents(atPath: folder + "/cases.json")!
        return try! JSONValue.parse(data).object!
    }()
    static let arrays = try! SafetensorsFile(path: folder + "/quant.safetensors")

    private var cases: [[String: JSONValue]] { Self.manifest["cases"]!.array!.map { $0.object! } }

    private func tensor(_ name: String) throws -> TensorInfo {
        try XCTUnwrap(Self.arrays.tensors.first { $0.name == name }, "fixture tensor \(name)")
    }

    private func floats(_ name: String) throws -> [Float] {
        let info = try tensor(name)
        var values = [Float](repeating: 0, count: info.elementCount)
        values.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(info.dtype, bytes: Self.arrays.bytes(of: info), start: 0, count: info.elementCount, into: $0.baseAddress!)
        }
        return values
    }

    private func bytes(_ name: String) throws -> [UInt8] { Array(Self.arrays.bytes(of: try tensor(name))) }

    private func integers(_ name: String) throws -> [Int] {
        let info = try tensor(name)
        let raw = Self.arrays.bytes(of: info)
        return (0..<info.elementCount).map { Int(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
    }

    private func floatList(_ key: String) -> [Float] { Self.manifest[key]!.array!.map { Float(Self.number($0)) } }

    private static func number(_ value: JSONValue) -> Double {
        switch value {
        case .integer(let v): return Double(v)
        case .number(let v): return v
        default: return .nan
        }
    }

    /// Bit-for-bit equality with a short message: how many differ and the first difference.
    private func assertSameBits(_ actual: [Float], _ expected: [Float], _ label: String, line: UInt = #line) {
        guard actual.count == expected.count else {
            return XCTFail("\(label): \(actual.count) values, expected \(expected.count)", line: line)
        }
        let differing = actual.indices.filter { actual[$0].bitPattern != expected[$0].bitPattern }
        if let first = differing.first {
            XCTFail("\(label): \(differing.count) of \(actual.count) differ, first at \(first): \(actual[first]) vs \(expected[first])", line: line)
        }
    }

    private func assertSameBytes<T: Equatable>(_ actual: [T], _ expected: [T], _ label: String, line: UInt = #line) {
        guard actual.count == expected.count else {
            return XCTFail("\(label): \(actual.count) values, expected \(expected.count)", line: line)
        }
        let differing = actual.indices.filter { actual[$0] != expected[$0] }
        if let first = differing.first {
            XCTFail("\(label): \(differing.count) of \(actual.count) differ, first at \(first): \(actual[first]) vs \(expected[first])", line: line)
        }
    }

    func testCodeBooksAreTheLibrarys() {
        XCTAssertEqual(FourBitType.nf4.code.map(\.bitPattern), floatList("nf4_code").map(\.bitPattern))
        XCTAssertEqual(FourBitType.fp4.code.map(\.bitPattern), floatList("fp4_code").map(\.bitPattern))
        XCTAssertEqual(DynamicMap.values.map(\.bitPattern), floatList("dynamic_map").map(\.bitPattern))
        XCTAssertEqual(FourBitType.nf4.midpoints.map(\.bitPattern), floatList("nf4_bounds").map(\.bitPattern))
        XCTAssertEqual(FourBitType.fp4.midpoints.map(\.bitPattern), floatList("fp4_bounds").map(\.bitPattern))
        XCTAssertEqual(DynamicMap.midpoints.map(\.bitPattern), floatList("dynamic_map_bounds").map(\.bitPattern))
        XCTAssertEqual(FourBitType.fp4.indexOfPosition.map(Int.init), Self.manifest["fp4_order"]!.array!.map { $0.integer! })
        XCTAssertEqual(Int8Rowwise.reciprocal127, Float(Self.number(Self.manifest["int8_dequant_constant"]!)))
    }

    func testFourBitQuantizationIsByteIdentical() throws {
        let fourBit = cases.filter { $0["op"]?.string == "quantize_4bit" }
        XCTAssertGreaterThanOrEqual(fourBit.count, 150)
        var combinations = Set<String>()
        for entry in fourBit {
            let name = entry["name"]!.string!
            let outputs = entry["outputs"]!.object!
            let type = FourBitType(rawValue: entry["quant_type"]!.string!)!
            let blocksize = entry["blocksize"]!.integer!
            let doubleQuant = entry["double_quant"]!.bool!
            combinations.insert("\(type)-\(blocksize)-\(doubleQuant)")
            let values = try floats(entry["input"]!.string!)
            let quantized = FourBitQuantized.quantizeReference(values, type: type, blocksize: blocksize)
            assertSameBytes(quantized.packed, try bytes(outputs["packed"]!.string!), "\(name): packed")

            var absmax = quantized.absmax
            if doubleQuant {
                let nested = DoubleQuantizedAbsmax.quantize(quantized.absmax, reference: true)
                XCTAssertEqual(nested, DoubleQuantizedAbsmax.quantize(quantized.absmax), "\(name): C nested step = reference")
                assertSameBytes(nested.codes, try bytes(outputs["absmax"]!.string!), "\(name): nested codes")
                assertSameBits(nested.nestedAbsmax, try floats(outputs["nested_absmax"]!.string!), "\(name): nested absmax")
                // What transformers saves: the CPU kernel's, where it differs (a partial last block below 1e-38).
                assertSameBits(nested.storedNestedAbsmax, try floats((outputs["cpu_kernel_nested_absmax"] ?? outputs["nested_absmax"])!.string!),
                               "\(name): nested absmax as stored")
                XCTAssertEqual(nested.offset.bitPattern, try floats(outputs["offset"]!.string!)[0].bitPattern, "\(name): offset")
                absmax = nested.reassembled
                assertSameBits(absmax, try floats(outputs["absmax_dequantized"]!.string!), "\(name): reassembled absmax")
            } else {
                assertSameBits(absmax, try floats(outputs["absmax"]!.string!), "\(name): absmax")
            }
            if let dequantizedName = outputs["dequantized"]?.string {
                assertSameBits(quantized.dequantized(absmax: absmax), try floats(dequantizedName), "\(name): dequantized")
            }
        }
        XCTAssertEqual(combinations.count, 2 * 8 * 2, "every type × blocksize × double quant is covered")
    }

    func testInt8WeightQuantizationIsByteIdentical() throws {
        let weights = cases.filter { $0["op"]?.string == "int8_vectorwise_weight" }
        XCTAssertFalse(weights.isEmpty)
        for entry in weights {
            let name = entry["name"]!.string!
            let shape = entry["shape"]!.array!.map { $0.integer! }
            let outputs = entry["outputs"]!.object!
            let quantized = Int8Rowwise.quantizeReference(try floats(entry["input"]!.string!), rows: shape[0], columns: shape[1])
            assertSameBytes(quantized.codes.map { UInt8(bitPattern: $0) }, try bytes(outputs["CB"]!.string!), "\(name): CB")
            assertSameBits(quantized.scale, try floats(outputs["SCB"]!.string!), "\(name): SCB")
            assertSameBits(quantized.dequantized(), try floats(outputs["dequantized"]!.string!), "\(name): dequantized")
        }
    }

    func testInt8ActivationQuantizationWithOutlierColumns() throws {
        let activations = cases.filter {
            ["int8_vectorwise_activation", "int8_mixed_matmul"].contains($0["op"]?.string ?? "")
        }
        XCTAssertGreaterThanOrEqual(activations.count, 6)
        for entry in activations {
            let name = entry["name"]!.string!
            let shape = entry["shape"]!.array!.map { $0.integer! }
            let threshold = Float(Self.number(entry["threshold"]!))
            let outputs = entry["outputs"]!.object!
            let quantized = Int8Rowwise.quantizeReference(try floats(entry["input"]!.string!), rows: shape[0], columns: shape[1],
                                                          threshold: threshold)
            assertSameBytes(quantized.codes.map { UInt8(bitPattern: $0) }, try bytes(outputs["CA"]!.string!), "\(name): CA")
            assertSameBits(quantized.scale, try floats(outputs["SCA"]!.string!), "\(name): SCA")
            XCTAssertEqual(quantized.outlierColumns, try integers(outputs["outlier_cols"]!.string!), "\(name): outlier columns")
            // The C kernel (both builds) gives the same.
            let values = try floats(entry["input"]!.string!)
            XCTAssertEqual(Int8Rowwise.quantize(values, rows: shape[0], columns: shape[1], threshold: threshold), quantized, name)
            var codes = [Int8](repeating: 0, count: values.count)
            var scale = [Float](repeating: 0, count: shape[0])
            var flags = [UInt8](repeating: 0, count: shape[1])
            qk_quantize_int8_activations_scalar(values, Int64(shape[0]), Int64(shape[1]), threshold, &codes, &scale, &flags)
            XCTAssertEqual(codes, quantized.codes, "\(name): portable build")
            XCTAssertEqual(scale.map(\.bitPattern), quantized.scale.map(\.bitPattern))
        }
    }

    func testTorchFloat32MeanForEveryThreadCount() throws {
        let means = cases.filter { $0["op"]?.string == "torch_mean_f32" }
        XCTAssertFalse(means.isEmpty)
        for entry in means {
            let count = entry["n"]!.integer!
            // The generator's formula, evaluated in Double and rounded once, as numpy does.
            let values = (0..<count).map { i -> Float in
                Float(Double((UInt64(i) &* 2_654_435_761) % 1_000_003) / 1_000_003 * 0.05 + 0.001)
            }
            for (threads, result) in entry["by_threads"]!.object! {
                let expected = Float(Self.number(result["mean"]!))
                XCTAssertEqual(torchMeanFloat32(values, threadCount: Int(threads)!).bitPattern, expected.bitPattern,
                               "n=\(count) threads=\(threads)")
            }
        }
    }
}
