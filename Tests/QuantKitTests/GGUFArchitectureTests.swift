import Foundation
import XCTest
@testable import QuantKit

/// GGUF architectures beyond llama. Tests/Fixtures/gguf/tiny-qwen2 and tiny-qwen3
/// (scripts/fixtures/make_gguf_qwen_fixtures.py; tiny-gemma2 and tiny-gemma3 from make_gguf_gemma_fixtures.py): a seeded Qwen2ForCausalLM / Qwen3ForCausalLM written as
/// convert_hf_to_gguf.py writes one (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F16 and F32 tensors, q/k not permuted),
/// and what transformers 5.24's own GGUF loading makes of the file: state dict, config, tokenizer.json,
/// ids, logits.
final class GGUFArchitectureTests: XCTestCase {
    func testTinyQwen2ConvertsToTheModelTransformersLoads() throws {
        try checkConversion(of: "qwen2")
    }

    func testTinyQwen3ConvertsToTheModelTransformersLoads() throws {
        try checkConversion(of: "qwen3")
    }

    /// Fused attn_qkv / ffn_up kept as qkv_proj / gate_up_proj; Phi-3's normalizer-prefixed SentencePiece
    /// (scripts/fixtures/make_gguf_arch_fixtures.py).
    func testTinyPhi3ConvertsToTheModelTransformersLoads() throws {
        try checkConversion(of: "phi3")
    }

    /// transformer.h.N names, FalconConfig's multi-query defaults, the "falcon" pre-tokenizer transformers
    /// does not map (GPT-2's split, said in the note).
    func testTinyFalconConvertsToTheModelTransformersLoads() throws {
        try checkConversion(of: "falcon", tokenizerNote: "tokenizer.ggml.pre \"falcon\" is not one transformers maps: GPT-2's split is used, as transformers does (llama.cpp may split text differently)")
    }

    /// Gemma 2 and 3 (scripts/fixtures/make_gguf_gemma_fixtures.py): norms stored as w + 1, gemma's tokenizer
    /// (whitespace tokens respelled, merges in file order), the class defaults transformers keeps.
    func testTinyGemma2ConvertsToTheModelTransformersLoads() throws {
        try checkConversion(of: "gemma2")
    }

    func testTinyGemma3ConvertsToTheModelTransformersLoads() throws {
        try checkConversion(of: "gemma3")
    }

    func checkConversion(of architecture: String, tokenizerNote: String? = nil) throws {
        let fixture = fixturesFolder + "/gguf/tiny-\(architecture)"
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixture + "/expected.json")))
        let cache = TemporaryFolder()
        let result = try GGUFConversion(path: fixture + "/tiny-\(architecture).gguf", cacheFolder: cache.path).run()
        XCTAssertEqual(result.tokenizerNote, tokenizerNote)
        let checkpoint = try Checkpoint(path: result.folder)

        try assertTensorsEqual(checkpoint, try SafetensorsFile(path: fixture + "/expected.safetensors"))

        // Every field transformers writes, and no other; GGUF holds the epsilon as float32 and
        // transformers writes it widened, as we do.
        let config = try XCTUnwrap(JSONValue.parse(XCTUnwrap(checkpoint.config).rawJSON).object)
        let reference = try XCTUnwrap(expected["config"]?.object)
        XCTAssertEqual(Set(config.keys), Set(reference.keys))
        for (key, value) in reference { XCTAssertEqual(config[key], value, key) }

        let written = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: result.folder + "/tokenizer.json"))).object!
        let transformers = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixture + "/tokenizer.json"))).object!
        XCTAssertEqual(Set(written.keys), Set(transformers.keys))
        for (key, value) in transformers { XCTAssertEqual(written[key], value, "tokenizer.json \(key)") }

        let tokenizer = try Calibration.tokenizer(for: checkpoint)
        for testCase in expected["cases"]!.array! {
            let text = testCase["text"]!.string!
            XCTAssertEqual(try tokenizer.encode(text), testCase["ids"]!.array!.map { $0.integer! }, text.debugDescription)
            XCTAssertEqual(try tokenizer.encode(text, addSpecialTokens: false),
                           testCase["ids_without_special_tokens"]!.array!.map { $0.integer! }, text.debugDescription)
        }

        let ids = try tokenizer.encode(expected["text"]!.string!)
        XCTAssertEqual(ids, expected["ids"]!.array!.map { $0.integer! }, "transformers' GGUF tokenizer's ids")
        try assertLogitsMatchTransformers(checkpoint: checkpoint, ids: ids, expected: expected["logits"]!)
    }

    /// Metadata is read under the file's own prefix: a qwen3 file with llama.* keys is missing qwen3.*.
    func testMissingArchitectureKeyIsNamedWithItsPrefix() throws {
        let cache = TemporaryFolder()
        let metadata: [String: GGUFValue] = [
            "general.architecture": .string("qwen3"), "llama.embedding_length": .uint32(64),
            "llama.feed_forward_length": .uint32(96), "llama.block_count": .uint32(2), "llama.attention.head_count": .uint32(4),
            "llama.context_length": .uint32(128), "llama.vocab_size": .uint32(300),
        ]
        let path = cache.write("mislabelled.gguf", GGUFConversionTests.metadataOnlyGGUF(metadata))
        XCTAssertThrowsError(try GGUFConversion(path: path, cacheFolder: cache.path + "/converted").run()) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix(path + ": "), message)
            XCTAssertTrue(message.contains("qwen3.embedding_length"), message)
        }
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: cache.path + "/converted")) ?? [], [], "nothing left behind")
    }

    /// qwen3 blocks add the per-head q/k norms; qwen2 biases ride on the same names; llama's table knows
    /// neither norm.
    func testArchitectureNameTables() {
        XCTAssertEqual(GGUFArchitecture.qwen3.transformersName("blk.1.attn_q_norm.weight"), "model.layers.1.self_attn.q_norm.weight")
        XCTAssertEqual(GGUFArchitecture.qwen3.transformersName("blk.0.attn_k_norm.weight"), "model.layers.0.self_attn.k_norm.weight")
        XCTAssertEqual(GGUFArchitecture.qwen2.transformersName("blk.0.attn_k.bias"), "model.layers.0.self_attn.k_proj.bias")
        XCTAssertEqual(GGUFArchitecture.qwen2.transformersName("output.weight"), "lm_head.weight")
        XCTAssertNil(GGUFArchitecture.qwen2.transformersName("blk.0.attn_q_norm.weight"))
        XCTAssertNil(GGUFArchitecture.llama.transformersName("blk.0.attn_q_norm.weight"))
        XCTAssertEqual(GGUFArchitecture.supported.map(\.name), ["llama", "qwen2", "qwen3", "phi3", "falcon", "gemma2", "gemma3"])
        XCTAssertEqual(GGUFArchitecture.falcon.transformersName("blk.1.attn_qkv.weight"), "transformer.h.1.self_attention.query_key_value.weight")
        XCTAssertEqual(GGUFArchitecture.falcon.transformersName("output_norm.bias"), "transformer.ln_f.bias")
        XCTAssertNil(GGUFArchitecture.falcon.transformersName("blk.0.attn_norm_2.weight"))
        XCTAssertEqual(GGUFArchitecture.phi3.transformersName("blk.0.ffn_up.weight"), "model.layers.0.mlp.gate_up_proj.weight")
        XCTAssertNil(GGUFArchitecture.phi3.transformersName("rope_factors_long.weight"))
        XCTAssertTrue(GGUFArchitecture.llama.permutesQueryKeyRows)
        XCTAssertFalse(GGUFArchitecture.qwen2.permutesQueryKeyRows || GGUFArchitecture.qwen3.permutesQueryKeyRows)
    }
}
