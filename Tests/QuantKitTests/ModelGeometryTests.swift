import Foundation
import XCTest
@testable import QuantKit

/// Issue 17: absurd geometry — zero, huge, negative, fractional, non-dividing — is refused by
/// ModelGeometry with one line naming the file, the key and the value, for config.json and GGUF
/// metadata alike, before anything divides or allocates with it.
final class ModelGeometryTests: XCTestCase {
    /// A BadInputError whose one line names `file` and contains every fragment.
    private func assertRefused(_ body: () throws -> Any, file: String, _ fragments: [String], line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("accepted; expected an error with \(fragments)", line: line)
        } catch let error as any BadInputError {
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), text, line: line)
            XCTAssertTrue(text.hasPrefix(file + ": "), text, line: line)
            for fragment in fragments { XCTAssertTrue(text.contains(fragment), "\(text) lacks \(fragment)", line: line) }
        } catch {
            XCTFail("not a BadInputError: \(error)", line: line)
        }
    }

    // MARK: config.json

    private let llamaConfig: [String: String] = [
        "model_type": "\"llama\"", "hidden_size": "64", "intermediate_size": "128", "num_hidden_layers": "2",
        "num_attention_heads": "4", "num_key_value_heads": "2", "vocab_size": "256", "max_position_embeddings": "64",
    ]

    private func config(_ changes: [String: String?]) throws -> (String, () throws -> Any) {
        var fields = llamaConfig
        for (key, value) in changes { fields[key] = value }
        let json = "{" + fields.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
        let folder = TemporaryFolder()
        let path = folder.write("config.json", text: json)
        return (path, { try withExtendedLifetime(folder) { try ModelDescription(config: try ModelConfig(path: path)) } })
    }

    func testAbsurdConfigValuesAreRefusedNamingKeyAndValue() throws {
        let cases: [([String: String?], [String])] = [
            (["num_key_value_heads": "0"], ["num_key_value_heads 0", "outside 1…"]),
            (["num_hidden_layers": "2147483648"], ["num_hidden_layers 2147483648", "outside"]),
            (["head_dim": "0"], ["head_dim 0", "outside"]),
            (["vocab_size": "0"], ["vocab_size 0"]),
            (["intermediate_size": "0"], ["intermediate_size 0"]),
            (["hidden_size": "-64"], ["hidden_size -64"]),
            (["num_attention_heads": "4.5"], ["num_attention_heads 4.5", "not an integer"]),
            (["vocab_size": "\"256\""], ["vocab_size \"256\"", "not an integer"]),
            (["hidden_size": "true"], ["hidden_size true", "not an integer"]),
            (["num_attention_heads": "3", "num_key_value_heads": "1"], ["hidden_size 64", "not divisible by num_attention_heads 3"]),
            (["num_key_value_heads": "3"], ["num_key_value_heads 3", "does not divide num_attention_heads 4"]),
            (["head_dim": "15"], ["head_dim 15", "odd"]),
            (["hidden_size": "60", "num_attention_heads": "4"], ["hidden_size / num_attention_heads 15", "odd"]),
            (["max_position_embeddings": "0"], ["max_position_embeddings 0"]),
            (["sliding_window": "-4", "model_type": "\"mistral\""], ["sliding_window -4"]),  // 0 means none (Qwen2MoeConfig writes it)
            (["hidden_size": "1e300"], ["hidden_size", "not an integer"]),
        ]
        for (changes, fragments) in cases {
            let (path, open) = try config(changes)
            assertRefused(open, file: path, fragments)
        }
    }

    func testNullAndSaneValuesPass() throws {
        let (_, open) = try config(["head_dim": "null", "sliding_window": "null", "num_key_value_heads": "4"])
        let model = try XCTUnwrap(try open() as? ModelDescription)
        XCTAssertEqual(model.headSize, 16)
        XCTAssertEqual(model.keyValueHeadCount, 4)
    }

    /// Within bounds, yet wider than the exact int8 product calibration runs: the model is not run
    /// (a weight-only report says why), never a precondition trap.
    func testLinearWiderThanTheInt8ProductIsUnsupported() throws {
        for changes in [["intermediate_size": "200000"], ["head_dim": "65536"]] {
            let (path, open) = try config(changes)
            assertRefused(open, file: path, ["unsupported: Linear layers with", "at most 131071"])
        }
    }

    /// The fuzz-findings reproducer (F8) beside a real model: the open fails, before any runtime.
    func testReproducerConfigFailsTheOpen() throws {
        let folder = TemporaryFolder()
        for name in ["model.safetensors"] {
            try FileManager.default.copyItem(atPath: fixturesFolder + "/runtime/llama-f32/" + name, toPath: folder.path + "/" + name)
        }
        try FileManager.default.copyItem(atPath: fixturesFolder + "/malformed/config-divzero-num_key_value_heads-0.config.json",
                                         toPath: folder.path + "/config.json")
        assertRefused({ try Checkpoint(path: folder.path) }, file: folder.path + "/config.json", ["num_key_value_heads 0"])
    }

    // MARK: GGUF metadata and tensors

    private func convert(_ builder: GGUFBuilder) -> (String, () throws -> Any, TemporaryFolder) {
        let folder = TemporaryFolder()
        let path = folder.write("model.gguf", builder.bytes())
        return (path, { try GGUFConversion(path: path, cacheFolder: folder.path + "/cache").run() }, folder)
    }

    func testValidTinyGGUFConverts() throws {
        let (_, run, folder) = convert(.llama())
        let result = try XCTUnwrap(try run() as? GGUFConversion.Result)
        XCTAssertTrue(result.converted)
        _ = try ModelRuntime(checkpoint: Checkpoint(path: result.folder))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path + "/cache").count, 1)
    }

    func testAbsurdGGUFMetadataIsRefusedBeforeAnythingIsWritten() throws {
        let cases: [([String: GGUFBuilder.Value], String)] = [
            (["llama.block_count": .uint32(.max)], "llama.block_count 4294967295"),
            (["llama.attention.head_count": .uint32(0)], "llama.attention.head_count 0"),
            (["llama.attention.head_count_kv": .uint32(0)], "llama.attention.head_count_kv 0"),
            (["llama.attention.head_count_kv": .uint32(3)], "does not divide llama.attention.head_count 2"),
            (["llama.embedding_length": .uint32(0)], "llama.embedding_length 0"),
            (["llama.embedding_length": .float32(8.5)], "llama.embedding_length 8.5 is not an integer"),
            (["llama.feed_forward_length": .int32(-16)], "llama.feed_forward_length -16"),
            (["llama.context_length": .uint32(0)], "llama.context_length 0"),
            (["llama.attention.head_count": .uint32(3), "llama.attention.head_count_kv": .uint32(3)],
             "llama.embedding_length 8 is not divisible by llama.attention.head_count 3"),
            (["llama.attention.key_length": .uint32(3)], "llama.attention.key_length 3"),
            (["llama.rope.dimension_count": .uint32(3)], "llama.rope.dimension_count 3"),
            (["llama.attention.key_length": .uint32(4), "llama.rope.dimension_count": .uint32(8)],
             "llama.rope.dimension_count 8 is more than the head size 4"),
            (["tokenizer.ggml.tokens": .strings([])], "tokenizer.ggml.tokens (count) 0"),
        ]
        for (override, fragment) in cases {
            let (path, run, folder) = convert(.llama(override: override))
            assertRefused(run, file: path, [fragment])
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.path + "/cache"), fragment)
        }
    }

    func testTensorsMustHaveTheShapeTheMetadataGives() throws {
        let cases: [(String, [UInt64], String)] = [
            ("blk.0.attn_q.weight", [8, 6], "has shape [6, 8], but"),
            ("blk.0.attn_v.weight", [0, 1 << 40], "has shape [1099511627776, 0]"),
            ("token_embd.weight", [0, 1 << 62, 1 << 62, 1 << 62], "multiply past 64 bits"),
            ("blk.0.ffn_down.weight", [8, 16], "has shape [16, 8]"),
            ("blk.3.attn_q.weight", [8, 8], "is in block 3, but llama.block_count is 1"),
            ("output.weight", [8, 5], "has shape [5, 8]"),
        ]
        for (name, ne, fragment) in cases {
            var builder = GGUFBuilder.llama()
            builder.tensor(name, ne)
            let (path, run, _) = convert(builder)
            assertRefused(run, file: path, ["tensor \(name)", fragment])
        }
    }

    /// F1–F4, F6 as found: the reproducers give one line naming the file.
    func testGGUFReproducersAreRefused() throws {
        let expected = [
            "gguf-oom-block-count-u32max.gguf": "qwen2.block_count 4294967295",
            "gguf-divzero-head-count-0.gguf": "qwen2.attention.head_count 0",
            "gguf-precondition-rope-heads-3.gguf": "llama.attention.head_count 3",
            "gguf-overflow-zero-dim-shape.gguf": "multiply past 64 bits",
            "gguf-oom-rows-2pow40-cols-0.gguf": "tensor blk.0.attn_v.weight",
        ]
        for (name, fragment) in expected {
            let path = fixturesFolder + "/malformed/" + name
            let cache = TemporaryFolder()
            assertRefused({ try GGUFConversion(path: path, cacheFolder: cache.path).run() }, file: path, [fragment])
        }
    }

    /// F7: a SentencePiece vocabulary with a 60k-character token converts in seconds (it took minutes:
    /// two new strings per cut), and its merges still include the cuts into tokens.
    func testLongSentencePieceTokenIsLinear() throws {
        let long = String(repeating: "ab", count: 30_000)
        let (_, run, _) = convert(.llama(tokens: ["<unk>", "<s>", "</s>", "a", "b", "ab", long]))
        let start = Date()
        let result = try XCTUnwrap(try run() as? GGUFConversion.Result)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        let merges = GGUFSentencePieceTokenizerJSON.mergesFromScores(tokens: ["a", "b", "ab", "abab"], scores: [0, 0, -1, -2])
        XCTAssertEqual(merges.map { "\($0.left) \($0.right)" }, ["a b", "ab ab"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: result.folder + "/tokenizer.json"))
    }

    // MARK: partial folders

    func testStalePartialFoldersAreRemovedLiveOnesKept() throws {
        let (_, run, folder) = convert(.llama())
        let cache = folder.path + "/cache"
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let stale = cache + "/other.gguf-1-2-c3" + GGUFPartialFolders.suffix(for: finished.processIdentifier)
        let live = cache + "/other.gguf-1-2-c3" + GGUFPartialFolders.suffix(for: getppid())
        for path in [stale, live] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        _ = try run()
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live))
    }

    // MARK: shapes

    func testElementCountsRefuseWhatOverflowsInAnyOrder() {
        XCTAssertEqual(ElementCount.of([3, 4], bytesPerElement: 4), 12)
        XCTAssertEqual(ElementCount.of([1 << 40, 0], bytesPerElement: 2), 0)
        XCTAssertEqual(ElementCount.of([], bytesPerElement: 4), 1)
        XCTAssertNil(ElementCount.of([0, 1 << 62, 1 << 62], bytesPerElement: 1))
        XCTAssertNil(ElementCount.of([1 << 62, 0, 1 << 62], bytesPerElement: 1))
        XCTAssertNil(ElementCount.of([1 << 61, 2], bytesPerElement: 4))
        XCTAssertNil(ElementCount.of([4, -1], bytesPerElement: 1))
    }

    func testSafetensorsShapeOverflowingPastAZeroIsRefused() throws {
        var builder = SafetensorsBuilder()
        builder.add("w", "F16", [0, 1 << 62, 1 << 62], [])
        let folder = TemporaryFolder()
        let path = folder.write("model.safetensors", builder.bytes())
        assertRefused({ try SafetensorsFile(path: path) }, file: path, ["tensor w", "multiplies past 64 bits"])
    }

    /// F5: a weight with a zero dimension is kept with its reason and never analysed.
    func testZeroDimensionWeightIsKeptNotAnalysed() throws {
        let path = fixturesFolder + "/malformed/safetensors-oom-rows-2pow40-cols-0.safetensors"
        let checkpoint = try Checkpoint(path: path)
        let plan = LinearLayerPlan(checkpoint: checkpoint)
        XCTAssertTrue(plan.linears.isEmpty)
        XCTAssertEqual(plan.kept.map(\.reason), [.empty])
        let report = try ModelAnalyzer(OpenedModel(checkpoint), weights: WeightAnalyzer(threads: 1)).report()
        XCTAssertEqual(report.kept.map(\.name), ["model.layers.0.mlp.down_proj.weight"])
    }
}
