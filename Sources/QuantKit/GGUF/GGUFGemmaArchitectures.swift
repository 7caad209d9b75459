/// Gemma 2 and Gemma 3 as convert_hf_to_gguf.py writes them (Gemma2Model, Gemma3Model) and transformers
/// 5.24 loads them (modeling_gguf_pytorch_utils.py: GGUF_CONFIG_MAPPING["gemma2"/"gemma3"],
/// Gemma2TensorProcessor for both):
/// - names from gguf-py's tensor map: attn_norm → input_layernorm, post_attention_norm →
///   post_attention_layernorm, ffn_norm → pre_feedforward_layernorm, post_ffw_norm →
///   post_feedforward_layernorm, attn_q_norm / attn_k_norm → q_norm / k_norm (gemma3);
/// - every `*norm.weight` stored as w + 1 (`normsStoredPlusOne`); no q/k permutation;
/// - config: the shared keys, head_dim from attention.key_length, sliding_window from
///   attention.sliding_window; nothing else is read, so the class defaults stand — query_pre_attn_scalar
///   256, gemma2's soft caps 50 and 30, gemma3's layer pattern 6 (every sixth layer global), local RoPE
///   base 10000, and no RoPE scaling even when the file names one (llama.cpp's rope.scaling.* keys are
///   not in transformers' table). A gemma3 file holds the text model only: model_type gemma3_text.
extension GGUFArchitecture {
    static let gemmaBlockNames: [String: String] = llamaBlockNames.merging([
        "post_attention_norm": "post_attention_layernorm", "ffn_norm": "pre_feedforward_layernorm",
        "post_ffw_norm": "post_feedforward_layernorm", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
    ]) { $1 }

    public static let gemma2 = GGUFArchitecture(
        name: "gemma2", modelType: "gemma2", className: "Gemma2ForCausalLM", blockNames: gemmaBlockNames,
        permutesQueryKeyRows: false, headDimensionKeys: ["attention.key_length"],
        classFields: { config in
            gemmaFields(config) + [("attn_logit_softcapping", "50.0"), ("final_logit_softcapping", "30.0"),
                                   ("layer_types", layerTypes(config.layerCount) { ($0 + 1) % 2 != 0 }),
                                   ("use_bidirectional_attention", "null")]
        },
        normsStoredPlusOne: true)

    public static let gemma3 = GGUFArchitecture(
        name: "gemma3", modelType: "gemma3_text", className: "Gemma3ForCausalLM", blockNames: gemmaBlockNames,
        permutesQueryKeyRows: false, headDimensionKeys: ["attention.key_length"],
        classFields: { config in
            gemmaFields(config) + [
                ("_sliding_window_pattern", "6"), ("attn_logit_softcapping", "null"), ("final_logit_softcapping", "null"),
                ("layer_types", layerTypes(config.layerCount) { ($0 + 1) % 6 != 0 }),
                ("rope_parameters", "{\"full_attention\": {\"rope_theta\": \(config.ropeTheta), \"rope_type\": \"default\"}, "
                    + "\"sliding_attention\": {\"rope_theta\": 10000.0, \"rope_type\": \"default\"}}"),
                ("use_bidirectional_attention", "false"),
            ]
        },
        normsStoredPlusOne: true)

    /// What Gemma2Config and Gemma3TextConfig share once loaded from a file (they name the activation
    /// hidden_activation and have no hidden_act).
    @Sendable static func gemmaFields(_ config: GGUFModelConfig) -> [(String, String)] {
        [("attention_bias", "false"), ("head_dim", "\(config.headDim)"), ("hidden_act", ""),
         ("hidden_activation", "\"gelu_pytorch_tanh\""), ("query_pre_attn_scalar", "256"),
         ("sliding_window", config.slidingWindow.map(String.init) ?? "4096")]
    }

    static func layerTypes(_ count: Int, sliding: (Int) -> Bool) -> String {
        "[" + (0..<count).map { sliding($0) ? "\"sliding_attention\"" : "\"full_attention\"" }.joined(separator: ", ") + "]"
    }
}
