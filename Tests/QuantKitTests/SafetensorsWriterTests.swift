import Foundation
import XCTest
@testable import QuantKit

final class SafetensorsWriterTests: XCTestCase {
    func testRoundTripsAndPadsTheHeaderToEightBytes() throws {
        var writer = SafetensorsWriter()
        writer.add("a \"quoted\" name", float16: [1, -2, 0.5], shape: [3])
        writer.add(SafetensorsWriter.Entry(name: "ids", dtype: .i32, shape: [2], data: Data([1, 0, 0, 0, 2, 0, 0, 0])))
        let folder = TemporaryFolder()
        let path = folder.path + "/out.safetensors"
        try writer.write(to: path)
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual((8 + file.headerByteCount) % 8, 0)
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(file.tensors.map(\.name), ["a \"quoted\" name", "ids"])
        XCTAssertEqual(Array(file.bytes(of: file.tensors[1])), [1, 0, 0, 0, 2, 0, 0, 0])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["out.safetensors"], "no temporary left")
    }

    func testFailureLeavesNothingBehind() {
        var writer = SafetensorsWriter()
        writer.add("w", float16: [1], shape: [1])
        XCTAssertThrowsError(try writer.write(to: "/nonexistent-folder/out.safetensors")) { error in
            XCTAssertEqual((error as? CheckpointError)?.file, "/nonexistent-folder/out.safetensors")
        }
    }

    func testSyntheticModelIsALlamaWithOutlierNormGains() throws {
        let folder = TemporaryFolder()
        var model = SyntheticModel()
        model.layers = 2
        try model.write(to: folder.path)
        let checkpoint = try Checkpoint(path: folder.path)
        XCTAssertEqual(checkpoint.config?.modelType, "llama")
        XCTAssertEqual(checkpoint.tensors.reduce(0) { $0 + $1.elementCount }, model.parameterCount)
        let plan = LinearLayerPlan(checkpoint: checkpoint)
        XCTAssertEqual(plan.linears.count, 2 * 7)
        let norm = try XCTUnwrap(checkpoint.tensor(named: "model.layers.0.input_layernorm.weight"))
        var gains = [Float](repeating: 0, count: norm.elementCount)
        gains.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(norm.dtype, bytes: checkpoint.bytes(of: norm), start: 0, count: norm.elementCount, into: $0.baseAddress!)
        }
        XCTAssertEqual(gains.filter { $0 > 6 }.count, model.outlierDimensions.count)
    }
}
