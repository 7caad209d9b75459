import Foundation
import XCTest
@testable import QuantKit

/// phi3, gpt_neox, opt and falcon against transformers 5.24 itself: tiny random models, their logits,
/// per-column input maxima of every nn.Linear and the modules bitsandbytes converts, all made by
/// scripts/fixtures/make_arch_fixtures.py (Tests/Fixtures/archs).
final class ArchitectureRuntimeTests: XCTestCase {
    static let folder = fixturesFolder + "/archs"
    /// Relative to the largest |logit| (issue 15: 1e-4 relative).
    static let relativeTolerance: Float = 1e-4

    private var manifest: [String: JSONValue] {
        get throws { try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.folder + "/manifest.json"))).object! }
    }

    private func cases() throws -> [(name: String, entry: [String: JSONValue])] {
        try manifest["cases"]!.object!.sorted { $0.key < $1.key }.map { ($0.key, $0.value.object!) }
    }

    private func inputIDs() throws -> [Int] { try manifest["input_ids"]!.array!.map { $0.integer! } }

    private func runtime(_ name: String) throws -> ModelRuntime {
        try ModelRuntime(checkpoint: Checkpoint(path: Self.folder + "/" + name))
    }

    private func expected(_ name: String) throws -> SafetensorsFile { try SafetensorsFile(path: Self.folder + "/\(name)/expected.safetensors") }

    func testEveryFamilyHasFixtures() throws {
        let types = Set(try cases().map { $0.entry["model_type"]!.string! })
        XCTAssertEqual(types, ["phi3", "gpt_neox", "opt", "falcon"])
        XCTAssertTrue(try cases().contains { $0.entry["attention"]?.string == "sdpa" }, "Falcon-RW (alibi) as sdpa runs it")
    }

    func testLogitsMatchTransformers() throws {
        let ids = try inputIDs(), prefix = try manifest["prefix"]!.integer!
        for (name, _) in try cases() {
            let runtime = try runtime(name)
            let file = try expected(name)
            for (tokens, key) in [(ids, "logits"), (Array(ids.prefix(prefix)), "logits.prefix")] {
                let reference = try floats(file, key)
                let logits = try runtime.logits(tokens: tokens)
                XCTAssertEqual(logits.values.count, reference.count, "\(name) \(key)")
                let scale = reference.map(abs).max()!
                let difference = zip(logits.values, reference).map { abs($0 - $1) }.max()!
                XCTAssertLessThanOrEqual(difference, Self.relativeTolerance * scale, "\(name) \(key)")
                let expectedMatrix = Matrix(rows: tokens.count, columns: logits.columns, values: reference)
                XCTAssertEqual(logits.argmaxPerRow, expectedMatrix.argmaxPerRow, "\(name) \(key): the same top token everywhere")
                print("arch fixture \(name) \(key): max |Δ| = \(difference) (max |logit| \(scale), relative \(difference / scale))")
            }
        }
    }

    /// transformers picks LongRoPE's factors per forward call by its length; the runtime per chunk: with a
    /// window of 9 over 12 ids (original length 8) the first chunk uses the long factors and the 3-id tail
    /// the short ones, each as if run alone — and the long factors do change the result.
    func testLongRoPEPicksFactorsPerChunk() throws {
        let ids = try inputIDs()
        let runtime = try runtime("phi3-longrope-f32")
        guard case .longRoPE(_, _, let original)? = runtime.model.rotary?.scaling else { return XCTFail("LongRoPE expected") }
        XCTAssertEqual(original, 8)
        let head = try runtime.logits(tokens: Array(ids[0..<9])), tail = try runtime.logits(tokens: Array(ids[9...]))
        runtime.window = 9
        let chunked = try runtime.logits(tokens: ids)
        // Equal to fp32 rounding, not bit for bit: the chunked run's output head multiplies all 12 rows in
        // one product, and OpenBLAS's Haswell kernel (AVX2-only machines) rounds a row by where it falls in
        // a product (the test failed there when it asked for the same bits; the SkylakeX kernel gives them).
        let separate = head.values + tail.values
        XCTAssertEqual(chunked.values.count, separate.count)
        for (chunkedValue, separateValue) in zip(chunked.values, separate) {
            XCTAssertEqual(chunkedValue, separateValue, accuracy: 1e-5 * max(1, abs(separateValue)))
        }
        let shortOnly = try runtime.logits(tokens: Array(ids[0..<8]))
        XCTAssertGreaterThan(zip(shortOnly.values, head.values.prefix(shortOnly.values.count)).map { abs($0 - $1) }.max()!, 1e-3,
                             "the first 8 positions differ once the sequence passes the original length")
    }

    func testNegativeLogLikelihoodMatchesTransformersLoss() throws {
        let ids = try inputIDs()
        for (name, entry) in try cases() {
            let nll = try runtime(name).negativeLogLikelihood(tokens: ids)
            let mean = Double(nll.reduce(0, +)) / Double(nll.count)
            XCTAssertEqual(mean, try XCTUnwrap(entry["mean_nll"].flatMap(ModelDescription.double)), accuracy: 1e-4, name)
        }
    }

    /// Every Linear input the runtime computes has transformers' per-column maxima (forward pre-hooks),
    /// Falcon's unconverted FalconLinears included; only the head's input (the final hidden state) is not
    /// a Linear input the runtime shows.
    func testColumnMaximaMatchTransformersHooks() throws {
        let ids = try inputIDs()
        for (name, _) in try cases() {
            let runtime = try runtime(name)
            var maxima: [String: [Float]] = [:]
            try runtime.run(tokens: ids, everyLinear: true) { input in
                var columns = maxima[input.name] ?? [Float](repeating: 0, count: input.features)
                for row in 0..<input.tokens {
                    for (i, x) in input.row(row).enumerated() { columns[i] = max(columns[i], abs(x)) }
                }
                maxima[input.name] = columns
            }
            let file = try expected(name)
            let hooked = Set(file.tensors.map(\.name).filter { $0.hasPrefix("column_max.") }.map { String($0.dropFirst("column_max.".count)) })
            let heads = Set(["lm_head", "embed_out"])
            XCTAssertEqual(Set(maxima.keys), hooked.subtracting(heads), "\(name): the Linear inputs transformers' hooks saw")
            for (module, columns) in maxima {
                let reference = try floats(file, "column_max." + module)
                XCTAssertEqual(columns.count, reference.count, "\(name) \(module)")
                let scale = reference.max()!
                for (value, expected) in zip(columns, reference) {
                    XCTAssertEqual(value, expected, accuracy: Self.relativeTolerance * scale, "\(name) \(module)")
                }
            }
        }
    }

    /// LinearLayerPlan converts what transformers + bitsandbytes converted when loading the fixture with
    /// load_in_8bit and with load_in_4bit; the observer shows exactly those Linears, each once.
    func testConvertedModulesMatchBitsandbytes() throws {
        let ids = try inputIDs()
        for (name, entry) in try cases() {
            let runtime = try runtime(name)
            let planned = Set(runtime.plan.linears.map(\.name))
            for method in ["int8", "nf4"] {
                let converted = Set(try XCTUnwrap(entry["converted"]?[method]?.array).compactMap(\.string))
                XCTAssertEqual(planned, converted, "\(name) \(method)")
            }
            var seen: [String: Int] = [:]
            try runtime.run(tokens: ids) { seen[$0.name, default: 0] += 1 }
            XCTAssertEqual(Set(seen.keys), planned, name)
            XCTAssertTrue(seen.values.allSatisfy { $0 == 1 }, name)
            let head = entry["model_type"]!.string! == "gpt_neox" ? "embed_out" : "lm_head"
            XCTAssertEqual(runtime.plan.headModules, [head], name)
        }
    }

    /// A layout transformers cannot build either (the new architecture without parallel attention) is
    /// refused in one line naming config.json.
    func testFalconNewArchitectureWithoutParallelAttentionIsRefused() throws {
        let folder = TemporaryFolder()
        let source = Self.folder + "/falcon-new-f32"
        var config = try String(contentsOfFile: source + "/config.json", encoding: .utf8)
        config = config.replacingOccurrences(of: "\"parallel_attn\": true", with: "\"parallel_attn\": false")
        XCTAssertTrue(config.contains("\"parallel_attn\": false"))
        _ = folder.write("config.json", text: config)
        try FileManager.default.copyItem(atPath: source + "/model.safetensors", toPath: folder.path + "/model.safetensors")
        XCTAssertThrowsError(try ModelRuntime(checkpoint: Checkpoint(path: folder.path))) { error in
            let error = error as? ModelError
            XCTAssertEqual(error?.problem, .unsupportedFeature("falcon new_decoder_architecture without parallel_attn (transformers cannot run it either)"))
            XCTAssertTrue(error?.file.hasSuffix("config.json") ?? false)
        }
    }

    private func floats(_ file: SafetensorsFile, _ name: String) throws -> [Float] {
        let tensor = try XCTUnwrap(file.tensors.first { $0.name == name }, "\(file) holds \(name)")
        var values = [Float](repeating: 0, count: tensor.elementCount)
        values.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(tensor.dtype, bytes: file.bytes(of: tensor), start: 0, count: tensor.elementCount, into: $0.baseAddress!)
        }
        return values
    }
}
