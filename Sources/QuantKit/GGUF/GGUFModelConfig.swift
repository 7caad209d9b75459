/// The `<architecture>.*` metadata a converted model needs, and the config.json transformers 5.24
/// writes for the model it loads from such a file (integrations/ggml.py's GGUF_CONFIG_MAPPING: the same
/// keys for llama, qwen2 and qwen3; phi3 and falcon differ in class fields), with the architecture's own fields (GGUFArchitecture.classFields).
struct GGUFModelConfig {
    let architecture: GGUFArchitecture
    let hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int, keyValueHeadCount: Int
    let headDim: Int, contextLength: Int, vocabularySize: Int
    let normEpsilon: Double, ropeTheta: Double
    let bosID: Int?, eosID: Int?, padID: Int?, unknownID: Int?
    let tied: Bool
    /// `<arch>.attention.sliding_window` (gemma2/3), nil when the file has none.
    let slidingWindow: Int?

    init(file: GGUFFile, architecture: GGUFArchitecture) throws {
        let prefix = architecture.name + "."
        func integer(_ key: String) throws -> Int {
            guard let value = file[prefix + key]?.integer else {
                throw CheckpointError(file: file.path, .invalidMetadata(key: prefix + key, reason: "is missing or not an integer"))
            }
            return value
        }
        func number(_ key: String) -> Double? {
            switch file[prefix + key] {
            case .float32(let value)?: return Double(value)
            case .float64(let value)?: return value
            default: return file[prefix + key]?.integer.map(Double.init)
            }
        }
        self.architecture = architecture
        hiddenSize = try integer("embedding_length")
        intermediateSize = try integer("feed_forward_length")
        layerCount = try integer("block_count")
        headCount = try integer("attention.head_count")
        keyValueHeadCount = file[prefix + "attention.head_count_kv"]?.integer ?? headCount
        headDim = architecture.headDimensionKeys.lazy.compactMap { file[prefix + $0]?.integer }.first ?? hiddenSize / headCount
        contextLength = try integer("context_length")
        if let size = file[prefix + "vocab_size"]?.integer {
            vocabularySize = size
        } else if case .array(_, let tokens)? = file["tokenizer.ggml.tokens"] {
            vocabularySize = tokens.count
        } else {
            throw CheckpointError(file: file.path, .invalidMetadata(key: prefix + "vocab_size", reason: "is missing and there is no token list"))
        }
        normEpsilon = number("attention.layer_norm_rms_epsilon") ?? 1e-6
        ropeTheta = number("rope.freq_base") ?? 10000
        bosID = file["tokenizer.ggml.bos_token_id"]?.integer
        eosID = file["tokenizer.ggml.eos_token_id"]?.integer
        padID = file["tokenizer.ggml.padding_token_id"]?.integer
        unknownID = file["tokenizer.ggml.unknown_token_id"]?.integer
        tied = !file.tensors.contains { $0.name == "output.weight" }
        slidingWindow = file[prefix + "attention.sliding_window"]?.integer
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
