import Foundation
import XCTest
@testable import QuantKit

final class ExportTests: XCTestCase {
    private var folder: TemporaryFolder!
    private var source: String { folder.path + "/source" }

    override func setUpWithError() throws {
        folder = TemporaryFolder()
        var model = SyntheticModel()
        model.layers = 2
        model.hiddenSize = 64
        model.intermediateSize = 176
        model.vocabularySize = 96
        try model.write(to: source)
        FileManager.default.createFile(atPath: source + "/tokenizer.json", contents: Data("{}".utf8))
    }

    private func export(_ plan: ExportPlan, to name: String = "out", force: Bool = false) throws -> (ExportResult, Checkpoint) {
        let checkpoint = try Checkpoint(path: source)
        let exporter = Exporter(checkpoint: checkpoint, plan: plan, threads: 2)
        let result = try exporter.write(try exporter.layout(), to: folder.path + "/" + name, force: force)
        return (result, try Checkpoint(path: result.directory))
    }

    private func floats(_ checkpoint: Checkpoint, _ name: String) throws -> [Float] {
        let tensor = try XCTUnwrap(checkpoint.tensor(named: name), name)
        var values = [Float](repeating: 0, count: tensor.elementCount)
        values.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(tensor.dtype, bytes: checkpoint.bytes(of: tensor), start: 0, count: tensor.elementCount, into: $0.baseAddress!)
        }
        return values
    }

    private func bytes(_ checkpoint: Checkpoint, _ name: String) throws -> [UInt8] {
        Array(checkpoint.bytes(of: try XCTUnwrap(checkpoint.tensor(named: name), name)))
    }

    func testInt8ExportEqualsTheReferenceQuantizerAndCopiesTheRest() throws {
        let (result, output) = try export(ExportPlan(method: .int8))
        let input = try Checkpoint(path: source)
        let plan = LinearLayerPlan(checkpoint: input)
        for layer in plan.linears {
            let reference = Int8Rowwise.quantizeReference(try floats(input, layer.weight.name), rows: layer.outFeatures, columns: layer.inFeatures)
            XCTAssertEqual(try bytes(output, layer.name + ".weight"), reference.codes.map { UInt8(bitPattern: $0) }, layer.name)
            XCTAssertEqual(try floats(output, layer.name + ".SCB").map(\.bitPattern), reference.scale.map(\.bitPattern))
            XCTAssertEqual(try bytes(output, layer.name + ".weight_format"), [0])
            XCTAssertEqual(output.tensor(named: layer.name + ".weight_format")?.shape, [])
        }
        for kept in plan.kept {
            XCTAssertEqual(try bytes(output, kept.tensor.name), Array(input.bytes(of: kept.tensor)), "\(kept.tensor.name) copied bit for bit")
        }
        XCTAssertEqual(result.copiedFiles, ["tokenizer.json"])
        XCTAssertEqual(output.fileBytes, result.weightBytes, "the size is the predicted size")
    }

    func testFourBitExportsEqualTheReferenceQuantizers() throws {
        for (method, doubleQuant, blocksize) in [(ExportMethod.nf4, false, 64), (.fp4, true, 128), (.nf4, true, 32)] {
            var plan = ExportPlan(method: method)
            plan.doubleQuant = doubleQuant
            plan.blocksize = blocksize
            let (_, output) = try export(plan, to: "\(method)-\(doubleQuant)-\(blocksize)")
            let input = try Checkpoint(path: source)
            for layer in LinearLayerPlan(checkpoint: input).linears {
                let label = "\(layer.name) \(method) dq=\(doubleQuant) bs=\(blocksize)"
                let reference = FourBitQuantized.quantizeReference(try floats(input, layer.weight.name), type: method.fourBitType!, blocksize: blocksize)
                XCTAssertEqual(try bytes(output, layer.name + ".weight"), reference.packed, label)
                XCTAssertEqual(output.tensor(named: layer.name + ".weight")?.shape, [(layer.parameterCount + 1) / 2, 1])
                XCTAssertEqual(try floats(output, layer.name + ".weight.quant_map"), method.fourBitType!.code)
                let json = String(decoding: try bytes(output, layer.name + ".weight.quant_state.bitsandbytes__\(method.rawValue)"), as: UTF8.self)
                XCTAssertTrue(json.hasPrefix("{\"quant_type\": \"\(method.rawValue)\", \"blocksize\": \(blocksize), \"dtype\": \"float16\", \"shape\": [\(layer.outFeatures), \(layer.inFeatures)]"), json)
                if doubleQuant {
                    let nested = DoubleQuantizedAbsmax.quantize(reference.absmax, reference: true)
                    XCTAssertEqual(try bytes(output, layer.name + ".weight.absmax"), nested.codes, label)
                    XCTAssertEqual(try floats(output, layer.name + ".weight.nested_absmax").map(\.bitPattern), nested.storedNestedAbsmax.map(\.bitPattern))
                    XCTAssertEqual(try floats(output, layer.name + ".weight.nested_quant_map"), DynamicMap.values)
                    XCTAssertTrue(json.hasSuffix(", \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": \(QuantStateJSON.pythonRepr(Double(nested.offset)))}"), json)
                } else {
                    XCTAssertEqual(try floats(output, layer.name + ".weight.absmax").map(\.bitPattern), reference.absmax.map(\.bitPattern), label)
                }
            }
        }
    }

    func testConfigCarriesTheFullQuantizationConfig() throws {
        var plan = ExportPlan(method: .nf4)
        plan.doubleQuant = true
        plan.computeDType = "bfloat16"
        plan.skipModules = ["model.layers.1.mlp"]
        let (result, output) = try export(plan)
        let config = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: result.directory + "/config.json")))
        let quantization = try XCTUnwrap(config["quantization_config"]?.object)
        XCTAssertEqual(quantization["load_in_4bit"], .bool(true))
        XCTAssertEqual(quantization["bnb_4bit_quant_type"], .string("nf4"))
        XCTAssertEqual(quantization["bnb_4bit_use_double_quant"], .bool(true))
        XCTAssertEqual(quantization["bnb_4bit_compute_dtype"], .string("bfloat16"))
        XCTAssertEqual(quantization["llm_int8_skip_modules"], .array([.string("model.layers.1.mlp"), .string("lm_head")]),
                       "a skip list replaces transformers' default, so the head is named too")
        XCTAssertEqual(quantization["quant_method"], .string("bitsandbytes"))
        XCTAssertEqual(config["model_type"], .string("llama"))
        // Skipped modules are copied as they are; the attention of the same block is converted.
        XCTAssertEqual(output.tensor(named: "model.layers.1.mlp.up_proj.weight")?.dtype, .f16)
        XCTAssertNil(output.tensor(named: "model.layers.1.mlp.up_proj.weight.absmax"))
        XCTAssertNotNil(output.tensor(named: "model.layers.1.self_attn.q_proj.weight.absmax"))
    }

    /// An explicit skip list replaces transformers' default one, so the head must be in it whether it is
    /// stored (llama fixture, untied) or tied to the embedding and absent from the file (qwen2 and gpt2
    /// fixtures): otherwise the loader quantizes the tied head and `generate` fails.
    func testSkipListNamesTheOutputHeadTiedOrNot() throws {
        let cases = [("llama", "model.layers.0.mlp.down_proj"), ("qwen2", "model.layers.0.mlp.down_proj"), ("gpt2", "h.0.mlp.c_fc")]
        for (model, key) in cases {
            let checkpoint = try Checkpoint(path: fixturesFolder + "/export/\(model)/source")
            XCTAssertEqual(LinearLayerPlan(checkpoint: checkpoint).headModules, ["lm_head"], model)
            var plan = ExportPlan(method: .nf4)
            XCTAssertEqual(try ExportLayout(checkpoint: checkpoint, plan: plan) { _ in 0 }.skipModulesForConfig, [],
                           "\(model): no skips, transformers' default applies (null in the config)")
            plan.skipModules = [key]
            XCTAssertEqual(try ExportLayout(checkpoint: checkpoint, plan: plan) { _ in 0 }.skipModulesForConfig, [key, "lm_head"], model)
            plan.skipModules = [key, "lm_head"]
            XCTAssertEqual(try ExportLayout(checkpoint: checkpoint, plan: plan) { _ in 0 }.skipModulesForConfig, [key, "lm_head"],
                           "\(model): a head already named is not named twice")
        }
    }

    func testTiedHeadFollowsTheModelClass() {
        XCTAssertEqual(LinearLayerPlan.tiedHead(architectures: ["Qwen2ForCausalLM"]), "lm_head")
        XCTAssertEqual(LinearLayerPlan.tiedHead(architectures: ["GPT2LMHeadModel"]), "lm_head")
        XCTAssertEqual(LinearLayerPlan.tiedHead(architectures: ["BertForMaskedLM"]), "cls.predictions.decoder")
        XCTAssertEqual(LinearLayerPlan.tiedHead(architectures: ["GPTNeoXForCausalLM"]), "embed_out")
        XCTAssertNil(LinearLayerPlan.tiedHead(architectures: ["BertModel"]), "a base model has no head")
        XCTAssertNil(LinearLayerPlan.tiedHead(architectures: []))
    }

    func testASkipKeyMatchingNoLayerIsAnError() throws {
        var plan = ExportPlan(method: .int8)
        plan.skipModules = ["model.layers.1.mlp", "does.not.exist"]
        let checkpoint = try Checkpoint(path: source)
        XCTAssertThrowsError(try Exporter(checkpoint: checkpoint, plan: plan).layout()) { error in
            XCTAssertEqual(error as? ExportError, ExportError(file: checkpoint.path, .skipMatchesNothing(key: "does.not.exist")))
        }
        plan.skipModules = ["model.layers.1.mlp", "lm_head"]
        XCTAssertNoThrow(try Exporter(checkpoint: checkpoint, plan: plan).layout(), "the head is a module a key may name")
    }

    /// --dtype: kept tensors stored in the plan's dtype, converted weights quantized from values rounded
    /// to it (as transformers quantizes after loading with torch_dtype), the config's dtype updated.
    func testKeptDTypeConvertsKeptTensorsAndRoundsWeightsBeforeQuantizing() throws {
        var plan = ExportPlan(method: .nf4)
        plan.keptDType = .bf16
        plan.skipModules = ["model.layers.1.mlp"]
        let (result, output) = try export(plan)
        let input = try Checkpoint(path: source)
        let embedding = try XCTUnwrap(input.tensor(named: "model.embed_tokens.weight"))
        XCTAssertEqual(embedding.dtype, .f16)
        XCTAssertEqual(output.tensor(named: "model.embed_tokens.weight")?.dtype, .bf16)
        XCTAssertEqual(output.tensor(named: "model.layers.1.mlp.up_proj.weight")?.dtype, .bf16, "a skipped layer is kept, so cast")
        let expected = try floats(input, "model.embed_tokens.weight").map { Float(bitPattern: UInt32(FloatCast.bfloat16Bits($0)) << 16) }
        XCTAssertEqual(try floats(output, "model.embed_tokens.weight").map(\.bitPattern), expected.map(\.bitPattern))
        let layer = try XCTUnwrap(LinearLayerPlan(checkpoint: input).linears.first)
        var rounded = try floats(input, layer.weight.name)
        rounded.withUnsafeMutableBufferPointer { FloatCast.round($0, to: .bf16) }
        let reference = FourBitQuantized.quantizeReference(rounded, type: .nf4, blocksize: 64)
        XCTAssertEqual(try bytes(output, layer.name + ".weight"), reference.packed)
        XCTAssertEqual(try floats(output, layer.name + ".weight.absmax").map(\.bitPattern), reference.absmax.map(\.bitPattern))
        let json = String(decoding: try bytes(output, layer.name + ".weight.quant_state.bitsandbytes__nf4"), as: UTF8.self)
        XCTAssertTrue(json.contains("\"dtype\": \"bfloat16\""), json)
        let config = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: result.directory + "/config.json")))
        XCTAssertEqual(config["dtype"] ?? config["torch_dtype"], .string("bfloat16"))
        XCTAssertEqual(output.fileBytes, result.weightBytes, "the size is the predicted size")
    }

    func testFloatCastRoundsAsTorchDoes() {
        // Ties to even: 1 + 2⁻⁸ lies halfway between two bfloat16 values and goes to the even one (1).
        XCTAssertEqual(FloatCast.bfloat16Bits(1 + 1.0 / 256), 0x3F80)
        XCTAssertEqual(FloatCast.bfloat16Bits(1 + 3.0 / 256), 0x3F82)
        XCTAssertEqual(FloatCast.bfloat16Bits(.nan), 0x7FC0)
        XCTAssertEqual(FloatCast.bfloat16Bits(.infinity), 0x7F80)
        let values: [Float] = [0.1, -65520, 70000, 1e-8]
        let bytes = values.withUnsafeBytes { FloatCast.bytes($0, from: .f32, to: .f16, count: values.count) }
        let halves = stride(from: 0, to: bytes.count, by: 2).map { Float16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
        XCTAssertEqual(halves, [Float16(0.1), -.infinity, .infinity, Float16(1e-8)])
    }

    func testSkipKeysMatchAsTransformersDoes() {
        var plan = ExportPlan(method: .int8)
        plan.skipModules = ["lm_head", "model.layers.1.mlp", "down_proj"]
        XCTAssertTrue(plan.isSkipped("model.layers.1.mlp.up_proj"))
        XCTAssertTrue(plan.isSkipped("model.layers.0.mlp.down_proj"))
        XCTAssertFalse(plan.isSkipped("model.layers.11.mlp.up_proj"), "a key ends at a module boundary")
        XCTAssertFalse(plan.isSkipped("model.layers.0.mlp.up_proj"))
    }

    func testShardsAndIndex() throws {
        var plan = ExportPlan(method: .int8)
        plan.maxShardSize = 40_000
        let (result, output) = try export(plan)
        XCTAssertGreaterThan(output.shards.count, 2)
        XCTAssertTrue(result.files.contains("model.safetensors.index.json"))
        let (_, single) = try export(ExportPlan(method: .int8), to: "single")
        XCTAssertEqual(Set(output.tensors.map(\.name)), Set(single.tensors.map(\.name)))
        for tensor in single.tensors {
            XCTAssertEqual(Array(output.bytes(of: output.tensor(named: tensor.name)!)), Array(single.bytes(of: tensor)), tensor.name)
        }
    }

    /// An export larger than the free space fails at once, with one line and nothing written. The
    /// source is a sparse file declaring a 1 TB F16 weight (no blocks on disk; only the header is read).
    func testRefusesAnExportThatCannotFitBeforeWritingAnything() throws {
        let header = Data(#"{"layer.weight":{"dtype":"F16","shape":[1048576,524288],"data_offsets":[0,1099511627776]}}"#.utf8)
        try FileManager.default.createDirectory(atPath: folder.path + "/huge", withIntermediateDirectories: false)
        let path = folder.path + "/huge/model.safetensors"
        var length = UInt64(header.count).littleEndian
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes: &length, count: 8) + header)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        do { try handle.truncate(atOffset: UInt64(8 + header.count) + (1 << 40)) } catch { throw XCTSkip("no sparse 1 TB file here: \(error)") }
        try handle.close()
        let checkpoint = try Checkpoint(path: path)
        let exporter = Exporter(checkpoint: checkpoint, plan: ExportPlan(method: .int8))
        let layout = try exporter.layout()
        let free = try XCTUnwrap(FreeSpace.available(at: folder.path))
        try XCTSkipIf(free > layout.totalBytes, "this file system has \(free) bytes free: the export would fit")
        XCTAssertThrowsError(try exporter.write(layout, to: folder.path + "/out", force: false)) { error in
            XCTAssertTrue(error is BadInputError)
            XCTAssertTrue("\(error)".hasPrefix(folder.path + "/out: not enough free space: needs 55"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["huge", "source"])
    }

    func testRefusesUnsafeTargetsAndLeavesNothingBehind() throws {
        let plan = ExportPlan(method: .int8)
        let checkpoint = try Checkpoint(path: source)
        let exporter = Exporter(checkpoint: checkpoint, plan: plan)
        let layout = try exporter.layout()
        let before = try FileManager.default.contentsOfDirectory(atPath: source).sorted()
        XCTAssertThrowsError(try exporter.write(layout, to: source + "/inside", force: true)) { error in
            XCTAssertTrue("\(error)".contains("inside the input folder"), "\(error)")
        }
        XCTAssertThrowsError(try exporter.write(layout, to: folder.path, force: true)) { error in
            XCTAssertTrue("\(error)".contains("contains the input"), "\(error)")
        }
        let occupied = folder.path + "/occupied"
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: occupied + "/keep.txt", contents: Data("mine".utf8))
        XCTAssertThrowsError(try exporter.write(layout, to: occupied, force: false)) { error in
            XCTAssertEqual((error as? ExportError)?.problem, .targetNotEmpty, "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: occupied + "/keep.txt", encoding: .utf8), "mine")
        // A parent that is a file: the export fails and no temporary folder is left anywhere.
        FileManager.default.createFile(atPath: folder.path + "/plainfile", contents: Data())
        XCTAssertThrowsError(try exporter.write(layout, to: folder.path + "/plainfile/out", force: false))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains("qtui-partial") }
        XCTAssertEqual(leftovers, [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: source).sorted(), before, "input untouched")
        // With --force the occupied folder is replaced.
        _ = try exporter.write(layout, to: occupied, force: true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: occupied + "/keep.txt"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: occupied + "/model.safetensors"))
    }
}
