import Foundation
import XCTest
@testable import QuantKit

final class CheckpointTests: XCTestCase {
    private func shard(_ names: [String]) -> [UInt8] {
        var builder = SafetensorsBuilder()
        for name in names { builder.add(name, floats: [1, 2, 3, 4], shape: [2, 2]) }
        return builder.bytes()
    }

    private func index(_ map: [String: String]) -> String {
        let items = map.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \"\($0.value)\"" }
        return "{\"metadata\": {\"total_size\": 32}, \"weight_map\": {" + items.joined(separator: ", ") + "}}"
    }

    func testOpensShardedFolderWithConfig() throws {
        let folder = TemporaryFolder()
        folder.write("model-00001-of-00002.safetensors", shard(["a.weight"]))
        folder.write("model-00002-of-00002.safetensors", shard(["b.weight"]))
        folder.write("model.safetensors.index.json", text: index([
            "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors",
        ]))
        folder.write("config.json", text: "{\"model_type\": \"llama\", \"tie_word_embeddings\": false, \"hidden_size\": 2, \"torch_dtype\": \"float16\"}")
        let checkpoint = try Checkpoint(path: folder.path)
        XCTAssertEqual(checkpoint.shards.count, 2)
        XCTAssertEqual(checkpoint.tensors.map(\.name), ["a.weight", "b.weight"])
        XCTAssertEqual(checkpoint.tensor(named: "b.weight")?.shardIndex, 1)
        XCTAssertEqual(checkpoint.config?.modelType, "llama")
        XCTAssertEqual(checkpoint.config?.hiddenSize, 2)
    }

    func testMissingShard() {
        let folder = TemporaryFolder()
        folder.write("model-00001-of-00002.safetensors", shard(["a.weight"]))
        let indexPath = folder.write("model.safetensors.index.json", text: index([
            "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors",
        ]))
        XCTAssertThrowsCheckpointError(try Checkpoint(path: folder.path), file: indexPath) {
            $0 == .missingShard("model-00002-of-00002.safetensors")
        }
    }

    func testIndexNamingAnAbsentTensor() {
        let folder = TemporaryFolder()
        folder.write("model-00001-of-00001.safetensors", shard(["a.weight"]))
        let indexPath = folder.write("model.safetensors.index.json", text: index([
            "a.weight": "model-00001-of-00001.safetensors", "ghost.weight": "model-00001-of-00001.safetensors",
        ]))
        XCTAssertThrowsCheckpointError(try Checkpoint(path: folder.path), file: indexPath) {
            $0 == .tensorMissingFromShard(tensor: "ghost.weight", shard: "model-00001-of-00001.safetensors")
        }
    }

    func testFolderWithoutSafetensors() {
        let folder = TemporaryFolder()
        folder.write("config.json", text: "{}")
        XCTAssertThrowsCheckpointError(try Checkpoint(path: folder.path), file: folder.path) { $0 == .noSafetensors }
    }

    func testMissingPath() {
        XCTAssertThrowsCheckpointError(try Checkpoint(path: "/nonexistent/model"), file: "/nonexistent/model") {
            if case .cannotOpen = $0 { return true } else { return false }
        }
    }

    func testLinearDiscoveryFollowsTransformers() throws {
        var builder = SafetensorsBuilder()
        builder.add("model.embed_tokens.weight", floats: [Float](repeating: 0.1, count: 8), shape: [4, 2])
        builder.add("model.layers.0.self_attn.q_proj.weight", floats: [1, 2, 3, 4], shape: [2, 2])
        builder.add("model.layers.0.self_attn.q_proj.bias", floats: [1, 2], shape: [2])
        builder.add("model.layers.0.input_layernorm.weight", floats: [1, 1], shape: [2])
        builder.add("model.layers.0.mlp.up_proj.weight", floats: [Float](repeating: 1, count: 6), shape: [3, 2])
        builder.add("lm_head.weight", floats: [Float](repeating: 0.1, count: 8), shape: [4, 2])
        let folder = TemporaryFolder()
        folder.write("model.safetensors", builder.bytes())
        let plan = LinearLayerPlan(checkpoint: try Checkpoint(path: folder.path))
        XCTAssertEqual(plan.linears.map(\.name), ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj"])
        XCTAssertEqual(plan.linears[1].outFeatures, 3)
        XCTAssertEqual(plan.linears[1].inFeatures, 2)
        XCTAssertEqual(plan.linears[0].bias?.name, "model.layers.0.self_attn.q_proj.bias")
        let reasons = Dictionary(uniqueKeysWithValues: plan.kept.map { ($0.tensor.name, $0.reason) })
        XCTAssertEqual(reasons["model.embed_tokens.weight"], .embedding)
        XCTAssertEqual(reasons["lm_head.weight"], .outputHead)
        XCTAssertEqual(reasons["model.layers.0.input_layernorm.weight"], .notMatrix)
        XCTAssertEqual(reasons["model.layers.0.self_attn.q_proj.bias"], .bias)
    }

    func testClassificationHeadsFollowTheLastParameterRule() throws {
        // transformers keeps the module owning the last parameter: a bias-free `score` stays, a
        // `classifier` with a bias is converted (its last parameter is the bias); BERT's MLM decoder is
        // the output embedding.
        var builder = SafetensorsBuilder()
        builder.add("model.layers.0.mlp.up_proj.weight", floats: [1, 2, 3, 4], shape: [2, 2])
        builder.add("score.weight", floats: [1, 2, 3, 4], shape: [2, 2])
        builder.add("classifier.weight", floats: [1, 2, 3, 4], shape: [2, 2])
        builder.add("classifier.bias", floats: [0, 0], shape: [2])
        builder.add("cls.predictions.decoder.weight", floats: [1, 2, 3, 4], shape: [2, 2])
        let folder = TemporaryFolder()
        folder.write("model.safetensors", builder.bytes())
        let plan = LinearLayerPlan(checkpoint: try Checkpoint(path: folder.path))
        XCTAssertEqual(Set(plan.linears.map(\.name)), ["model.layers.0.mlp.up_proj", "classifier"])
        let heads = plan.kept.filter { $0.reason == .outputHead }.map(\.tensor.name)
        XCTAssertEqual(Set(heads), ["score.weight", "cls.predictions.decoder.weight"])
    }

    func testLayersAreListedInModelOrder() throws {
        // Files sorted by name put layers.10 before layers.2; the plan lists blocks by number.
        var builder = SafetensorsBuilder()
        for name in ["model.layers.1.mlp.up_proj", "model.layers.10.mlp.up_proj", "model.layers.2.self_attn.q_proj",
                     "model.layers.2.mlp.up_proj"] {
            builder.add(name + ".weight", floats: [1, 2, 3, 4], shape: [2, 2])
        }
        let folder = TemporaryFolder()
        folder.write("model.safetensors", builder.bytes())
        let plan = LinearLayerPlan(checkpoint: try Checkpoint(path: folder.path))
        XCTAssertEqual(plan.linears.map(\.name), ["model.layers.1.mlp.up_proj", "model.layers.2.self_attn.q_proj",
                                                   "model.layers.2.mlp.up_proj", "model.layers.10.mlp.up_proj"])
    }

    func testGPT2Conv1DIsReadTransposed() throws {
        // Conv1D stores [in, out]; the analysis must see [out, in] rows.
        var builder = SafetensorsBuilder()
        builder.add("h.0.mlp.c_fc.weight", floats: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        let folder = TemporaryFolder()
        folder.write("model.safetensors", builder.bytes())
        folder.write("config.json", text: "{\"model_type\": \"gpt2\"}")
        let checkpoint = try Checkpoint(path: folder.path)
        let layer = try XCTUnwrap(LinearLayerPlan(checkpoint: checkpoint).linears.first)
        XCTAssertTrue(layer.isTransposedInFile)
        XCTAssertEqual([layer.outFeatures, layer.inFeatures], [3, 2])
        var rows = [Float](repeating: 0, count: 4)
        var scratch = [Float](repeating: 0, count: 2)
        rows.withUnsafeMutableBufferPointer { rows in
            scratch.withUnsafeMutableBufferPointer { scratch in
                TensorDecoder.decodeRows(of: layer, bytes: checkpoint.bytes(of: layer.weight), firstRow: 1, rowCount: 2,
                                         into: rows.baseAddress!, scratch: scratch.baseAddress!)
            }
        }
        XCTAssertEqual(rows, [2, 5, 3, 6])
    }
}
