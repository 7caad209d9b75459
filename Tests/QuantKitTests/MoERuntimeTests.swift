import Foundation
import XCTest
@testable import QuantKit

/// The routed forward passes (mixtral, qwen3_moe) against transformers on the fixtures of
/// scripts/fixtures/make_moe_fixtures.py: logits, loss, and every expert's inputs and routed tokens as a
/// pre-hook on transformers' fused experts module saw them.
final class MoERuntimeTests: XCTestCase {
    static let relativeTolerance: Float = 1e-4
    private static let folder = MoEConversionTests.folder

    private var manifest: [String: JSONValue] {
        get throws { try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.folder + "/manifest.json"))).object! }
    }

    /// The fixtures whose type the runtime routes.
    private func cases() throws -> [(name: String, entry: [String: JSONValue])] {
        try manifest["cases"]!.object!.sorted { $0.key < $1.key }.map { ($0.key, $0.value.object!) }
            .filter { MixtureOfExperts.modelTypes.contains($0.1["model_type"]!.string!) }
    }

    private func inputIDs() throws -> [Int] { try manifest["input_ids"]!.array!.map { $0.integer! } }
    private func runtime(_ name: String) throws -> ModelRuntime { try ModelRuntime(checkpoint: Checkpoint(path: Self.folder + "/" + name)) }

    private func floats(_ name: String, _ key: String) throws -> [Float] {
        let file = try SafetensorsFile(path: Self.folder + "/\(name)/expected.safetensors")
        let tensor = try XCTUnwrap(file.tensors.first { $0.name == key }, "\(name) holds \(key)")
        var values = [Float](repeating: 0, count: tensor.elementCount)
        values.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(tensor.dtype, bytes: file.bytes(of: tensor), start: 0, count: tensor.elementCount, into: $0.baseAddress!)
        }
        return values
    }

    func testRoutedTypesHaveFixtures() throws {
        XCTAssertEqual(Set(try cases().map { $0.entry["model_type"]!.string! }), MixtureOfExperts.modelTypes)
    }

    func testLogitsAndLossMatchTransformers() throws {
        let ids = try inputIDs()
        for (name, entry) in try cases() {
            let runtime = try runtime(name)
            let reference = try floats(name, "logits")
            let logits = try runtime.logits(tokens: ids)
            XCTAssertEqual(logits.values.count, reference.count, name)
            let scale = reference.map(abs).max()!
            let difference = zip(logits.values, reference).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(difference, Self.relativeTolerance * scale, name)
            XCTAssertEqual(logits.argmaxPerRow, Matrix(rows: ids.count, columns: logits.columns, values: reference).argmaxPerRow, name)
            let nll = try runtime.negativeLogLikelihood(tokens: ids)
            XCTAssertEqual(Double(nll.reduce(0, +)) / Double(nll.count), try XCTUnwrap(entry["mean_nll"].flatMap(ModelDescription.double)), accuracy: 1e-4, name)
            print("moe fixture \(name): max |Δ logits| = \(difference) (max |logit| \(scale), relative \(difference / scale))")
        }
    }

    /// Every expert's gate/up and down inputs (their column maxima) and its routed-token count are those
    /// of transformers, and so are the converted Linears' inputs (qwen2_moe's shared expert included);
    /// the converted Linears are still shown once each, the experts only by runObservingExperts.
    func testExpertInputsAndRoutedTokensMatchTransformersHooks() throws {
        let ids = try inputIDs()
        for (name, entry) in try cases() {
            let runtime = try runtime(name)
            let experts = try XCTUnwrap(runtime.model.experts)
            var maxima: [String: [Float]] = [:], counts: [String: Int] = [:], plain = Set<String>()
            try runtime.run(tokens: ids) { plain.insert($0.name) }
            XCTAssertEqual(plain, Set(runtime.plan.linears.map(\.name)), name)
            try runtime.runObservingExperts(tokens: ids) { input in
                if let routed = input.routedTokens {
                    XCTAssertEqual(routed.count, input.tokens)
                    counts[input.name, default: 0] += input.tokens
                }
                var columns = maxima[input.name] ?? [Float](repeating: 0, count: input.features)
                for row in 0..<input.tokens { for (j, x) in input.row(row).enumerated() { columns[j] = max(columns[j], abs(x)) } }
                maxima[input.name] = columns
            }
            for module in plain {
                let reference = try floats(name, "column_max." + module), scale = reference.max()!
                for (value, expected) in zip(try XCTUnwrap(maxima[module]), reference) {
                    XCTAssertEqual(value, expected, accuracy: Self.relativeTolerance * scale, "\(name) \(module)")
                }
            }
            let routed = try XCTUnwrap(entry["routed_tokens"]?.object)
            for (layer, perExpert) in routed {
                for (e, count) in perExpert.array!.enumerated() {
                    for projection in [experts.projections.gate, experts.projections.up, experts.projections.down] {
                        let module = "model.layers.\(layer).\(experts.module).experts.\(e).\(projection)"
                        XCTAssertEqual(counts[module], count.integer!, "\(name) \(module)")
                        // transformers' hook saw no rows of an expert no token chose: nothing to compare.
                        guard count.integer! > 0 else { continue }
                        let reference = try floats(name, "column_max." + module)
                        let scale = reference.max()!
                        for (value, expected) in zip(try XCTUnwrap(maxima[module]), reference) {
                            XCTAssertEqual(value, expected, accuracy: Self.relativeTolerance * scale, "\(name) \(module)")
                        }
                    }
                }
            }
            XCTAssertEqual(counts.count, 2 * experts.expertCount * 3, name)
        }
    }

    /// One token goes to top_k experts per layer; the others are still shown, with zero rows — and their
    /// weights are never loaded (a block loads a tensor when the pass first reads it).
    func testExpertsWithoutTokensAreShownEmpty() throws {
        let runtime = try runtime("mixtral-f32")
        let experts = try XCTUnwrap(runtime.model.experts)
        var rows: [String: Int] = [:]
        try runtime.runObservingExperts(tokens: [try inputIDs()[0]]) { input in
            if input.routedTokens != nil, input.name.hasSuffix(".w1") { rows[input.name] = input.tokens }
        }
        XCTAssertEqual(rows.count, 2 * experts.expertCount)
        for layer in 0..<2 {
            let hit = rows.filter { $0.key.hasPrefix("model.layers.\(layer).") && $0.value == 1 }
            XCTAssertEqual(hit.count, experts.topK, "layer \(layer)")
            XCTAssertEqual(rows.filter { $0.key.hasPrefix("model.layers.\(layer).") }.values.reduce(0, +), experts.topK)
        }
        let idle = rows.filter { $0.value == 0 }.keys.map { String($0.dropLast("w1".count)) }
        let read = runtime.checkpoint.tensors.filter { tensor in
            (tensor.name.hasPrefix("model.layers.") && !idle.contains { tensor.name.hasPrefix($0) }) || tensor.name == "model.norm.weight"
        }
        XCTAssertEqual(runtime.weightMemory.loadedBytes, read.reduce(0) { $0 + $1.elementCount * 4 }, "every block tensor but the idle experts'")
    }

    /// The clip_qkv fixture does exercise the clamp: the same weights without it miss transformers' logits.
    func testClipQKVFixtureDependsOnTheClamp() throws {
        let source = Self.folder + "/olmoe-clip-f32"
        XCTAssertEqual(try runtime("olmoe-clip-f32").model.clipQKV, 0.8)
        let folder = TemporaryFolder()
        let config = try String(contentsOfFile: source + "/config.json", encoding: .utf8)
            .replacingOccurrences(of: "\"clip_qkv\": 0.8", with: "\"clip_qkv\": null")
        _ = folder.write("config.json", text: config)
        try FileManager.default.copyItem(atPath: source + "/model.safetensors", toPath: folder.path + "/model.safetensors")
        let unclipped = try ModelRuntime(checkpoint: Checkpoint(path: folder.path))
        XCTAssertNil(unclipped.model.clipQKV)
        let reference = try floats("olmoe-clip-f32", "logits")
        let difference = zip(try unclipped.logits(tokens: try inputIDs()).values, reference).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(difference, 100 * Self.relativeTolerance * reference.map(abs).max()!)
    }
}
