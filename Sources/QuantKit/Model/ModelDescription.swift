import CQuantKernels
import Foundation

/// What the runtime needs to know about a model, read from its config.json the way transformers 5.24
/// reads it (including the defaults transformers fills in for missing keys).
///
/// Four families of forward pass cover the supported `model_type`s:
/// - `.llama` — llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, qwen3_moe: pre-RMSNorm decoder, rotary
///   positions, grouped-query attention, SwiGLU MLP; qwen2 adds q/k/v biases, qwen3 an RMSNorm per head on
///   q and k, mistral, mixtral and qwen2/3 (when enabled) a sliding attention window; mixtral, qwen2_moe
///   (qwen2's attention, biases by `qkv_bias`), qwen3_moe (qwen3's) and olmoe (q/k RMSNorm over the whole
///   projection, `clip_qkv`) route each token to experts (`experts`, MixtureOfExperts.swift).
/// - `.gpt2` — pre-LayerNorm decoder, learned positions, fused Conv1D q/k/v, tanh GELU, tied head.
/// - `.bert` — post-LayerNorm encoder (BertModel), word + position + token-type embeddings, erf GELU,
///   bidirectional attention, pooler.
/// - `.phi3`, `.gptNeoX`, `.opt`, `.falcon` — see DecoderSettings.swift and their forward passes.
/// - `.gemma` — gemma, gemma2, gemma3_text and gemma3's text model: the llama decoder with scaled
///   embeddings, (1 + w) RMSNorms, GELU-tanh; gemma2/3 add norms around attention and MLP, sliding layers
///   and query_pre_attn_scalar, gemma2 soft caps, gemma3 q/k norms and a RoPE base per layer type.
public struct ModelDescription: Sendable, Equatable {
    public enum Family: String, Sendable { case llama, gpt2, bert, phi3, gptNeoX = "gpt_neox", opt, falcon, gemma }

    public static let supportedTypes = ["llama", "mistral", "qwen2", "qwen3", "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "gpt2", "bert", "phi3", "gpt_neox", "opt", "falcon"]
        + GemmaSettings.modelTypes

    public let modelType: String
    public let family: Family
    public let hiddenSize: Int
    public let layerCount: Int
    public let headCount: Int
    public let keyValueHeadCount: Int
    public let headSize: Int
    public let intermediateSize: Int
    public let vocabularySize: Int
    /// The longest sequence the model has positions for; longer inputs are cut into chunks of this.
    public let maxPositions: Int
    public let normEpsilon: Float
    public let activation: Activation
    /// nil for learned absolute positions (gpt2, bert).
    public let rotary: RotaryConfig?
    /// Per block: how many keys back a query may look (itself included), nil for no limit.
    public let slidingWindows: [Int?]
    /// Whether the output head is the input embedding matrix.
    public let tiedEmbeddings: Bool
    /// Biases the checkpoint must hold (llama family: q/k/v, o, MLP).
    public let queryKeyValueBias: Bool
    public let outputBias: Bool
    public let mlpBias: Bool
    /// qwen3: RMSNorm over each head of q and k before the rotation.
    public let queryKeyNorm: Bool
    /// olmoe: that RMSNorm spans the whole q and k projections (weights [queryWidth], [keyValueWidth]).
    public private(set) var queryKeyNormOverWidth = false
    /// olmoe `clip_qkv`: q, k (after their norms) and v clamped to ±clip; nil for none.
    public private(set) var clipQKV: Float?
    /// Multiplies q·k; per block because GPT-2 may divide by the block number too.
    public let attentionScales: [Float]
    /// bert: rows of the token-type embedding (the runtime uses type 0 for every token).
    public let typeVocabularySize: Int
    /// Block layout choices of phi3, gpt_neox, opt and falcon; `.standard` for the others.
    public private(set) var layout = DecoderLayout.standard
    /// mixtral, qwen2_moe, qwen3_moe, olmoe: the routed feed-forward; nil for dense models.
    public private(set) var experts: MixtureOfExperts?
    /// `.gemma`: what sets Gemma apart (GemmaSettings.swift); nil for the other families.
    public private(set) var gemma: GemmaSettings?

    /// The family of a model_type, nil for types the runtime does not run.
    public static func family(of modelType: String) -> Family? {
        guard supportedTypes.contains(modelType) else { return nil }
        return GemmaSettings.modelTypes.contains(modelType) ? .gemma : Family(rawValue: modelType) ?? .llama
    }

    /// Shapes come from `config.geometry`, validated when the config was read; this adds what each
    /// family requires to be present and the defaults transformers fills in.
    public init(config: ModelConfig) throws {
        let rawFields = try Self.fields(of: config)
        let isGemma = GemmaSettings.modelTypes.contains(config.modelType ?? "")
        let fields = isGemma ? GemmaSettings.resolvedFields(rawFields, type: config.modelType ?? "") : rawFields
        let file = config.path
        let geometry = config.geometry
        func fail(_ problem: ModelError.Problem) -> ModelError { ModelError(file: file, problem) }
        /// A positive count under one of `keys` in the (resolved) fields, within ModelGeometry's widest bound.
        func integer(_ keys: String...) throws -> Int {
            for key in keys {
                guard let value = fields[key]?.integer else { continue }
                guard (1...ModelGeometry.Field.vocabularySize.bound).contains(value) else {
                    throw fail(.invalidConfig("\(key) \(value) is outside 1…\(ModelGeometry.Field.vocabularySize.bound)"))
                }
                return value
            }
            throw fail(.invalidConfig("\(keys[0]) is missing or not a positive integer"))
        }
        /// The validated geometry; for Gemma, whose classes fill in keys config.json may leave out (and whose
        /// multimodal config nests them in text_config), the resolved fields, bounded by `integer`.
        func optional(_ field: ModelGeometry.Field) throws -> Int? {
            guard isGemma else { return geometry[field] }
            for key in ModelGeometry.configKeys[field] ?? [] where fields[key] != nil && fields[key] != .null { return try integer(key) }
            return nil
        }
        func required(_ field: ModelGeometry.Field) throws -> Int {
            guard let value = try optional(field) else { throw fail(.invalidConfig("\(geometry.key(field)) is missing")) }
            return value
        }
        func number(_ key: String, default value: Double) -> Double { fields[key].flatMap(Self.double) ?? value }
        func flag(_ key: String, default value: Bool) -> Bool { fields[key]?.bool ?? value }

        let type = config.modelType ?? "unknown"
        // A GGUF converted weight-only (GGUFWeightOnly) carries the reason it cannot run.
        if let reason = fields[GGUFWeightOnly.reasonKey]?.string { throw fail(.unsupportedFeature(reason)) }
        guard let family = Self.family(of: type) else {
            let architecture = config.modelType ?? config.architectures.first ?? "without model_type"
            throw fail(.unsupportedArchitecture(architecture))
        }
        modelType = type
        self.family = family
        hiddenSize = try required(.hiddenSize)
        layerCount = try required(.layerCount)
        headCount = try required(.headCount)
        vocabularySize = try required(.vocabularySize)
        // Only the families with grouped key/value heads read num_key_value_heads (transformers' GPT-2,
        // BERT, OPT and GPT-NeoX attend with every head whatever the config says).
        switch family {
        case .falcon: keyValueHeadCount = try Self.falconKeyValueHeads(fields, heads: headCount, file: file)
        case .llama, .phi3, .gemma: keyValueHeadCount = try optional(.keyValueHeadCount) ?? headCount
        case .gpt2, .bert, .opt, .gptNeoX: keyValueHeadCount = headCount
        }
        headSize = try optional(.headSize) ?? hiddenSize / headCount
        guard headCount % keyValueHeadCount == 0, [.llama, .phi3, .gemma].contains(family) || headSize * headCount == hiddenSize else {
            throw fail(.invalidConfig("\(headCount) heads, \(keyValueHeadCount) key/value heads and head size \(headSize) do not fit hidden size \(hiddenSize)"))
        }
        typeVocabularySize = try optional(.typeVocabularySize) ?? 2

        switch family {
        case .llama:
            maxPositions = try required(.maxPositions)
            intermediateSize = try required(.intermediateSize)
            normEpsilon = Float(number("rms_norm_eps", default: 1e-6))
            activation = try Self.activation(fields["hidden_act"]?.string ?? "silu", file: file)
            rotary = try RotaryConfig(fields: fields, headSize: headSize, file: file)
            tiedEmbeddings = flag("tie_word_embeddings", default: false)
            queryKeyValueBias = type == "qwen2" || (type == "qwen2_moe" && flag("qkv_bias", default: true))
                || flag("attention_bias", default: false)
            outputBias = !["qwen2", "qwen2_moe"].contains(type) && flag("attention_bias", default: false)
            mlpBias = flag("mlp_bias", default: false)
            queryKeyNorm = ["qwen3", "qwen3_moe", "olmoe"].contains(type)
            if type == "olmoe" {
                queryKeyNormOverWidth = true
                clipQKV = fields["clip_qkv"].flatMap(Self.double).map(Float.init)
            }
            slidingWindows = try Self.slidingWindows(fields, window: geometry.slidingWindow, type: type, layers: layerCount, file: file)
            attentionScales = Array(repeating: 1 / Float(headSize).squareRoot(), count: layerCount)
            if MixtureOfExperts.modelTypes.contains(type) {
                experts = try MixtureOfExperts(fields: fields, type: type, layers: layerCount, file: file)
            }
        case .gemma:
            maxPositions = try integer("max_position_embeddings")
            intermediateSize = try integer("intermediate_size")
            normEpsilon = Float(number("rms_norm_eps", default: 1e-6))
            activation = try Self.activation(fields[type == "gemma" ? "hidden_act" : "hidden_activation"]?.string ?? "gelu_pytorch_tanh", file: file)
            let gemma = try GemmaSettings(fields: fields, type: type, hiddenSize: hiddenSize, headSize: headSize, layers: layerCount, file: file)
            rotary = gemma.rotaryPerLayer.first
            tiedEmbeddings = flag("tie_word_embeddings", default: true)
            queryKeyValueBias = flag("attention_bias", default: false)
            outputBias = queryKeyValueBias
            mlpBias = false
            queryKeyNorm = gemma.generation == 3
            slidingWindows = try GemmaSettings.slidingWindows(fields, generation: gemma.generation, layers: layerCount, file: file)
            // gemma: head_dim^-0.5; gemma2/3: query_pre_attn_scalar^-0.5 (Python floats, then float32).
            let scalar = gemma.generation == 1 ? Double(headSize) : fields["query_pre_attn_scalar"].flatMap(Self.double) ?? 256
            attentionScales = Array(repeating: Float(pow(scalar, -0.5)), count: layerCount)
            self.gemma = gemma
        case .gpt2:
            maxPositions = try required(.maxPositions)
            intermediateSize = geometry.intermediateSize ?? 4 * hiddenSize
            normEpsilon = Float(number("layer_norm_epsilon", default: 1e-5))
            activation = try Self.activation(fields["activation_function"]?.string ?? "gelu_new", file: file)
            rotary = nil
            tiedEmbeddings = flag("tie_word_embeddings", default: true)
            (queryKeyValueBias, outputBias, mlpBias, queryKeyNorm) = (true, true, true, false)
            slidingWindows = Array(repeating: nil, count: layerCount)
            let scaled = flag("scale_attn_weights", default: true)
            let byLayer = flag("scale_attn_by_inverse_layer_idx", default: false)
            let base: Float = scaled ? 1 / Float(headSize).squareRoot() : 1
            attentionScales = (0..<layerCount).map { layer in base / (byLayer ? Float(layer + 1) : 1) }
        case .bert:
            maxPositions = try required(.maxPositions)
            intermediateSize = try required(.intermediateSize)
            normEpsilon = Float(number("layer_norm_eps", default: 1e-12))
            activation = try Self.activation(fields["hidden_act"]?.string ?? "gelu", file: file)
            rotary = nil
            tiedEmbeddings = false
            (queryKeyValueBias, outputBias, mlpBias, queryKeyNorm) = (true, true, true, false)
            slidingWindows = Array(repeating: nil, count: layerCount)
            attentionScales = Array(repeating: 1 / Float(headSize).squareRoot(), count: layerCount)
            if let kind = fields["position_embedding_type"]?.string, kind != "absolute" {
                throw fail(.unsupportedFeature("position_embedding_type \(kind)"))
            }
            if flag("is_decoder", default: false) { throw fail(.unsupportedFeature("BERT as a decoder (is_decoder)")) }
        case .phi3, .gptNeoX, .opt, .falcon:
            let settings = try DecoderSettings(family, fields: fields, hiddenSize: hiddenSize, headSize: headSize,
                                               layers: layerCount, file: file)
            (maxPositions, intermediateSize, normEpsilon, activation, rotary) =
                (settings.maxPositions, settings.intermediateSize, settings.normEpsilon, settings.activation, settings.rotary)
            (tiedEmbeddings, queryKeyValueBias, outputBias, mlpBias, queryKeyNorm) =
                (settings.tiedEmbeddings, settings.attentionBias, settings.attentionBias, settings.mlpBias, false)
            slidingWindows = Array(repeating: settings.slidingWindow, count: layerCount)
            attentionScales = Array(repeating: 1 / Float(headSize).squareRoot(), count: layerCount)
            layout = settings.layout
        }
        // Every converted Linear reads hidden, intermediate or heads × head size inputs; the exact int8
        // product that calibration and perplexity run is exact in int32 only up to this many.
        let widest = max(hiddenSize, intermediateSize, queryWidth)
        guard widest <= Int(QK_INT8_PRODUCT_MAX_K) else {
            throw fail(.unsupportedFeature("Linear layers with \(widest) inputs (the exact int8 product takes at most \(QK_INT8_PRODUCT_MAX_K))"))
        }
    }

    /// Width of the query projection (heads × head size); the key and value width is `keyValueWidth`.
    public var queryWidth: Int { headCount * headSize }
    public var keyValueWidth: Int { keyValueHeadCount * headSize }

    private static func fields(of config: ModelConfig) throws -> [String: JSONValue] {
        guard let fields = (try? JSONValue.parse(config.rawJSON))?.object else {
            throw ModelError(file: config.path, .invalidConfig("not a JSON object"))
        }
        return fields
    }

    static func double(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let number): return Double(number)
        case .number(let number): return number
        default: return nil
        }
    }

    private static func activation(_ name: String, file: String) throws -> Activation {
        guard let activation = Activation(transformersName: name) else {
            throw ModelError(file: file, .unsupportedFeature("activation \(name)"))
        }
        return activation
    }

    /// transformers: mistral and mixtral slide every layer when `sliding_window` is set; qwen2/qwen3/qwen2_moe
    /// only when `use_sliding_window`, and then the layers `layer_types` marks "sliding_attention" (by default
    /// those from `max_window_layers` on; qwen2_moe: the even layers below it).
    private static func slidingWindows(_ fields: [String: JSONValue], window: Int?, type: String, layers: Int, file: String) throws -> [Int?] {
        switch type {
        case "mistral", "mixtral":
            return Array(repeating: window, count: layers)
        case "qwen3_moe":
            // Qwen3MoeConfig: sliding_window only with use_sliding_window, then on every layer.
            return Array(repeating: fields["use_sliding_window"]?.bool == true ? window : nil, count: layers)
        case "qwen2", "qwen3", "qwen2_moe":
            guard fields["use_sliding_window"]?.bool == true, let window else { return Array(repeating: nil, count: layers) }
            if let types = fields["layer_types"]?.array {
                guard types.count == layers else { throw ModelError(file: file, .invalidConfig("layer_types has \(types.count) entries for \(layers) layers")) }
                return types.map { $0.string == "sliding_attention" ? window : nil }
            }
            let first = fields["max_window_layers"]?.integer ?? 28
            // Qwen2MoeConfig's own default: every other layer below max_window_layers.
            if type == "qwen2_moe" { return (0..<layers).map { $0 % 2 == 0 && $0 < first ? window : nil } }
            return (0..<layers).map { $0 >= first ? window : nil }
        default:
            return Array(repeating: nil, count: layers)
        }
    }
}

/// The nonlinearities the supported models use, under the names transformers' ACT2FN gives them.
public enum Activation: String, Sendable {
    /// x · sigmoid(x) (llama's SwiGLU gate).
    case silu
    /// 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))) — GPT-2's gelu_new, gelu_pytorch_tanh.
    case geluTanh
    /// 0.5x(1 + erf(x/√2)) — BERT's gelu.
    case gelu
    case relu

    init?(transformersName name: String) {
        switch name {
        case "silu", "swish": self = .silu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "gelu": self = .gelu
        case "relu": self = .relu
        default: return nil
        }
    }
}
