import Foundation
import XCTest
@testable import QuantKit

/// Damaged inputs never crash: each reader either opens the file or throws its one-line error. Seeded
/// mutations (flipped bytes, numbers overwritten with extreme values, cuts) of real fixtures are opened
/// and, when they open, read the way the tools read them. A Swift trap here would end the test run.
final class MalformedInputTests: XCTestCase {
    private var generator = SplitMix64(seed: 2026_11_29)

    private func random(_ bound: Int) -> Int { Int(generator.next() % UInt64(max(bound, 1))) }

    /// One damage: a few bytes flipped, 8 bytes set to an extreme or random number (lengths, counts,
    /// offsets), or the file cut short. Most damage falls in the first `headerBytes`, where the
    /// structure is.
    private func damaged(_ original: [UInt8], headerBytes: Int) -> [UInt8] {
        var bytes = original
        let region = random(4) == 0 ? bytes.count : min(headerBytes, bytes.count)
        switch random(4) {
        case 0:
            for _ in 0...random(8) { bytes[random(region)] ^= UInt8(1 << random(8)) }
        case 1, 2:
            let extremes: [UInt64] = [0, 1, UInt64.max, UInt64(Int64.max), 1 << 32, 1 << 62, UInt64(UInt32.max), generator.next()]
            let value = extremes[random(extremes.count)]
            let at = random(max(region - 8, 1))
            for k in 0..<min(8, bytes.count - at) { bytes[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
        default:
            bytes.removeLast(random(bytes.count))
        }
        return bytes
    }

    private func eachDamagedCopy(of file: String, count: Int, headerBytes: Int, _ open: (String) -> Void) throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let folder = TemporaryFolder()
        for round in 0..<count {
            let path = folder.write("damaged-\(round)-" + (file as NSString).lastPathComponent, damaged(original, headerBytes: headerBytes))
            open(path)
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    private func expectOneLineError(_ error: Error, _ path: String) {
        XCTAssertTrue(error is BadInputError, "\(path): \(error)")
        XCTAssertFalse("\(error)".contains("\n"), "\(error)")
    }

    func testDamagedGGUFFilesOpenOrFailWithOneLine() throws {
        for seed in ["types.gguf", "sentencepiece/llama.gguf"] {
            try eachDamagedCopy(of: fixturesFolder + "/gguf/" + seed, count: 400, headerBytes: 1024) { path in
                do {
                    let file = try GGUFFile(path: path)
                    for tensor in file.tensors where tensor.type.isDequantizable {
                        _ = GGUFDequantize.tensor(tensor.type, bytes: try file.bytes(of: tensor))
                    }
                    if file["tokenizer.ggml.model"] != nil { _ = try? GGUFConversion.tokenizerBuilder(file)?(file) }
                } catch {
                    expectOneLineError(error, path)
                }
            }
        }
    }

    func testDamagedSafetensorsFilesOpenOrFailWithOneLine() throws {
        var builder = SafetensorsBuilder()
        var values = SeededGenerator(seed: 7)
        builder.add("model.layers.0.mlp.down_proj.weight", halves: values.normal(32 * 64, scale: 0.1).map { Float(Float16($0)) }, shape: [32, 64])
        builder.add("model.layers.0.mlp.up_proj.weight", floats: values.normal(64 * 32), shape: [64, 32])
        builder.add("model.norm.weight", bfloats: [Float](repeating: 1, count: 32), shape: [32])
        let folder = TemporaryFolder()
        let source = folder.write("model.safetensors", builder.bytes())
        try eachDamagedCopy(of: source, count: 600, headerBytes: 400) { path in
            do {
                let checkpoint = try Checkpoint(path: path)
                for layer in LinearLayerPlan(checkpoint: checkpoint).linears {
                    _ = try WeightAnalyzer(blocksize: 64, threads: 1).analyze(layer, in: checkpoint)
                }
            } catch {
                expectOneLineError(error, path)
            }
        }
    }

    func testDamagedTokenizerFilesLoadOrFailWithOneLine() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/tokenizers/llama2.tokenizer.json")))
        for _ in 0..<300 {
            let bytes = damaged(original, headerBytes: original.count)
            do {
                let tokenizer = try Tokenizer(json: Data(bytes), source: "damaged.tokenizer.json")
                _ = try tokenizer.encode("Hello world, 12345 — ünïcödé!\n  spaces")
            } catch {
                expectOneLineError(error, "damaged.tokenizer.json")
            }
        }
    }
}
