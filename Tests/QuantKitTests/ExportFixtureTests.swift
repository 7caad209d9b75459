import Foundation
import XCTest
@testable import QuantKit

/// qtui's exports against what transformers + bitsandbytes themselves saved for the same sources
/// (scripts/fixtures/make_export_fixtures.py → Tests/Fixtures/export): identical tensor bytes, identical files
/// where the quantization is deterministic, the same config.json.
final class ExportFixtureTests: XCTestCase {
    static let folder = fixturesFolder + "/export"

    struct Variant {
        let model: String
        let name: String
        let manifest: [String: JSONValue]
    }

    private var variants: [Variant] {
        let manifest = try! JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.folder + "/manifest.json")))
        return manifest["models"]!.object!.sorted { $0.key < $1.key }.flatMap { model, entry in
            entry["variants"]!.object!.sorted { $0.key < $1.key }.map { Variant(model: model, name: $0.key, manifest: $0.value.object!) }
        }
    }

    /// The plan that reproduces a variant's BitsAndBytesConfig.
    private func plan(for variant: Variant) -> ExportPlan {
        let arguments = variant.manifest["bnb_config_args"]!.object!
        var plan = ExportPlan(method: arguments["load_in_8bit"]?.bool == true
                                  ? .int8 : ExportMethod(rawValue: arguments["bnb_4bit_quant_type"]?.string ?? "fp4")!)
        plan.doubleQuant = arguments["bnb_4bit_use_double_quant"]?.bool ?? false
        plan.computeDType = arguments["bnb_4bit_compute_dtype"]?.string ?? "float32"
        plan.skipModules = arguments["llm_int8_skip_modules"]?.array?.compactMap(\.string) ?? []
        plan.blocksize = variant.manifest["patched_params4bit_default_blocksize"]?.integer ?? 64
        return plan
    }

    /// Codes where bitsandbytes' CPU kernel for the nested step is not exact-nearest:
    /// tensor name → index → (saved, exact).
    private func nestedDifferences(_ variant: Variant) -> [String: [Int: (Int, Int)]] {
        var result: [String: [Int: (Int, Int)]] = [:]
        guard let modules = variant.manifest["recomputed_from_source"]?["per_module_diffs"]?.object else { return result }
        for (module, entry) in modules {
            let indices = entry["indices"]!.array!.map { $0.integer! }
            let saved = entry["saved_codes"]!.array!.map { $0.integer! }
            let exact = entry["exact_nearest_codes"]!.array!.map { $0.integer! }
            result[module + ".weight.absmax"] = Dictionary(uniqueKeysWithValues: indices.indices.map { (indices[$0], (saved[$0], exact[$0])) })
        }
        return result
    }

    func testEveryVariantMatchesTransformers() throws {
        let all = variants
        XCTAssertGreaterThanOrEqual(all.count, 20)
        var identicalFiles = 0
        for variant in all {
            let label = "\(variant.model)/\(variant.name)"
            let source = Self.folder + "/\(variant.model)/source"
            let expectedFolder = Self.folder + "/\(variant.model)/\(variant.name)"
            let output = TemporaryFolder()
            let plan = plan(for: variant)
            let exporter = Exporter(checkpoint: try Checkpoint(path: source), plan: plan, threads: 2)
            let result = try exporter.write(try exporter.layout(), to: output.path + "/out", force: true)
            let ours = try Checkpoint(path: result.directory)
            let theirs = try Checkpoint(path: expectedFolder)
            // An explicit skip list without the head makes transformers quantize lm_head; qtui names
            // the head in the list instead (see ExportLayout.skipModulesForConfig).
            let headQuantizedByTransformers = !plan.skipModules.isEmpty && !plan.skipModules.contains("lm_head")
            let compared = theirs.tensors.filter { !(headQuantizedByTransformers && $0.name.hasPrefix("lm_head.")) }
            if !headQuantizedByTransformers {
                XCTAssertEqual(Set(ours.tensors.map(\.name)), Set(theirs.tensors.map(\.name)), label)
            }
            let allowed = nestedDifferences(variant)
            for tensor in compared {
                guard let mine = ours.tensor(named: tensor.name) else { XCTFail("\(label): missing \(tensor.name)"); continue }
                XCTAssertEqual(mine.dtype, tensor.dtype, "\(label) \(tensor.name)")
                XCTAssertEqual(mine.shape, tensor.shape, "\(label) \(tensor.name)")
                let a = Array(ours.bytes(of: mine)), b = Array(theirs.bytes(of: tensor))
                guard a != b else { continue }
                guard let exceptions = allowed[tensor.name], a.count == b.count else {
                    XCTFail("\(label): \(tensor.name) differs"); continue
                }
                for index in a.indices where a[index] != b[index] {
                    // Ours is the exact nearest code; theirs is the CPU kernel's.
                    XCTAssertEqual(exceptions[index].map { [$0.0, $0.1] }, [Int(b[index]), Int(a[index])],
                                   "\(label): \(tensor.name)[\(index)] \(a[index]) vs \(b[index])")
                }
            }
            if allowed.isEmpty && !headQuantizedByTransformers {
                let same = FileManager.default.contentsEqual(atPath: result.directory + "/model.safetensors",
                                                             andPath: expectedFolder + "/model.safetensors")
                XCTAssertTrue(same, "\(label): the whole file is byte-identical")
                if same { identicalFiles += 1 }
            }
            try compareConfigs(result.directory, expectedFolder, label: label, ignoreSkipList: headQuantizedByTransformers)
            XCTAssertTrue(FileManager.default.contentsEqual(atPath: result.directory + "/generation_config.json",
                                                            andPath: expectedFolder + "/generation_config.json"), label)
        }
        XCTAssertGreaterThanOrEqual(identicalFiles, 12)
    }

    private func compareConfigs(_ ours: String, _ theirs: String, label: String, ignoreSkipList: Bool) throws {
        let mine = try String(contentsOfFile: ours + "/config.json", encoding: .utf8)
        let expected = try String(contentsOfFile: theirs + "/config.json", encoding: .utf8)
        guard ignoreSkipList else { return XCTAssertEqual(mine, expected, "\(label): config.json") }
        func withoutSkipList(_ text: String) throws -> JSONValue {
            guard case .object(var fields) = try JSONValue.parse(Data(text.utf8)),
                  case .object(var quantization) = fields["quantization_config"] else { return .null }
            quantization["llm_int8_skip_modules"] = nil
            fields["quantization_config"] = .object(quantization)
            return .object(fields)
        }
        XCTAssertEqual(try withoutSkipList(mine), try withoutSkipList(expected), "\(label): config.json")
    }
}
