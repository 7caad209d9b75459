import Foundation
import XCTest
@testable import QuantKit

/// GGUF → transformers folder. The real file is SmolLM2-135M-Instruct (GGUFRealModelTests fetches it);
/// its expectations (Tests/Fixtures/gguf/smollm2-conversion.json, scripts/fixtures/make_gguf_smollm2_expected.py)
/// are transformers' GGUF tokenizer's ids for the calibration text and torch's outlier column counts
/// for a few layers of the model transformers loads from the same file.
final class GGUFConversionTests: XCTestCase {
    /// Tests/Fixtures/gguf/tiny-llama (scripts/fixtures/make_gguf_llama_fixture.py): a seeded llama written as
    /// convert_hf_to_gguf.py writes one (Q8_0, Q4_0, Q4_1, Q5_0, F16 and F32 tensors, q/k permuted).
    func testTinyLlamaConvertsBackToItsTransformersWeightsConfigTokensAndLogits() throws {
        let fixture = fixturesFolder + "/gguf/tiny-llama"
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixture + "/expected.json")))
        let cache = TemporaryFolder()
        let result = try GGUFConversion(path: fixture + "/tiny-llama.gguf", cacheFolder: cache.path).run()
        let checkpoint = try Checkpoint(path: result.folder)
        try assertTensorsEqual(checkpoint, try SafetensorsFile(path: fixture + "/expected.safetensors"))

        let config = try XCTUnwrap(JSONValue.parse(XCTUnwrap(checkpoint.config).rawJSON).object)
        // GGUF holds the epsilon as float32; transformers' own GGUF loader writes it widened, as we do.
        for (key, value) in expected["config"]!.object! where value != .null && key != "rms_norm_eps" {
            XCTAssertEqual(config[key], value, key)
        }
        XCTAssertEqual(config["rms_norm_eps"], .number(Double(Float(1e-5))))

        let tokenizer = try Calibration.tokenizer(for: checkpoint)
        let ids = try tokenizer.encode(expected["text"]!.string!)
        XCTAssertEqual(ids, expected["ids"]!.array!.map { $0.integer! }, "transformers' GGUF tokenizer's ids")

        try assertLogitsMatchTransformers(checkpoint: checkpoint, ids: ids, expected: expected["logits"]!)
    }

    func testSmolLM2ConvertsToTheModelTransformersLoads() throws {
        let gguf = try GGUFRealModelTests.model()
        let cache = TemporaryFolder()
        let conversion = GGUFConversion(path: gguf, cacheFolder: cache.path)
        var reports = 0
        let result = try conversion.run { _ in reports += 1 }
        XCTAssertTrue(result.converted)
        XCTAssertEqual(result.tokenizerNote, "tokenizer.ggml.pre \"smollm\" is not one transformers maps: GPT-2's split is used, as transformers does (llama.cpp may split text differently)")
        XCTAssertGreaterThan(reports, 272)
        XCTAssertEqual(result.folder, cache.path + "/" + (try ContentFingerprint.of(gguf)) + "-c\(GGUFConversion.converterVersion)")
        XCTAssertFalse(try conversion.run().converted, "the finished folder is reused")

        let checkpoint = try Checkpoint(path: result.folder)
        XCTAssertEqual(checkpoint.tensors.count, 272)
        XCTAssertNil(checkpoint.tensor(named: "lm_head.weight"), "no output.weight: the head is tied")
        XCTAssertEqual(checkpoint.tensor(named: "model.layers.0.self_attn.k_proj.weight")?.shape, [192, 576])
        XCTAssertTrue(checkpoint.tensors.allSatisfy { $0.dtype == .f32 })
        let model = try ModelDescription(config: try XCTUnwrap(checkpoint.config))
        XCTAssertEqual([model.hiddenSize, model.layerCount, model.headCount, model.keyValueHeadCount, model.headSize,
                        model.intermediateSize, model.vocabularySize, model.maxPositions], [576, 30, 9, 3, 64, 1536, 49152, 8192])
        XCTAssertTrue(model.tiedEmbeddings)
        XCTAssertEqual(model.normEpsilon, 1e-5)

        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/gguf/smollm2-conversion.json")))
        let calibration = Calibration(tokenLimit: 512)
        let tokens = try calibration.tokens(of: CalibrationText.standard, tokenizer: try Calibration.tokenizer(for: checkpoint))
        XCTAssertEqual(tokens, expected["tokens"]!.array!.map { $0.integer! }, "transformers' GGUF tokenizer's ids")

        let statistics = try calibration.run(try ModelRuntime(checkpoint: checkpoint), tokens: tokens)
        for (name, counts) in expected["outlier_columns"]!.object! {
            let seen = try XCTUnwrap(statistics[name], name)
            for (threshold, count) in counts.object! {
                XCTAssertEqual(seen.outlierColumns(atLeast: Float(threshold)!), count.integer!, "\(name) at \(threshold)")
            }
        }
    }

    /// No GGUF is refused for its architecture: a phi2 file (scripts/fixtures/make_gguf_gemma_fixtures.py, no
    /// forward pass here) opens weight-only: every 2-D weight listed under its GGUF name and analysed,
    /// the embedding and head kept as such, the 3-D tensor left out and named, and the runtime says why.
    func testOtherArchitectureOpensWeightOnlyWithEvery2DWeightListed() throws {
        let fixture = fixturesFolder + "/gguf/weight-only"
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixture + "/expected.json")))
        let cache = TemporaryFolder()
        let result = try GGUFConversion(path: fixture + "/phi2.gguf", cacheFolder: cache.path).run()
        let reason = try XCTUnwrap(result.weightOnlyReason)
        XCTAssertTrue(reason.hasPrefix("GGUF architecture phi2 opens weight-only: qtui runs llama, qwen2, qwen3, phi3, falcon, gemma2, gemma3 GGUF files"), reason)
        XCTAssertTrue(reason.contains("1 tensor of more than 2 dimensions or without a dequantizer left out (blk.0.ffn_gate_exps.weight)"), reason)
        XCTAssertNil(result.tokenizerNote)

        let checkpoint = try Checkpoint(path: result.folder)
        let tensors = expected["tensors"]!.array!.map { ($0["name"]!.string!, $0["shape"]!.array!.map { $0.integer! }) }
        let matrices = tensors.filter { $0.1.count == 2 }.map(\.0)
        XCTAssertEqual(Set(checkpoint.tensors.map(\.name)), Set(tensors.filter { $0.1.count <= 2 }.map(\.0)))
        let plan = LinearLayerPlan(checkpoint: checkpoint)
        XCTAssertEqual(Set(plan.linears.map(\.weight.name)), Set(matrices).subtracting(["token_embd.weight", "output.weight"]))
        XCTAssertEqual(plan.kept.first { $0.tensor.name == "token_embd.weight" }?.reason, .embedding)
        XCTAssertEqual(plan.kept.first { $0.tensor.name == "output.weight" }?.reason, .outputHead)

        for layer in plan.linears {
            let report = try WeightAnalyzer(threads: 1).analyze(layer, in: checkpoint)
            XCTAssertEqual(report.name, layer.name)
            XCTAssertGreaterThan(report.statistics.std, 0, layer.name)
        }

        XCTAssertThrowsError(try ModelRuntime(checkpoint: checkpoint)) { error in
            XCTAssertEqual((error as? ModelError)?.problem, .unsupportedFeature(reason))
        }
    }

    func testUnsupportedTokenizerModelIsNotedAndWeightsAndConfigAreStillWritten() throws {
        let cache = TemporaryFolder()
        let metadata: [String: GGUFValue] = [
            "general.architecture": .string("llama"), "llama.embedding_length": .uint32(64),
            "llama.feed_forward_length": .uint32(96), "llama.block_count": .uint32(2), "llama.attention.head_count": .uint32(4),
            "llama.context_length": .uint32(128), "llama.vocab_size": .uint32(32000), "tokenizer.ggml.model": .string("t5"),
        ]
        let path = cache.write("unigram.gguf", Self.metadataOnlyGGUF(metadata))
        let result = try GGUFConversion(path: path, cacheFolder: cache.path + "/converted").run()
        XCTAssertEqual(result.tokenizerNote, "tokenizer model \"t5\" is not supported yet (no tokenizer.json, weights only)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: result.folder + "/tokenizer.json"))
        let checkpoint = try Checkpoint(path: result.folder)
        let model = try ModelDescription(config: try XCTUnwrap(checkpoint.config))
        XCTAssertEqual([model.hiddenSize, model.layerCount, model.headCount, model.keyValueHeadCount, model.headSize], [64, 2, 4, 4, 16])
        XCTAssertTrue(model.tiedEmbeddings, "no output.weight")
    }

    /// |GGUF|u32 3|u64 0 tensors|u64 n kv|(string key|u32 type|value) × n|, keys sorted
    ///     value: scalars little-endian; string = |u64 length|UTF-8|; array = |u32 element type|u64 count|values|
    static func metadataOnlyGGUF(_ metadata: [String: GGUFValue]) -> [UInt8] {
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        func string(_ text: String) -> [UInt8] { le(UInt64(text.utf8.count)) + Array(text.utf8) }
        func payload(_ value: GGUFValue) -> [UInt8] {
            switch value {
            case .uint8(let v): return le(v)
            case .int8(let v): return le(v)
            case .uint16(let v): return le(v)
            case .int16(let v): return le(v)
            case .uint32(let v): return le(v)
            case .int32(let v): return le(v)
            case .uint64(let v): return le(v)
            case .int64(let v): return le(v)
            case .float32(let v): return le(v.bitPattern)
            case .float64(let v): return le(v.bitPattern)
            case .bool(let v): return [v ? 1 : 0]
            case .string(let text): return string(text)
            case .array(let type, let values): return le(type.rawValue) + le(UInt64(values.count)) + values.flatMap(payload)
            }
        }
        var bytes = Array("GGUF".utf8) + le(UInt32(3)) + le(UInt64(0)) + le(UInt64(metadata.count))
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            bytes += string(key) + le(value.type.rawValue) + payload(value)
        }
        return bytes
    }
}
