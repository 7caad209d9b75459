/// The two issue-15 families transformers 5.24 loads from GGUF (integrations/ggml.py has phi3 and falcon
/// tables; it reads nothing else of gpt_neox or opt files).
extension GGUFArchitecture {
    /// convert_hf_to_gguf.py's Phi3MiniModel keeps the fused projections: `attn_qkv` is qkv_proj and
    /// `ffn_up` is gate_up_proj (gate rows first), both written as they are; no q/k permutation. transformers
    /// reads no rope scaling, partial rotary factor or sliding window from the file: the config is
    /// Phi3Config's defaults around the shared keys (default rope over whole heads, full attention,
    /// original_max_position_embeddings 4096) — LongRoPE files load as plain RoPE, as in transformers.
    /// rope_factors_long/short tensors are not part of the model and are left out.
    public static let phi3 = GGUFArchitecture(
        name: "phi3", modelType: "phi3", className: "Phi3ForCausalLM",
        blockNames: ["attn_qkv": "self_attn.qkv_proj", "attn_output": "self_attn.o_proj",
                     "ffn_up": "mlp.gate_up_proj", "ffn_down": "mlp.down_proj",
                     "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"],
        permutesQueryKeyRows: false, headDimensionKeys: [],
        classFields: { config in
            [("embd_pdrop", "0.0"), ("original_max_position_embeddings", "4096"), ("resid_pdrop", "0.0"),
             ("rope_parameters", "{\"partial_rotary_factor\": 1.0, \"rope_theta\": \(config.ropeTheta), \"rope_type\": \"default\"}"),
             ("sliding_window", "null")]
        })

    /// FalconModel's files: `attn_qkv` in llama.cpp's "jploski" layout (all q heads, then k, then v), which
    /// transformers reads as stored — the same bytes as Falcon-7B's multi-query layout, the one FalconConfig's
    /// defaults (multi_query, parallel_attn, one LayerNorm, no biases) describe; transformers reads neither
    /// new_decoder_architecture nor the norm epsilon from the file, and always ties the head. Grouped files
    /// (Falcon-40B/180B, head_count_kv > 1) then do not fit the model transformers builds: their
    /// query_key_value has another shape, and the runtime says so when it opens the converted folder.
    /// `attn_norm_2` (ln_mlp) has no module in that model and is left out, as transformers leaves it.
    public static let falcon = GGUFArchitecture(
        name: "falcon", modelType: "falcon", className: "FalconForCausalLM",
        blockNames: ["attn_qkv": "self_attention.query_key_value", "attn_output": "self_attention.dense",
                     "ffn_up": "mlp.dense_h_to_4h", "ffn_down": "mlp.dense_4h_to_h", "attn_norm": "input_layernorm"],
        permutesQueryKeyRows: false, headDimensionKeys: [],
        classFields: { config in
            [("activation", "\"gelu\""), ("alibi", "false"), ("bias", "false"), ("ffn_hidden_size", "\(4 * config.hiddenSize)"),
             ("hidden_dropout", "0.0"), ("layer_norm_epsilon", "1e-05"), ("multi_query", "true"),
             ("new_decoder_architecture", "false"), ("num_kv_heads", "\(config.headCount)"), ("num_ln_in_parallel_attn", "null"),
             ("pad_token_id", "null"), ("parallel_attn", "true"), ("tie_word_embeddings", "true"),
             // FalconConfig has neither (an empty value removes the shared field).
             ("hidden_act", ""), ("rms_norm_eps", "")]
        },
        topNames: ["token_embd": "transformer.word_embeddings", "output_norm": "transformer.ln_f", "output": "lm_head"],
        blockPrefix: "transformer.h.")
}
