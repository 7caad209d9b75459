import Foundation
import XCTest
@testable import QuantKit

/// The analysis path on MoE models (scripts/fixtures/make_moe_fixtures.py): calibration on the built-in
/// text through each fixture's byte-level tokenizer reports, per routed expert, the tokens routed to it
/// and its inputs' column maxima as a pre-hook on transformers' fused experts module saw them over the
/// same tokens; an expert with no tokens is reported without statistics; what-if errors are measured on
/// the stored expert weights and stay out of the totals.
final class MoECalibrationTests: XCTestCase {
    private static let folder = MoEConversionTests.folder
    static let relativeTolerance: Float = 1e-4

    private var manifest: [String: JSONValue] {
        get throws { try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.folder + "/manifest.json"))).object! }
    }

    private func request(tokens: Int) -> CalibrationRequest {
        var request = CalibrationRequest(text: CalibrationText.standard, source: "built-in text")
        request.calibration.tokenLimit = tokens
        return request
    }

    private func events(_ name: String, tokens: Int) throws -> [AnalysisEvent] {
        var analyzer = try ModelAnalyzer(OpenedModel(try Checkpoint(path: Self.folder + "/" + name)),
                                         weights: WeightAnalyzer(blocksize: 64, threads: 2))
        analyzer.calibration = request(tokens: tokens)
        var events: [AnalysisEvent] = []
        try analyzer.run(emit: { events.append($0) })
        return events
    }

    private func maxima(_ name: String) throws -> [String: [Float]] {
        let file = try SafetensorsFile(path: Self.folder + "/\(name)/calibration.safetensors")
        var result: [String: [Float]] = [:]
        for tensor in file.tensors {
            var values = [Float](repeating: 0, count: tensor.elementCount)
            values.withUnsafeMutableBufferPointer {
                TensorDecoder.decode(tensor.dtype, bytes: file.bytes(of: tensor), start: 0, count: tensor.elementCount, into: $0.baseAddress!)
            }
            result[String(tensor.name.dropFirst("column_max.".count))] = values
        }
        return result
    }

    private func assertClose(_ values: [Float], _ expected: [Float], _ message: String) {
        XCTAssertEqual(values.count, expected.count, message)
        let scale = expected.max() ?? 0
        for (value, reference) in zip(values, expected) {
            XCTAssertEqual(value, reference, accuracy: Self.relativeTolerance * scale, message)
        }
    }

    func testRoutedTokensAndExpertInputMaximaMatchTransformersHooks() throws {
        let manifest = try manifest
        let ids = try XCTUnwrap(manifest["calibration_ids"]?.array).map { $0.integer! }
        for (name, entry) in manifest["cases"]!.object!.sorted(by: { $0.key < $1.key }) {
            let count = try XCTUnwrap(entry["calibration_tokens"]?.integer)
            let tokenizer = try Calibration.tokenizer(for: try Checkpoint(path: Self.folder + "/" + name))
            XCTAssertEqual(try request(tokens: count).calibration.tokens(of: CalibrationText.standard, tokenizer: tokenizer),
                           Array(ids.prefix(count)), "\(name): the tokens transformers was run on")
            let layers = try XCTUnwrap(try events(name, tokens: count).compactMap { event -> [MoELayerActivity]? in
                if case .experts(let layers) = event { return layers } else { return nil }
            }.first, name)
            let routed = try XCTUnwrap(entry["calibration_routed_tokens"]?.object)
            XCTAssertEqual(layers.map(\.block), routed.keys.compactMap { Int($0) }.sorted(), name)
            let expected = try maxima(name)
            for layer in layers {
                let counts = try XCTUnwrap(routed["\(layer.block)"]?.array).map { $0.integer! }
                XCTAssertEqual(layer.experts.map(\.routedTokens), counts, "\(name) \(layer.module)")
                XCTAssertEqual(layer.tokens, count, "\(name) \(layer.module)")
                for expert in layer.experts {
                    let label = "\(name) \(expert.gate)"
                    guard expert.routedTokens > 0 else {
                        XCTAssertNil(expert.gateUpInput, label)
                        XCTAssertNil(expert.downInput, label)
                        XCTAssertNil(expected[expert.gate], "transformers' hook saw no rows either: \(label)")
                        continue
                    }
                    let gateUp = try XCTUnwrap(expert.gateUpInput, label), down = try XCTUnwrap(expert.downInput, label)
                    XCTAssertEqual(gateUp.tokens, expert.routedTokens, label)
                    XCTAssertEqual(down.tokens, expert.routedTokens, label)
                    assertClose(gateUp.columnMax, try XCTUnwrap(expected[expert.gate], label), label)
                    assertClose(gateUp.columnMax, try XCTUnwrap(expected[expert.up], label), label)
                    assertClose(down.columnMax, try XCTUnwrap(expected[expert.down], label), "\(name) \(expert.down)")
                }
            }
        }
    }

    /// The fixture whose calibration leaves experts idle: they are reported, with no statistics and no
    /// what-if; every other expert's what-if is its stored projections measured on its own sampled rows.
    func testIdleExpertsAndWhatIfErrors() throws {
        let name = "mixtral-idle-f32"
        let events = try events(name, tokens: 16)
        let layers = try XCTUnwrap(events.compactMap { event -> [MoELayerActivity]? in
            if case .experts(let layers) = event { return layers } else { return nil }
        }.first)
        let whatIf = events.compactMap { event -> ExpertWhatIf? in
            if case .expertWhatIf(let errors) = event { return errors } else { return nil }
        }
        let experts = layers.flatMap { layer in layer.experts.map { (layer.module, $0) } }
        XCTAssertGreaterThan(experts.filter { $0.1.routedTokens == 0 }.count, 0, "the fixture has idle experts")
        XCTAssertEqual(whatIf.map { "\($0.module).\($0.expert)" }, experts.filter { $0.1.routedTokens > 0 }.map { "\($0.0).\($0.1.index)" })
        let model = OpenedModel(try Checkpoint(path: Self.folder + "/" + name))
        let grid = Set(ActivationErrors.defaultGrid + [6]).sorted()
        for errors in whatIf {
            let expert = try XCTUnwrap(experts.first { $0.0 == errors.module && $0.1.index == errors.expert }?.1)
            let gateUp = try XCTUnwrap(expert.gateUpInput), down = try XCTUnwrap(expert.downInput)
            XCTAssertEqual(gateUp.sampleRows, expert.routedTokens, "few routed rows are all sampled")
            let down3 = try XCTUnwrap(model.expertProjection(expert.down))
            XCTAssertEqual([down3.outFeatures, down3.inFeatures], [64, 16])
            XCTAssertEqual(errors.down, try ActivationErrors.measure(down3, in: model.checkpoint, sample: down.sample, rows: down.sampleRows,
                                                                 blocksize: 64, grid: grid))
            XCTAssertEqual(errors.gate, try ActivationErrors.measure(try XCTUnwrap(model.expertProjection(expert.gate)), in: model.checkpoint,
                                                                 sample: gateUp.sample, rows: gateUp.sampleRows, blocksize: 64, grid: grid))
            XCTAssertNotEqual(errors.gate, errors.up, "gate and up are measured on their own weights")
        }
    }

    /// The experts stay out of what bitsandbytes does: the report's totals and layers are those of the
    /// weight-only analysis, and the experts section is there only with calibration on an MoE model.
    func testExpertsSectionStaysOutOfTheTotals() throws {
        let model = OpenedModel(try Checkpoint(path: Self.folder + "/mixtral-f32"))
        let weightsOnly = try ModelAnalyzer(model, weights: WeightAnalyzer(blocksize: 64, threads: 2)).report()
        var analyzer = try ModelAnalyzer(model, weights: WeightAnalyzer(blocksize: 64, threads: 2))
        analyzer.calibration = request(tokens: 32)
        let calibrated = try analyzer.report()
        XCTAssertNil(weightsOnly.experts)
        XCTAssertEqual(calibrated.totals, weightsOnly.totals)
        XCTAssertEqual(calibrated.layers.map(\.name), weightsOnly.layers.map(\.name))
        let experts = try XCTUnwrap(calibrated.experts)
        XCTAssertEqual(experts.map(\.module), ["model.layers.0.block_sparse_moe", "model.layers.1.block_sparse_moe"])
        XCTAssertTrue(experts.allSatisfy { $0.experts.allSatisfy { $0.whatIf?.note == ExpertReport.WhatIf.note } })
        XCTAssertTrue(ExpertReport.WhatIf.note.contains("bitsandbytes in transformers does not quantize MoE experts"))
    }

    func testDenseModelsHaveNoExpertsSection() throws {
        let folder = TemporaryFolder()
        var spec = SyntheticModel()
        spec.layers = 1
        try spec.write(to: folder.path)
        let runtime = try ModelRuntime(checkpoint: Checkpoint(path: folder.path))
        let seen = try Calibration().runObservingExperts(runtime, tokens: Array(0..<16))
        XCTAssertTrue(seen.experts.isEmpty)
        XCTAssertEqual(seen.statistics, try Calibration().run(runtime, tokens: Array(0..<16)))
    }
}
