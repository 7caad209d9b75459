import Foundation

/// How a phi3, gpt_neox, opt or falcon block is wired, beyond what `ModelDescription` says for every family.
public enum DecoderLayout: Sendable, Equatable {
    case standard
    /// GPT-NeoX: `use_parallel_residual` — h + attn(ln1(h)) + mlp(ln2(h)) instead of one after the other.
    case gptNeoX(parallelResidual: Bool)
    case opt(OPTLayout)
    case falcon(FalconLayout)
}

public struct OPTLayout: Sendable, Equatable {
    /// `do_layer_norm_before`: pre-LayerNorm blocks (OPT-125m, 1.3b…) or post-LayerNorm ones (OPT-350m).
    public let normBefore: Bool
    /// The decoder's final_layer_norm exists only with pre-LayerNorm blocks (and not `_remove_final_layer_norm`).
    public let finalNorm: Bool
    /// `word_embed_proj_dim`: the embedding (and tied head) width; project_in/project_out map it to the
    /// hidden size when it differs.
    public let embeddingWidth: Int
}

public struct FalconLayout: Sendable, Equatable {
    /// `new_decoder_architecture` (Falcon-40B/180B): grouped q/k/v, the MLP always beside the attention.
    public let newArchitecture: Bool
    /// `parallel_attn`: attention and MLP both read the block input (Falcon-7B) rather than one after the other.
    public let parallelAttention: Bool
    /// `num_ln_in_parallel_attn`: 2 — ln_attn and ln_mlp; 1 — one input_layernorm for both.
    public let parallelNorms: Int
    /// `alibi` (Falcon-RW): ALiBi biases instead of rotary positions.
    public let alibi: Bool
}

/// The config.json fields of the four families, read as their transformers 5.24 config classes read them
/// (defaults included). Their block tensors, layouts and conversions are in the forward passes.
struct DecoderSettings {
    let maxPositions: Int
    let intermediateSize: Int
    let normEpsilon: Float
    let activation: Activation
    let rotary: RotaryConfig?
    let tiedEmbeddings: Bool
    /// Biases on the attention Linears (q/k/v and output) and on the MLP's.
    let attentionBias: Bool
    let mlpBias: Bool
    let slidingWindow: Int?
    let layout: DecoderLayout

    init(_ family: ModelDescription.Family, fields: [String: JSONValue], hiddenSize: Int, headSize: Int, layers: Int, file: String) throws {
        func fail(_ problem: ModelError.Problem) -> ModelError { ModelError(file: file, problem) }
        func integer(_ key: String, default value: Int? = nil) throws -> Int {
            if let number = fields[key]?.integer, number > 0 {
                // Keys outside ModelGeometry's (ffn_dim, original_max_position_embeddings…), bounded alike.
                guard number <= ModelGeometry.Field.vocabularySize.bound else {
                    throw fail(.invalidConfig("\(key) \(number) is outside 1…\(ModelGeometry.Field.vocabularySize.bound)"))
                }
                return number
            }
            guard let value, fields[key] == nil || fields[key] == .null else {
                throw fail(.invalidConfig("\(key) is missing or not a positive integer"))
            }
            return value
        }
        func number(_ key: String, default value: Double) -> Double { fields[key].flatMap(ModelDescription.double) ?? value }
        func flag(_ key: String, default value: Bool) -> Bool { fields[key]?.bool ?? value }
        func readActivation(_ key: String, default name: String) throws -> Activation {
            let name = fields[key]?.string ?? name
            guard let activation = Activation(transformersName: name) else { throw fail(.unsupportedFeature("activation \(name)")) }
            return activation
        }

        maxPositions = try integer("max_position_embeddings")
        slidingWindow = family == .phi3 ? fields["sliding_window"]?.integer : nil
        switch family {
        case .phi3:
            intermediateSize = try integer("intermediate_size")
            normEpsilon = Float(number("rms_norm_eps", default: 1e-5))
            activation = try readActivation("hidden_act", default: "silu")
            // Phi3Config keeps original_max_position_embeddings (default 4096) at the top level and prefers it.
            rotary = try RotaryConfig(fields: Self.phi3RopeAliases(fields), headSize: headSize, file: file, maxPositions: maxPositions,
                                      originalMaxPositions: try integer("original_max_position_embeddings", default: 4096), partialAllowed: true)
            tiedEmbeddings = flag("tie_word_embeddings", default: false)
            (attentionBias, mlpBias, layout) = (false, false, .standard)
        case .gptNeoX:
            intermediateSize = try integer("intermediate_size")
            normEpsilon = Float(number("layer_norm_eps", default: 1e-5))
            activation = try readActivation("hidden_act", default: "gelu")
            rotary = try RotaryConfig(fields: Self.pythiaRopeKeys(fields), headSize: headSize, file: file, maxPositions: maxPositions,
                                      partialAllowed: true)
            tiedEmbeddings = flag("tie_word_embeddings", default: false)
            (attentionBias, mlpBias) = (flag("attention_bias", default: true), true)
            layout = .gptNeoX(parallelResidual: flag("use_parallel_residual", default: true))
        case .opt:
            intermediateSize = try integer("ffn_dim")
            normEpsilon = 1e-5  // nn.LayerNorm's default: OPTDecoderLayer passes no eps
            activation = try readActivation("activation_function", default: "relu")
            rotary = nil
            tiedEmbeddings = flag("tie_word_embeddings", default: true)
            (attentionBias, mlpBias) = (flag("enable_bias", default: true), flag("enable_bias", default: true))
            guard flag("layer_norm_elementwise_affine", default: true) else {
                throw fail(.unsupportedFeature("OPT LayerNorms without weights (layer_norm_elementwise_affine false)"))
            }
            let normBefore = flag("do_layer_norm_before", default: true)
            layout = .opt(OPTLayout(normBefore: normBefore, finalNorm: normBefore && !flag("_remove_final_layer_norm", default: false),
                                    embeddingWidth: try integer("word_embed_proj_dim", default: hiddenSize)))
        case .falcon:
            intermediateSize = try integer("ffn_hidden_size", default: 4 * hiddenSize)
            normEpsilon = Float(number("layer_norm_epsilon", default: 1e-5))
            activation = try readActivation("activation", default: "gelu")
            let alibi = flag("alibi", default: false)
            rotary = alibi ? nil : try RotaryConfig(fields: fields, headSize: headSize, file: file, maxPositions: maxPositions)
            tiedEmbeddings = flag("tie_word_embeddings", default: true)
            (attentionBias, mlpBias) = (flag("bias", default: false), flag("bias", default: false))
            let newArchitecture = flag("new_decoder_architecture", default: false)
            let parallel = flag("parallel_attn", default: true)
            // FalconDecoderLayer sets num_ln_in_parallel_attn to 2 when it is unset and the architecture is new.
            let norms = fields["num_ln_in_parallel_attn"]?.integer ?? (newArchitecture ? 2 : 1)
            guard !newArchitecture || parallel else {
                throw fail(.unsupportedFeature("falcon new_decoder_architecture without parallel_attn (transformers cannot run it either)"))
            }
            layout = .falcon(FalconLayout(newArchitecture: newArchitecture, parallelAttention: parallel, parallelNorms: norms, alibi: alibi))
        case .llama, .gpt2, .bert, .gemma:
            preconditionFailure("\(family) is read by ModelDescription itself")
        }
    }

    /// Phi3Config renames the old rope types "su" and "yarn" to "longrope".
    private static func phi3RopeAliases(_ fields: [String: JSONValue]) -> [String: JSONValue] {
        var fields = fields
        for key in ["rope_parameters", "rope_scaling"] {
            guard var rope = fields[key]?.object else { continue }
            for typeKey in ["rope_type", "type"] where ["su", "yarn"].contains(rope[typeKey]?.string ?? "") {
                rope[typeKey] = .string("longrope")
            }
            fields[key] = .object(rope)
        }
        return fields
    }

    /// GPTNeoXConfig: without rope_parameters, rope_theta comes from `rotary_emb_base` and the rotated
    /// fraction from `rotary_pct`, default 0.25 (Pythia's config.json spells them so).
    private static func pythiaRopeKeys(_ fields: [String: JSONValue]) -> [String: JSONValue] {
        var fields = fields
        let rope = fields["rope_parameters"]?.object ?? fields["rope_scaling"]?.object ?? [:]
        if rope["rope_theta"] == nil, fields["rope_theta"] == nil { fields["rope_theta"] = fields["rotary_emb_base"] ?? .number(10000) }
        if rope["partial_rotary_factor"] == nil, fields["partial_rotary_factor"] == nil {
            fields["partial_rotary_factor"] = fields["rotary_pct"] ?? .number(0.25)
        }
        return fields
    }
}

extension ModelDescription {
    /// FalconAttention: grouped `num_kv_heads` with the new architecture, one shared head with `multi_query`
    /// (the default), otherwise one per query head.
    /// FalconConfig's key/value heads; `num_kv_heads` is outside ModelGeometry's keys, so it is bounded here.
    static func falconKeyValueHeads(_ fields: [String: JSONValue], heads: Int, file: String) throws -> Int {
        guard fields["new_decoder_architecture"]?.bool == true else { return fields["multi_query"]?.bool ?? true ? 1 : heads }
        guard let value = fields["num_kv_heads"] else { return heads }
        guard let count = value.integer, (1...heads).contains(count) else {
            throw ModelError(file: file, .invalidConfig("num_kv_heads \(value) is not a whole number from 1 to num_attention_heads \(heads)"))
        }
        return count
    }
}
