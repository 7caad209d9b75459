import Foundation
import XCTest
@testable import QuantKit

/// The GGUF reader and dequantizers against files and values made by the gguf package itself
/// (scripts/fixtures/make_gguf_fixtures.py → Tests/Fixtures/gguf): metadata read back as written, shapes and
/// offsets as gguf.GGUFReader sees them, every type's Float values bit for bit as
/// gguf.quants.dequantize gives them, and one line naming the file for each broken file.
final class GGUFTests: XCTestCase {
    static let folder = fixturesFolder + "/gguf"

    static var manifest: [String: Any] {
        let data = FileManager.default.contents(atPath: folder + "/manifest.json")!
        return (try! JSONSerialization.jsonObject(with: data) as! [String: Any])["types"] as! [String: Any]
    }

    func testMetadataOfEveryTypeReadsBackAsWritten() throws {
        let file = try GGUFFile(path: Self.folder + "/types.gguf")
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.alignment, 32)
        XCTAssertEqual(file.dataStart, Self.manifest["dataOffset"] as? Int)
        XCTAssertEqual(file.metadata.map(\.key), Self.manifest["metadataKeys"] as? [String])

        let expected: [String: GGUFValue] = [
            "general.architecture": .string("llama"),
            "test.u8": .uint8(200), "test.i8": .int8(-100), "test.u16": .uint16(60000), "test.i16": .int16(-30000),
            "test.u32": .uint32(4_000_000_000), "test.i32": .int32(-2_000_000_000), "test.f32": .float32(3.25),
            "test.bool": .bool(true), "test.string": .string("héllo ☃ world"), "test.empty_string": .string(""),
            "test.u64": .uint64(1 << 63 + 5), "test.i64": .int64(-(1 << 62) - 7), "test.f64": .float64(2.718281828459045),
            "test.array_i32": .array(.int32, [.int32(1), .int32(-2), .int32(3)]),
            "test.array_u8": .array(.uint8, [.uint8(0), .uint8(127), .uint8(255)]),
            "test.array_f32": .array(.float32, [.float32(0.5), .float32(-1.5)]),
            "test.array_u64": .array(.uint64, [.uint64(0), .uint64(.max)]),
            "test.array_bool": .array(.bool, [.bool(true), .bool(false), .bool(true)]),
            "test.array_string": .array(.string, [.string("a"), .string(""), .string("ünï")]),
            "test.nested": .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [.int32(3)])]),
            "test.nested_strings": .array(.array, [.array(.string, [.string("x")]),
                                                   .array(.string, [.string("y"), .string("z")])]),
        ]
        XCTAssertEqual(Set(expected.keys), Set(file.metadata.map(\.key)))
        for (key, value) in expected { XCTAssertEqual(file[key], value, key) }
        XCTAssertEqual(file["test.u16"]?.integer, 60000)
        XCTAssertNil(file["missing"])
    }

    func testTensorShapesOffsetsAndTypesAsTheGGUFReaderSeesThem() throws {
        let file = try GGUFFile(path: Self.folder + "/types.gguf")
        let expected = Self.manifest["tensors"] as! [[String: Any]]
        XCTAssertEqual(file.tensors.map(\.name), expected.map { $0["name"] as! String })
        for (tensor, want) in zip(file.tensors, expected) {
            XCTAssertEqual(tensor.type.description, want["type"] as? String, tensor.name)
            XCTAssertEqual(Int(tensor.type.rawValue), want["typeNumber"] as? Int, tensor.name)
            XCTAssertEqual(tensor.shape, want["shape"] as? [Int], tensor.name)
            XCTAssertEqual(tensor.ggmlDimensions, want["ggmlDimensions"] as? [Int], tensor.name)
            XCTAssertEqual(tensor.relativeOffset, want["relativeOffset"] as? Int, tensor.name)
            XCTAssertEqual(tensor.dataOffset, file.dataStart + tensor.relativeOffset, tensor.name)
            XCTAssertEqual(tensor.byteCount, want["byteCount"] as? Int, tensor.name)
            XCTAssertTrue(tensor.type.isDequantizable, tensor.name)
        }
        XCTAssertEqual(file.tensors.first { $0.name == "q8_0" }?.shapeText, "[2, 3, 32]")
    }

    /// Every element's bits equal the package's, whole tensor and block range by block range.
    func testEveryTypeDequantizesBitIdenticallyToTheGGUFPackage() throws {
        let file = try GGUFFile(path: Self.folder + "/types.gguf")
        let expected = try SafetensorsFile(path: Self.folder + "/expected.safetensors")
        XCTAssertEqual(Set(file.tensors.map(\.type.description)),
                       ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"])
        for tensor in file.tensors {
            let reference = try XCTUnwrap(expected.tensors.first { $0.name == tensor.name }, tensor.name)
            XCTAssertEqual(reference.shape, tensor.shape, tensor.name)
            let want = floats(expected.bytes(of: reference))
            let got = try file.dequantize(tensor)
            XCTAssertEqual(got.count, want.count, tensor.name)
            let differing = zip(got, want).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "\(tensor.name) (\(tensor.type)): \(differing) of \(want.count) values differ")

            let blockSize = tensor.type.traits!.blockSize
            var streamed = [Float](repeating: .nan, count: want.count)
            var first = 0
            for count in [1, 2, 3, 5, 8, 13, 21].cycled() {
                let take = min(count, tensor.blockCount! - first)
                guard take > 0 else { break }
                try streamed.withUnsafeMutableBufferPointer { buffer in
                    try file.dequantizeBlocks(of: tensor, first: first, count: take, into: buffer.baseAddress! + first * blockSize)
                }
                first += take
            }
            XCTAssertEqual(streamed.map(\.bitPattern), want.map(\.bitPattern), "\(tensor.name) block ranges")
        }
    }

    func testVersion2WithAlignment64() throws {
        let file = try GGUFFile(path: Self.folder + "/v2_align64.gguf")
        XCTAssertEqual(file.version, 2)
        XCTAssertEqual(file.alignment, 64)
        XCTAssertEqual(file["general.alignment"], .uint32(64))
        XCTAssertEqual(file.dataStart % 64, 0)
        XCTAssertEqual(file.tensors.map(\.relativeOffset), [0, 64])
        XCTAssertEqual(file.tensors.map(\.shape), [[3], [2, 5]])
        XCTAssertEqual(try file.dequantize(file.tensors[1]).count, 10)
    }

    func testUnknownTypeIsListedButNotDecoded() throws {
        let path = Self.folder + "/unknown_type.gguf"
        let file = try GGUFFile(path: path)
        let weird = try XCTUnwrap(file.tensors.first { $0.name == "weird" })
        XCTAssertEqual(weird.type.description, "type 99")
        XCTAssertFalse(weird.type.isKnown)
        XCTAssertNil(weird.byteCount)
        XCTAssertEqual(weird.shape, [8])
        XCTAssertEqual(try file.dequantize(file.tensors[0]), (0..<8).map(Float.init))
        XCTAssertThrowsError(try file.dequantize(weird)) { error in
            XCTAssertEqual("\(error)", "\(path): tensor weird: unknown ggml type 99")
        }
        XCTAssertFalse(GGMLType(rawValue: 10).isDequantizable)
        XCTAssertEqual(GGMLType(rawValue: 10).description, "Q2_K")
    }

    func testEveryBrokenFileGivesItsOneLineError() {
        let cases: [(String, String)] = [
            ("broken_magic", "not a GGUF file: starts with bytes 47 47 55 58, not \"GGUF\""),
            ("broken_version1", "GGUF version 1 is not supported (only 2 and 3)"),
            ("broken_truncated", "truncated: needs 8 bytes at offset 16, file has 20"),
            ("broken_data_cut", "tensor b: data ends at 64, past the 48 data bytes"),
            ("broken_tensor_count", "tensor count 1099511627776 at offset 8 is more than the remaining bytes could hold (at most 6)"),
            ("broken_kv_count", "metadata count 1152921504606846976 at offset 16 is more than the remaining bytes could hold (at most 16)"),
            ("broken_string_length", "string length 1125899906842624 at offset 24 runs past the end of the file (224 bytes)"),
            ("broken_ndims", "tensor a: n_dims 5 is more than ggml's 4"),
            ("broken_offset_past_end", "tensor b: data ends at 4128, past the 64 data bytes"),
            ("broken_overlap", "tensor b overlaps tensor a"),
            ("broken_alignment_zero", "metadata general.alignment: 0 is not a power of two"),
            ("broken_alignment_48", "metadata general.alignment: 48 is not a power of two"),
        ]
        for (name, message) in cases {
            let path = Self.folder + "/\(name).gguf"
            XCTAssertThrowsError(try GGUFFile(path: path), name) { error in
                let text = "\(error)"
                XCTAssertEqual(text, "\(path): \(message)")
                XCTAssertFalse(text.contains("\n"), name)
            }
        }
    }

    private func floats(_ bytes: UnsafeRawBufferPointer) -> [Float] {
        (0..<(bytes.count / 4)).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
    }
}

private extension Array {
    /// The elements repeated forever.
    func cycled() -> UnfoldSequence<Element, Int> {
        sequence(state: 0) { index in
            defer { index = (index + 1) % count }
            return self[index]
        }
    }
}

/// llama.cpp → transformers names and the RoPE row permutation, against numpy's
/// `w.reshape(heads, 2, rows // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)` (convert_hf_to_gguf.py).
final class GGUFLlamaTests: XCTestCase {
    func testLlamaNamesMapToTransformersNames() {
        let cases: [(String, String?)] = [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
            ("blk.12.attn_k.weight", "model.layers.12.self_attn.k_proj.weight"),
            ("blk.3.attn_v.bias", "model.layers.3.self_attn.v_proj.bias"),
            ("blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"),
            ("blk.1.ffn_gate.weight", "model.layers.1.mlp.gate_proj.weight"),
            ("blk.1.ffn_up.weight", "model.layers.1.mlp.up_proj.weight"),
            ("blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight"),
            ("blk.29.attn_norm.weight", "model.layers.29.input_layernorm.weight"),
            ("blk.29.ffn_norm.weight", "model.layers.29.post_attention_layernorm.weight"),
            ("output_norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight"),
            ("rope_freqs.weight", nil), ("blk.x.attn_q.weight", nil), ("blk.01.attn_q.weight", nil),
            ("blk.0.attn_q", nil), ("blk.0.attn_qkv.weight", nil),
        ]
        for (name, expected) in cases { XCTAssertEqual(GGUFArchitecture.llama.transformersName(name), expected, name) }
    }

    func testRoPEUnpermutationInvertsConvertHFToGGUF() {
        // numpy: 2 heads, head_dim 4, one column
        XCTAssertEqual(GGUFRoPEPermutation.unpermuteRows([0, 2, 1, 3, 4, 6, 5, 7], rows: 8, columns: 1, heads: 2),
                       (0..<8).map(Float.init))
        // numpy: 3 heads, head_dim 4, two columns (whole rows move)
        let permuted: [Float] = [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15, 16, 17, 20, 21, 18, 19, 22, 23]
        XCTAssertEqual(GGUFRoPEPermutation.unpermuteRows(permuted, rows: 12, columns: 2, heads: 3), (0..<24).map(Float.init))
        // head_dim 64, as SmolLM2's: permuting with the formula and unpermuting gives the rows back
        let rows = 3 * 64, columns = 5
        let original = (0..<(rows * columns)).map(Float.init)
        var forward = [Float](repeating: 0, count: original.count)
        for h in 0..<3 { for i in 0..<2 { for j in 0..<32 { for c in 0..<columns {
            forward[(h * 64 + 2 * j + i) * columns + c] = original[(h * 64 + i * 32 + j) * columns + c]
        } } } }
        XCTAssertNotEqual(forward, original)
        XCTAssertEqual(GGUFRoPEPermutation.unpermuteRows(forward, rows: rows, columns: columns, heads: 3), original)
    }
}
