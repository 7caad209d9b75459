import Foundation
import XCTest
@testable import QuantKit

/// Outlier features (the LLM.int8 paper's definition) against transformers' forward hooks
/// (Tests/Fixtures/calibration/synthetic-llama-200-outlier-features.json, made by
/// scripts/make_calibration_fixture.sh), and the pieces they are made of.
final class OutlierFeaturesTests: XCTestCase {
    func testOutlierFeaturesEqualTransformersHooksAtEveryCountedThreshold() throws {
        let folder = TemporaryFolder()
        try SyntheticModel.calibrationFixture.write(to: folder.path)
        try FileManager.default.copyItem(atPath: fixturesFolder + "/tokenizers/smollm2.tokenizer.json", toPath: folder.path + "/tokenizer.json")
        let (found, compared) = try compareWithReference(checkpoint: try Checkpoint(path: folder.path), tokens: 200,
                                                         fixture: "synthetic-llama-200-outlier-features.json")
        // The planted dimensions at 6, and many more at the low thresholds: the comparison has teeth.
        XCTAssertEqual(found.features.map(\.dimension), [7, 61, 62])
        XCTAssertGreaterThan(compared, 100)
    }

    /// SmolLM2-135M-Instruct (the Q4_1 GGUF, converted) on 128 tokens of the built-in text: one outlier feature
    /// at 6 (scripts/tools/outlier_features_reference.py on scripts/tools/convert_smollm2.py's folder).
    func testSmolLM2OutlierFeaturesEqualTransformersHooks() throws {
        let cache = TemporaryFolder()
        let converted = try GGUFConversion(path: try GGUFRealModelTests.model(), cacheFolder: cache.path).run()
        let (found, compared) = try compareWithReference(checkpoint: try Checkpoint(path: converted.folder), tokens: 128,
                                                         fixture: "smollm2-128-outlier-features.json")
        XCTAssertEqual(found.features.map(\.dimension), [247])
        XCTAssertGreaterThan(compared, 15)
    }

    /// Calibrates `checkpoint` on the first `tokens` tokens of the built-in text and compares the outlier
    /// features at every counted threshold with the reference script's; returns those at 6 and how many
    /// features were compared.
    private func compareWithReference(checkpoint: Checkpoint, tokens count: Int, fixture: String) throws -> (OutlierFeatures, Int) {
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/calibration/" + fixture)))
        let calibration = Calibration(tokenLimit: count)
        let tokens = try calibration.tokens(of: CalibrationText.standard, tokenizer: try Calibration.tokenizer(for: checkpoint))
        XCTAssertEqual(tokens, expected["tokens"]!.array!.map { $0.integer! })
        let runtime = try ModelRuntime(checkpoint: checkpoint)
        let statistics = try calibration.run(runtime, tokens: tokens)
        let inputs = HiddenStateInputs(runtime.plan.linears)

        XCTAssertEqual(inputs.hiddenSize, expected["hidden_size"]!.integer!)
        // The same groups; their order within a group follows the file (a converted GGUF sorts k before q).
        XCTAssertEqual(inputs.inputs.map { $0.layers.sorted() }, expected["inputs"]!.array!.map { $0["layers"]!.array!.map { $0.string! }.sorted() })
        var compared = 0
        for (key, reference) in expected["features"]!.object! {
            let threshold = Float(key)!
            let found = try XCTUnwrap(OutlierFeatures(inputs: inputs, statistics: { statistics[$0] }, threshold: threshold))
            XCTAssertEqual(found.threshold, threshold)
            XCTAssertEqual(found.blocks, reference["blocks"]!.integer!)
            XCTAssertEqual(found.countedInputs.count, reference["inputs"]!.integer!)
            XCTAssertEqual(found.positions, reference["positions"]!.integer!)
            let theirs = reference["features"]!.array!
            XCTAssertEqual(found.features.map(\.dimension), theirs.map { $0["dimension"]!.integer! }, "dimensions at \(key)")
            for (ours, their) in zip(found.features, theirs) {
                XCTAssertEqual(ours.tokenHits, their["token_hits"]!.integer!, "dimension \(ours.dimension) at \(key)")
                XCTAssertEqual(ours.layerShare, number(their["layer_share"]!))
                XCTAssertEqual(ours.tokenShare, number(their["token_share"]!))
                XCTAssertEqual(ours.layers, their["layers"]!.array!.map { $0.integer! })
                XCTAssertEqual(Double(ours.maxAbs), number(their["max_abs"]!), accuracy: number(their["max_abs"]!) * 1e-5)
                compared += 1
            }
        }
        return (try XCTUnwrap(OutlierFeatures(inputs: inputs, statistics: { statistics[$0] })), compared)
    }

    /// The counting loop against the plain definition, on values at and around the fp16 rounding of each
    /// threshold, across chunks.
    func testTokenCountsEqualTheDefinitionOnAwkwardValues() throws {
        let thresholds: [Float] = [1, 2.5, 6, 20]
        let features = 5
        var values: [Float] = []
        for threshold in thresholds {
            let limit = Float(Float16(threshold))
            values += [limit, limit.nextDown, limit * (1 - 1 / 4096), limit * (1 - 1 / 1500), -limit, limit.nextUp]
        }
        values += [0, 70000, -.infinity, 0.999]
        while values.count % features != 0 { values.append(3) }
        let rows = values.count / features
        var statistics = ActivationStatistics(name: "x", features: features, countedThresholds: thresholds)
        values.withUnsafeBufferPointer { all in
            let firstRows = rows / 2
            statistics.add(rows: UnsafeBufferPointer(rebasing: all[0..<(firstRows * features)]), count: firstRows, firstToken: 0,
                           sampleStride: 1, sampleLimit: 0)
            statistics.add(rows: UnsafeBufferPointer(rebasing: all[(firstRows * features)...]), count: rows - firstRows, firstToken: firstRows,
                           sampleStride: 1, sampleLimit: 0)
        }
        statistics.finish()
        for threshold in thresholds {
            for column in 0..<features {
                let expected = (0..<rows).filter { Float(Float16(abs(values[$0 * features + column]))) >= Float(Float16(threshold)) }.count
                let counts = try XCTUnwrap(statistics.tokenCounts(atLeast: threshold))
                XCTAssertEqual(Int(counts[counts.startIndex + column]), expected, "column \(column) at \(threshold)")
            }
        }
        XCTAssertNil(statistics.tokenCounts(atLeast: 3), "only counted thresholds have counts")
        XCTAssertEqual(statistics.countedThreshold(atMost: 5.9), 2.5)
        XCTAssertNil(statistics.countedThreshold(atMost: 0.5))
    }

    func testHiddenStateInputsOfEachFamily() {
        let gpt2 = HiddenStateInputs([("transformer.h.0.attn.c_attn", 768), ("transformer.h.0.attn.c_proj", 768),
                                      ("transformer.h.0.mlp.c_fc", 768), ("transformer.h.0.mlp.c_proj", 3072)])
        XCTAssertEqual(gpt2.inputs.map(\.layers), [["transformer.h.0.attn.c_attn"], ["transformer.h.0.mlp.c_fc"]])
        let bert = HiddenStateInputs([("encoder.layer.1.attention.self.query", 384), ("encoder.layer.1.attention.self.key", 384),
                                      ("encoder.layer.1.attention.self.value", 384), ("encoder.layer.1.attention.output.dense", 384),
                                      ("encoder.layer.1.intermediate.dense", 384), ("encoder.layer.1.output.dense", 1536)])
        XCTAssertEqual(bert.inputs.map(\.role), [.attention, .mlp])
        XCTAssertEqual(bert.inputs.map(\.block), [1, 1])
        XCTAssertEqual(bert.inputs[0].layers.count, 3, "q, k and v read one tensor: one input")
        XCTAssertEqual(bert.hiddenSize, 384)
        XCTAssertFalse(bert.inputs.contains { $0.layers.contains("encoder.layer.1.attention.output.dense") }, "attention's output is not the hidden state")
        let phi3 = HiddenStateInputs([("model.layers.2.self_attn.qkv_proj", 96), ("model.layers.2.self_attn.o_proj", 96),
                                      ("model.layers.2.mlp.gate_up_proj", 96), ("model.layers.2.mlp.down_proj", 128)])
        XCTAssertEqual(phi3.inputs.map(\.layers), [["model.layers.2.self_attn.qkv_proj"], ["model.layers.2.mlp.gate_up_proj"]])
        let neox = HiddenStateInputs([("gpt_neox.layers.0.attention.query_key_value", 64), ("gpt_neox.layers.0.attention.dense", 64),
                                      ("gpt_neox.layers.0.mlp.dense_h_to_4h", 64), ("gpt_neox.layers.0.mlp.dense_4h_to_h", 256)])
        XCTAssertEqual(neox.inputs.map(\.layers), [["gpt_neox.layers.0.attention.query_key_value"], ["gpt_neox.layers.0.mlp.dense_h_to_4h"]])
        let opt = HiddenStateInputs([("model.decoder.layers.0.self_attn.q_proj", 64), ("model.decoder.layers.0.self_attn.k_proj", 64),
                                     ("model.decoder.layers.0.self_attn.v_proj", 64), ("model.decoder.layers.0.self_attn.out_proj", 64),
                                     ("model.decoder.layers.0.fc1", 64), ("model.decoder.layers.0.fc2", 256)])
        XCTAssertEqual(opt.inputs.map(\.role), [.attention, .mlp])
        XCTAssertEqual(opt.inputs[1].layers, ["model.decoder.layers.0.fc1"])
    }

    /// The thresholds of the definition are inclusive: a dimension at exactly 25 % of the blocks and 6 %
    /// of the positions qualifies, one token fewer does not.
    func testSharesAreInclusiveBounds() {
        let names = (0..<4).flatMap { ["model.layers.\($0).self_attn.q_proj", "model.layers.\($0).mlp.up_proj"] }
        let inputs = HiddenStateInputs(names.map { ($0, 2) })
        func statistics(hits: Int) -> [String: ActivationStatistics] {
            var all: [String: ActivationStatistics] = [:]
            for name in names {
                var seen = ActivationStatistics(name: name, features: 2)
                // 50 tokens an input, 400 positions in all: 6 % is 24 hits, all in block 0's inputs.
                var rows = [Float](repeating: 0.5, count: 100)
                if name.contains(".0.") { for token in 0..<(hits / 2) { rows[token * 2] = 9 } }
                rows.withUnsafeBufferPointer { seen.add(rows: $0, count: 50, firstToken: 0, sampleStride: 1, sampleLimit: 0) }
                seen.finish()
                all[name] = seen
            }
            return all
        }
        let exact = statistics(hits: 24)
        let found = OutlierFeatures(inputs: inputs, statistics: { exact[$0] })
        XCTAssertEqual(found?.features.map(\.dimension), [0])
        XCTAssertEqual(found?.features.first?.layerShare, 0.25)
        XCTAssertEqual(found?.features.first?.tokenShare, 0.06)
        let fewer = statistics(hits: 22)
        XCTAssertEqual(OutlierFeatures(inputs: inputs, statistics: { fewer[$0] })?.features, [])
    }

    private func number(_ value: JSONValue) -> Double {
        switch value {
        case .integer(let v): return Double(v)
        case .number(let v): return v
        default: return .nan
        }
    }
}
