import Foundation
@testable import QuantKit
import XCTest

/// Gemma 1/2/3 against transformers 5.24 on the tiny random models scripts/fixtures/make_gemma_fixtures.py made
/// (Tests/Fixtures/gemma): logits, the per-column activation maxima of every converted Linear, and the
/// set of Linears transformers + bitsandbytes convert.
final class GemmaRuntimeTests: XCTestCase {
    static let folder = fixturesFolder + "/gemma"

    private var manifest: [String: JSONValue] {
        get throws { try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.folder + "/manifest.json"))).object! }
    }

    private func cases() throws -> [(name: String, entry: [String: JSONValue])] {
        try manifest["cases"]!.object!.sorted { $0.key < $1.key }.map { ($0.key, $0.value.object!) }
    }

    private var inputIDs: [Int] { get throws { try manifest["input_ids"]!.array!.map { $0.integer! } } }

    /// transformers' module name for a tensor-file module name: save_pretrained writes
    /// Gemma3ForConditionalGeneration as the Hub has it (`language_model.model.…`, `vision_tower.…`) and
    /// its conversion mapping ("llava") renames on load.
    private func moduleName(_ name: String) -> String {
        for (stored, module) in [("language_model.model.", "model.language_model."), ("vision_tower.", "model.vision_tower."),
                                 ("multi_modal_projector.", "model.multi_modal_projector.")] where name.hasPrefix(stored) {
            return module + name.dropFirst(stored.count)
        }
        return name
    }

    private func expected(_ name: String) throws -> SafetensorsFile { try SafetensorsFile(path: Self.folder + "/\(name)/expected.safetensors") }

    private func floats(_ file: SafetensorsFile, _ tensorName: String) throws -> [Float] {
        let tensor = try XCTUnwrap(file.tensors.first { $0.name == tensorName }, tensorName)
        var values = [Float](repeating: 0, count: tensor.elementCount)
        values.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(tensor.dtype, bytes: file.bytes(of: tensor), start: 0, count: tensor.elementCount, into: $0.baseAddress!)
        }
        return values
    }

    func testEveryGemmaCaseIsInTheManifest() throws {
        XCTAssertEqual(Set(try cases().map { $0.entry["model_type"]!.string! }), ["gemma", "gemma2", "gemma3_text", "gemma3"])
    }

    func testLogitsMatchTransformersWithin1e4Relative() throws {
        let ids = try inputIDs
        for (name, _) in try cases() {
            let runtime = try ModelRuntime(checkpoint: Checkpoint(path: Self.folder + "/" + name))
            XCTAssertEqual(runtime.model.family, .gemma)
            let logits = try runtime.logits(tokens: ids)
            let reference = try floats(try expected(name), "logits")
            XCTAssertEqual(logits.values.count, reference.count, name)
            var worst: Float = 0
            for (value, target) in zip(logits.values, reference) { worst = max(worst, abs(value - target) / max(1, abs(target))) }
            print("gemma fixture \(name): max |Δlogit| / max(1, |logit|) = \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-4, name)
        }
    }

    /// Transformers' loss on labels = input ids is the mean NLL of the next tokens, soft cap included.
    func testNegativeLogLikelihoodMatchesTransformersLoss() throws {
        let ids = try inputIDs
        for (name, entry) in try cases() {
            let runtime = try ModelRuntime(checkpoint: Checkpoint(path: Self.folder + "/" + name))
            let nll = try runtime.negativeLogLikelihood(tokens: ids)
            let mean = nll.reduce(0.0) { $0 + Double($1) } / Double(nll.count)
            XCTAssertEqual(mean, try XCTUnwrap(ModelDescription.double(entry["mean_nll"]!)), accuracy: 1e-4 * max(1, mean), name)
        }
    }

    /// Per-column max |x| at every converted Linear's input against transformers' forward pre-hooks.
    /// Not bit-identical: both sides compute in float32 but sum in other orders (BLAS, torch's reductions);
    /// the test bounds the relative difference by 1e-4 and prints the largest one.
    func testColumnMaximaMatchTransformersHooks() throws {
        let ids = try inputIDs
        for (name, entry) in try cases() {
            let runtime = try ModelRuntime(checkpoint: Checkpoint(path: Self.folder + "/" + name))
            var maxima: [String: [Float]] = [:]
            try runtime.run(tokens: ids) { input in
                var columns = maxima[input.name] ?? [Float](repeating: 0, count: input.features)
                for row in 0..<input.tokens { for (j, x) in input.row(row).enumerated() { columns[j] = max(columns[j], abs(x)) } }
                maxima[input.name] = columns
            }
            let observed = entry["observed_linears"]!.array!.map { $0.string! }
            XCTAssertEqual(Set(maxima.keys.map(moduleName)), Set(observed), name)
            let file = try expected(name)
            var worst: Float = 0
            for (module, columns) in maxima {
                let reference = try floats(file, "colmax." + moduleName(module))
                XCTAssertEqual(columns.count, reference.count, module)
                for (value, target) in zip(columns, reference) { worst = max(worst, abs(value - target) / max(1e-6, abs(target))) }
            }
            print("gemma fixture \(name): max relative Δ of column maxima = \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-4, name)
        }
    }

    /// LinearLayerPlan converts exactly the modules transformers turns into Linear8bitLt and Linear4bit
    /// (the vision tower's too, but not its MultiheadAttention out_proj).
    func testLinearPlanMatchesBitsandbytesConversion() throws {
        for (name, entry) in try cases() {
            let plan = LinearLayerPlan(checkpoint: try Checkpoint(path: Self.folder + "/" + name))
            let planned = Set(plan.linears.map { moduleName($0.name) })
            XCTAssertEqual(planned, Set(entry["linear8bitlt_modules"]!.array!.map { $0.string! }), name)
            XCTAssertEqual(planned, Set(entry["linear4bit_modules"]!.array!.map { $0.string! }), name)
        }
    }

    func testGemma3SettingsFollowTheConfig() throws {
        let runtime = try ModelRuntime(checkpoint: Checkpoint(path: Self.folder + "/gemma3-f32"))
        let gemma = try XCTUnwrap(runtime.model.gemma)
        XCTAssertEqual(runtime.model.slidingWindows, [4, nil, 4])
        XCTAssertEqual(gemma.rotaryPerLayer.map(\.theta), [50, 1000, 50])
        XCTAssertEqual(gemma.rotaryPerLayer[1].scaling, .linear(factor: 2))
        XCTAssertNil(gemma.finalSoftcap, "Gemma3ForConditionalGeneration does not cap its logits")
        XCTAssertEqual(runtime.model.attentionScales.first, Float(pow(24.0, -0.5)))
    }

    /// Hand-written configs (old spellings: rope_theta + rope_local_base_freq + rope_scaling,
    /// sliding_window_pattern; keys left out) read as transformers' config classes resolve them.
    func testConfigDefaultsAndOldSpellingsFollowTransformers() throws {
        let folder = TemporaryFolder()
        for entry in try manifest["configs"]!.array!.map({ $0.object! }) {
            let raw = entry["raw"]!
            let path = folder.write("config.json", text: PythonJSON.text(raw))
            let model = try ModelDescription(config: ModelConfig(path: path))
            let type = raw["model_type"]!.string!
            let gemma = try XCTUnwrap(model.gemma, type)
            XCTAssertEqual(model.headSize, entry["head_dim"]!.integer!, type)
            XCTAssertEqual(model.keyValueHeadCount, entry["num_key_value_heads"]!.integer!, type)
            XCTAssertEqual(model.tiedEmbeddings, entry["tie_word_embeddings"]!.bool!, type)
            let types = entry["layer_types"]!.array?.map { $0.string! } ?? Array(repeating: "full_attention", count: model.layerCount)
            XCTAssertEqual(model.slidingWindows, types.map { $0 == "sliding_attention" ? entry["sliding_window"]!.integer : nil }, type)
            let scalar = entry["query_pre_attn_scalar"].flatMap(ModelDescription.double) ?? Double(model.headSize)
            XCTAssertEqual(model.attentionScales, Array(repeating: Float(pow(scalar, -0.5)), count: model.layerCount), type)
            XCTAssertEqual(gemma.attentionSoftcap, type == "gemma2" ? entry["attn_logit_softcapping"].flatMap(ModelDescription.double).map(Float.init) : nil, type)
            XCTAssertEqual(gemma.finalSoftcap, entry["final_logit_softcapping"].flatMap(ModelDescription.double).map(Float.init), type)
            let rope = entry["rope"]!.object!
            for (index, layerType) in types.enumerated() {
                let parameters = (rope["all"] ?? rope[layerType]!).object!
                let rotary = gemma.rotaryPerLayer[index]
                XCTAssertEqual(rotary.theta, ModelDescription.double(parameters["rope_theta"]!), "\(type) layer \(index)")
                if parameters["rope_type"]!.string! == "linear" {
                    XCTAssertEqual(rotary.scaling, .linear(factor: ModelDescription.double(parameters["factor"]!)!), "\(type) layer \(index)")
                } else {
                    XCTAssertEqual(rotary.scaling, .none, "\(type) layer \(index)")
                }
            }
        }
    }
}
