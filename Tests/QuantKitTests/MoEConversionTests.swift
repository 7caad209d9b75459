import Foundation
import XCTest
@testable import QuantKit

/// Mixture-of-experts fixtures from scripts/fixtures/make_moe_fixtures.py: what transformers 5.24 +
/// bitsandbytes 0.50.2 converted when loading each folder with load_in_8bit and load_in_4bit.
final class MoEConversionTests: XCTestCase {
    static let folder = fixturesFolder + "/moe"

    private func cases() throws -> [(name: String, entry: [String: JSONValue])] {
        let manifest = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.folder + "/manifest.json"))).object!
        return manifest["cases"]!.object!.sorted { $0.key < $1.key }.map { ($0.key, $0.value.object!) }
    }

    private func plan(_ name: String) throws -> LinearLayerPlan {
        LinearLayerPlan(checkpoint: try Checkpoint(path: Self.folder + "/" + name))
    }

    func testEveryMoETypeHasAFixture() throws {
        let types = Set(try cases().compactMap { $0.entry["model_type"]?.string })
        XCTAssertEqual(types, LinearLayerPlan.fusedExpertModelTypes)
    }

    func testConvertedModulesMatchBitsandbytes() throws {
        for (name, entry) in try cases() {
            let planned = Set(try plan(name).linears.map(\.name))
            for method in ["int8", "nf4"] {
                let converted = Set(try XCTUnwrap(entry[method]?["converted"]?.array).compactMap(\.string))
                XCTAssertEqual(planned, converted, "\(name) \(method)")
            }
        }
    }

    /// Every layer whose fused experts and router transformers left unquantized has all its stored
    /// per-expert tensors and its router kept, with the MoE reasons — and nothing else has those reasons.
    func testExpertsAndRoutersAreKeptWhereTransformersKeepsThem() throws {
        func layer(_ name: String) -> Int? {
            let parts = name.split(separator: ".")
            return parts.firstIndex(of: "layers").flatMap { Int(parts[$0 + 1]) }
        }
        for (name, entry) in try cases() {
            let plan = try plan(name)
            let stored = try XCTUnwrap(entry["stored"]?.array).compactMap(\.string)
            for method in ["int8", "nf4"] {
                let unquantized = try XCTUnwrap(entry[method]?["unquantized"]?.object).keys
                let fusedLayers = Set(unquantized.filter { $0.hasSuffix("experts.gate_up_proj") }.compactMap(layer))
                let routerLayers = Set(unquantized.filter { $0.hasSuffix(".gate.weight") }.compactMap(layer))
                let experts = plan.kept.filter { $0.reason == .moeExpert }.map(\.tensor.name)
                let routers = plan.kept.filter { $0.reason == .moeRouter }.map(\.tensor.name)
                XCTAssertEqual(Set(experts.compactMap(layer)), fusedLayers, "\(name) \(method)")
                XCTAssertEqual(Set(routers.compactMap(layer)), routerLayers, "\(name) \(method)")
                XCTAssertEqual(Set(experts), Set(stored.filter { $0.contains(".experts.") }), name)
                XCTAssertEqual(routers.count, routerLayers.count, name)
            }
        }
    }

    /// transformers' save_pretrained of the quantized model writes the experts under the per-expert names
    /// the source stored, unquantized: the export keeps exactly those.
    func testQuantizedSaveWritesTheStoredExpertNames() throws {
        for (name, entry) in try cases() {
            let saved = Set(try XCTUnwrap(entry["quantized_saved_experts"]?.array).compactMap(\.string))
            let kept = Set(try plan(name).kept.filter { $0.reason == .moeExpert }.map(\.tensor.name))
            XCTAssertEqual(saved, kept, name)
        }
    }
}

extension MoEConversionTests {
    /// The bytes the sizes call MoE-kept are exactly the stored experts and routers bitsandbytes leaves alone
    /// (F32 fixtures: 4 bytes each), and still part of keptBytes; a dense model has none.
    func testSizesCountTheExpertsBitsandbytesKeeps() throws {
        for (name, entry) in try cases() {
            let checkpoint = try Checkpoint(path: Self.folder + "/" + name)
            let sizes = OpenedModel(checkpoint).sizes
            let stored = Set(try XCTUnwrap(entry["stored"]?.array).compactMap(\.string))
            let moe = checkpoint.tensors.filter {
                stored.contains($0.name) && ($0.name.contains(".experts.") || $0.name.hasSuffix(".gate.weight"))
            }
            XCTAssertEqual(sizes.moeKeptBytes, moe.reduce(0) { $0 + $1.elementCount * 4 }, name)
            XCTAssertGreaterThan(sizes.keptBytes, sizes.moeKeptBytes, name)
            XCTAssertGreaterThan(Double(sizes.moeKeptBytes) / Double(sizes.unquantizedBytes), 0.2, name)
        }
        let dense = try Checkpoint(path: ArchitectureRuntimeTests.folder + "/phi3-f32")
        XCTAssertEqual(OpenedModel(dense).sizes.moeKeptBytes, 0)
    }
}
