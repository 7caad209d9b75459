import Foundation

/// What sets Gemma 1/2/3 apart from the llama family, read the way transformers 5.24's GemmaConfig,
/// Gemma2Config, Gemma3TextConfig and Gemma3Config read config.json (class defaults for missing keys).
public struct GemmaSettings: Sendable, Equatable {
    /// 1 (gemma), 2 (gemma2) or 3 (gemma3_text, and the text part of gemma3).
    public let generation: Int
    /// Embeddings are multiplied by √hidden_size, a float32 scalar (`torch.tensor(hidden_size**0.5)`)
    /// cast to the embedding's dtype — float32 here, as transformers loaded with dtype=float32.
    public let embeddingScale: Float
    /// gemma2/3: the attention output is normed (post_attention_layernorm) before the residual add, and
    /// the MLP sits between pre_feedforward_layernorm and post_feedforward_layernorm.
    public let sandwichNorms: Bool
    /// gemma2: scores become tanh(s / cap) · cap before the mask (Gemma3Attention ignores the key).
    public let attentionSoftcap: Float?
    /// gemma2, gemma3_text: logits become tanh(z / cap) · cap (Gemma3ForConditionalGeneration does not).
    public let finalSoftcap: Float?
    /// Per block: the rotary settings (gemma3: one per layer type, `rope_local_base_freq` for sliding layers).
    public let rotaryPerLayer: [RotaryConfig]

    static let modelTypes = ["gemma", "gemma2", "gemma3_text", "gemma3"]

    /// The class defaults transformers fills in for keys config.json leaves out (save_pretrained writes
    /// them all, hand-made configs may not).
    private static func defaults(_ type: String) -> [String: JSONValue] {
        var common: [String: JSONValue] = [
            "head_dim": .integer(256), "rms_norm_eps": .number(1e-6), "tie_word_embeddings": .bool(true),
            "attention_bias": .bool(false),
        ]
        switch type {
        case "gemma":
            common.merge(["vocab_size": .integer(256_000), "hidden_size": .integer(3072), "intermediate_size": .integer(24576),
                          "num_hidden_layers": .integer(28), "num_attention_heads": .integer(16), "num_key_value_heads": .integer(16),
                          "max_position_embeddings": .integer(8192), "hidden_act": .string("gelu_pytorch_tanh")]) { $1 }
        case "gemma2":
            common.merge(["vocab_size": .integer(256_000), "hidden_size": .integer(2304), "intermediate_size": .integer(9216),
                          "num_hidden_layers": .integer(26), "num_attention_heads": .integer(8), "num_key_value_heads": .integer(4),
                          "max_position_embeddings": .integer(8192), "hidden_activation": .string("gelu_pytorch_tanh"),
                          "query_pre_attn_scalar": .integer(256), "sliding_window": .integer(4096),
                          "final_logit_softcapping": .number(30), "attn_logit_softcapping": .number(50)]) { $1 }
        default:
            common.merge(["vocab_size": .integer(262_208), "hidden_size": .integer(2304), "intermediate_size": .integer(9216),
                          "num_hidden_layers": .integer(26), "num_attention_heads": .integer(8), "num_key_value_heads": .integer(4),
                          "max_position_embeddings": .integer(131_072), "hidden_activation": .string("gelu_pytorch_tanh"),
                          "query_pre_attn_scalar": .integer(256), "sliding_window": .integer(4096)]) { $1 }
        }
        return common
    }

    /// The fields the rest of ModelDescription reads: gemma3's `text_config` (with the top-level
    /// tie_word_embeddings, which decides the tie of Gemma3ForConditionalGeneration), class defaults
    /// added for missing keys. An explicit null stays null.
    static func resolvedFields(_ fields: [String: JSONValue], type: String) -> [String: JSONValue] {
        var text = fields
        if type == "gemma3" {
            text = fields["text_config"]?.object ?? [:]
            text["tie_word_embeddings"] = fields["tie_word_embeddings"] ?? .bool(true)
        }
        return text.merging(defaults(type)) { stored, _ in stored }
    }

    init(fields: [String: JSONValue], type: String, hiddenSize: Int, headSize: Int, layers: Int, file: String) throws {
        func number(_ key: String) -> Float? { fields[key].flatMap(ModelDescription.double).map(Float.init) }
        generation = type == "gemma" ? 1 : type == "gemma2" ? 2 : 3
        embeddingScale = Float(Double(hiddenSize).squareRoot())
        sandwichNorms = generation >= 2
        attentionSoftcap = generation == 2 ? number("attn_logit_softcapping") : nil
        finalSoftcap = type == "gemma3" ? nil : number("final_logit_softcapping")
        if generation >= 2, fields["use_bidirectional_attention"]?.bool == true {
            throw ModelError(file: file, .unsupportedFeature("use_bidirectional_attention (Gemma as an encoder)"))
        }
        if generation == 3 {
            let types = try Self.layerTypes(fields, generation: 3, layers: layers, file: file)
            let (full, sliding) = try Self.gemma3Rotary(fields, headSize: headSize, file: file)
            rotaryPerLayer = types.map { $0 ? sliding : full }
        } else {
            rotaryPerLayer = Array(repeating: try RotaryConfig(fields: fields, headSize: headSize, file: file), count: layers)
        }
    }

    /// Per block, whether it is a sliding layer: `layer_types` when given; otherwise gemma2 alternates
    /// (even blocks slide) and gemma3 slides all but every `sliding_window_pattern`-th (default 6).
    static func layerTypes(_ fields: [String: JSONValue], generation: Int, layers: Int, file: String) throws -> [Bool] {
        if let types = fields["layer_types"]?.array {
            guard types.count == layers else { throw ModelError(file: file, .invalidConfig("layer_types has \(types.count) entries for \(layers) layers")) }
            return types.map { $0.string == "sliding_attention" }
        }
        let pattern = fields["sliding_window_pattern"]?.integer ?? fields["_sliding_window_pattern"]?.integer
            ?? (generation == 2 ? 2 : 6)
        guard pattern > 0 else { throw ModelError(file: file, .invalidConfig("sliding_window_pattern \(pattern) is not positive")) }
        return (0..<layers).map { ($0 + 1) % pattern != 0 }
    }

    /// Gemma3TextConfig.convert_rope_params_to_dict: `rope_parameters` per layer type, or the older
    /// rope_scaling + rope_theta (full layers, default 1e6) and rope_local_base_freq (sliding, default 1e4).
    private static func gemma3Rotary(_ fields: [String: JSONValue], headSize: Int, file: String) throws -> (full: RotaryConfig, sliding: RotaryConfig) {
        let perType = fields["rope_parameters"]?.object
        func config(_ layerType: String, scaling: JSONValue?, thetaKey: String, defaultTheta: Double) throws -> RotaryConfig {
            var parameters = perType?[layerType]?.object ?? scaling?.object ?? ["rope_type": .string("default")]
            if parameters["rope_type"] == nil, let type = parameters["type"] { parameters["rope_type"] = type }
            if parameters["rope_theta"] == nil { parameters["rope_theta"] = fields[thetaKey] ?? .number(defaultTheta) }
            return try RotaryConfig(fields: ["rope_parameters": .object(parameters)], headSize: headSize, file: file)
        }
        return (try config("full_attention", scaling: fields["rope_scaling"], thetaKey: "rope_theta", defaultTheta: 1_000_000),
                try config("sliding_attention", scaling: nil, thetaKey: "rope_local_base_freq", defaultTheta: 10_000))
    }

    /// Per block, the window of a sliding layer (gemma2/3), nil for full attention (and all of gemma 1).
    static func slidingWindows(_ fields: [String: JSONValue], generation: Int, layers: Int, file: String) throws -> [Int?] {
        guard generation >= 2 else { return Array(repeating: nil, count: layers) }
        let window = fields["sliding_window"]?.integer
        return try layerTypes(fields, generation: generation, layers: layers, file: file).map { $0 ? window : nil }
    }
}
