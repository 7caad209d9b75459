/// The `<architecture>.*` metadata a converted model needs, and the config.json transformers 5.24
/// writes for the model it loads from such a file (integrations/ggml.py's GGUF_CONFIG_MAPPING: the same
/// keys for llama, qwen2 and qwen3; phi3 and falcon differ in class fields), with the architecture's own fields (GGUFArchitecture.classFields).
struct GGUFModelConfig {
    let architecture: GGUFArchitecture
    let geometry: ModelGeometry
    let hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int, keyValueHeadCount: Int
    let headDim: Int, contextLength: Int, vocabularySize: Int
    let normEpsilon: Double, ropeTheta: Double
    let bosID: Int?, eosID: Int?, padID: Int?, unknownID: Int?
    let tied: Bool
    /// `<arch>.attention.sliding_window` (gemma2/3), nil when the file has none.
    let slidingWindow: Int?

    /// Reads the `<arch>.*` keys into a ModelGeometry (validated there: bounds, divisibility, an even
    /// head size — every architecture here rotates q and k); the required ones must be present.
    init(file: GGUFFile, architecture: GGUFArchitecture) throws {
        let prefix = architecture.name + "."
        func number(_ key: String) -> Double? {
            switch file[prefix + key] {
            case .float32(let value)?: return Double(value)
            case .float64(let value)?: return value
            default: return file[prefix + key]?.integer.map(Double.init)
            }
        }
        var fields: [ModelGeometry.Field: (key: String, value: ModelGeometry.Value)] = [:]
        func read(_ field: ModelGeometry.Field, _ key: String) {
            guard let value = file[prefix + key] else { return }
            fields[field] = (prefix + key, value.integer.map(ModelGeometry.Value.integer) ?? .other(Self.describe(value)))
        }
        read(.hiddenSize, "embedding_length")
        read(.intermediateSize, "feed_forward_length")
        read(.layerCount, "block_count")
        read(.headCount, "attention.head_count")
        read(.keyValueHeadCount, "attention.head_count_kv")
        read(.maxPositions, "context_length")
        read(.rotaryDimensions, "rope.dimension_count")
        read(.vocabularySize, "vocab_size")
        if let key = architecture.headDimensionKeys.first(where: { file[prefix + $0] != nil }) { read(.headSize, key) }
        if fields[.vocabularySize] == nil, case .array(_, let tokens)? = file["tokenizer.ggml.tokens"] {
            fields[.vocabularySize] = ("tokenizer.ggml.tokens (count)", .integer(tokens.count))
        }
        let geometry = try ModelGeometry(file: file.path, fields: fields, rotary: true)
        func required(_ field: ModelGeometry.Field, _ key: String) throws -> Int {
            guard let value = geometry[field] else {
                throw CheckpointError(file: file.path, .invalidMetadata(key: prefix + key, reason: "is missing"))
            }
            return value
        }
        self.architecture = architecture
        self.geometry = geometry
        hiddenSize = try required(.hiddenSize, "embedding_length")
        intermediateSize = try required(.intermediateSize, "feed_forward_length")
        layerCount = try required(.layerCount, "block_count")
        headCount = try required(.headCount, "attention.head_count")
        keyValueHeadCount = geometry.keyValueHeadCount ?? headCount
        headDim = geometry.headSize ?? hiddenSize / headCount
        contextLength = try required(.maxPositions, "context_length")
        vocabularySize = try required(.vocabularySize, "vocab_size")
        normEpsilon = number("attention.layer_norm_rms_epsilon") ?? 1e-6
        ropeTheta = number("rope.freq_base") ?? 10000
        bosID = file["tokenizer.ggml.bos_token_id"]?.integer
        eosID = file["tokenizer.ggml.eos_token_id"]?.integer
        padID = file["tokenizer.ggml.padding_token_id"]?.integer
        unknownID = file["tokenizer.ggml.unknown_token_id"]?.integer
        tied = !file.tensors.contains { $0.name == "output.weight" }
        slidingWindow = file[prefix + "attention.sliding_window"]?.integer
    }

    /// A non-integer metadata value, short enough for a one-line message.
    private static func describe(_ value: GGUFValue) -> String {
        switch value {
        case .float32(let number): return "\(number)"
        case .float64(let number): return "\(number)"
        case .bool(let flag): return "\(flag)"
        case .string(let text): return "\"" + (text.count > 40 ? text.prefix(40) + "…" : text) + "\""
        case .array: return "(an array)"
        default: return "\(value)"
        }
    }

    /// Refuses a tensor whose shape is not the one the geometry gives its transformers name, or whose
    /// block is past block_count: the runtime, the RoPE un-permutation and every later reader rely on
    /// the config.json written here describing the tensors beside it.
    func checkShape(of tensor: GGUFTensor, as name: String, in file: GGUFFile) throws {
        func bad(_ reason: String) -> CheckpointError { CheckpointError(file: file.path, .invalidEntry(tensor: tensor.name, reason: reason)) }
        let parts = name.split(separator: ".").map(String.init)
        if parts.count > 2, parts[1] == "layers", let block = Int(parts[2]), block >= layerCount {
            throw bad("is in block \(block), but \(geometry.key(.layerCount)) is \(layerCount)")
        }
        guard let expected = expectedShape(name), tensor.shape != expected else { return }
        throw bad("has shape \(tensor.shapeText), but the metadata's geometry (\(geometrySummary)) gives [\(expected.map(String.init).joined(separator: ", "))]")
    }

    private var geometrySummary: String {
        "hidden \(hiddenSize), \(headCount) heads, \(keyValueHeadCount) kv heads of \(headDim), ffn \(intermediateSize), vocabulary \(vocabularySize)"
    }

    /// The PyTorch-order shape of a converted tensor; nil for names whose shape the geometry does not fix.
    func expectedShape(_ name: String) -> [Int]? {
        let isBias = name.hasSuffix(".bias")
        let module = String(name.dropLast(isBias ? 5 : 7))
        let (q, kv) = (headCount * headDim, keyValueHeadCount * headDim)
        let weight: [Int]
        switch module.split(separator: ".").suffix(2).joined(separator: ".") {
        case "model.embed_tokens", "lm_head": weight = [vocabularySize, hiddenSize]
        case "model.norm": weight = [hiddenSize]
        case _ where module.hasSuffix("layernorm"): weight = [hiddenSize]
        case "self_attn.q_proj": weight = [q, hiddenSize]
        case "self_attn.k_proj", "self_attn.v_proj": weight = [kv, hiddenSize]
        case "self_attn.o_proj": weight = [hiddenSize, q]
        case "mlp.gate_proj", "mlp.up_proj": weight = [intermediateSize, hiddenSize]
        case "mlp.down_proj": weight = [hiddenSize, intermediateSize]
        case "self_attn.q_norm", "self_attn.k_norm": weight = [headDim]
        default: return nil
        }
        return isBias ? [weight[0]] : weight
    }

    /// The head count convert_hf_to_gguf.py permuted this tensor's rows with (q_proj: n_head, k_proj:
    /// n_head_kv); nil when it did not permute them.
    func ropeHeads(forTransformersName name: String) -> Int? {
        guard architecture.permutesQueryKeyRows else { return nil }
        if name.hasSuffix(".self_attn.q_proj.weight") { return headCount }
        if name.hasSuffix(".self_attn.k_proj.weight") { return keyValueHeadCount }
        return nil
    }

    func configJSON() -> String {
        let own = architecture.classFields(self)
        var fields: [(String, String)] = [
            ("architectures", "[\"\(architecture.className)\"]"), ("attention_dropout", "0.0"),
            ("dtype", "\"float32\""), ("hidden_act", "\"silu\""),
            ("hidden_size", "\(hiddenSize)"), ("initializer_range", "0.02"), ("intermediate_size", "\(intermediateSize)"),
            ("max_position_embeddings", "\(contextLength)"), ("model_type", "\"\(architecture.modelType)\""),
            ("num_attention_heads", "\(headCount)"), ("num_hidden_layers", "\(layerCount)"),
            ("num_key_value_heads", "\(keyValueHeadCount)"), ("rms_norm_eps", "\(normEpsilon)"),
            ("rope_parameters", "{\"rope_theta\": \(ropeTheta), \"rope_type\": \"default\"}"),
            ("tie_word_embeddings", "\(tied)"), ("transformers_version", "\"5.24.0\""), ("use_cache", "true"),
            ("vocab_size", "\(vocabularySize)"),
        ].filter { key, _ in !own.contains { $0.0 == key } } + own.filter { !$0.1.isEmpty }
        for (key, id) in [("bos_token_id", bosID), ("eos_token_id", eosID), ("pad_token_id", padID), ("unk_token_id", unknownID)] {
            if let id { fields.removeAll { $0.0 == key }; fields.append((key, "\(id)")) }
        }
        return "{\n" + fields.sorted { $0.0 < $1.0 }.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}\n"
    }
}
