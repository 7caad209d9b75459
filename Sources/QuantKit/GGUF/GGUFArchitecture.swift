/// What llama.cpp's convert_hf_to_gguf.py did to one architecture, as a table to undo it: the metadata
/// prefix, the transformers class it came from, the tensor names it renamed, whether it permuted q/k rows
/// for ggml's RoPE, where head_dim is written, and the config.json fields transformers 5.24's GGUF loading
/// adds for that class. Everything else (reading `<name>.*` keys, dequantizing, writing) is shared.
public struct GGUFArchitecture: Sendable {
    /// `general.architecture`, and the prefix of the architecture's metadata keys (`qwen2.block_count`).
    public let name: String
    let modelType: String
    let className: String
    /// llama.cpp name inside `blk.N.` (without `.weight` / `.bias`) → transformers name inside `model.layers.N.`.
    let blockNames: [String: String]
    /// Only LlamaModel (llama, and mistral, which llama.cpp files as llama) permutes q_proj/k_proj rows;
    /// Qwen2Model and Qwen3Model write them as they are, and transformers undoes nothing for them.
    let permutesQueryKeyRows: Bool
    /// Metadata keys (after the prefix) holding head_dim, first present wins; none: hidden / heads, as
    /// llama.cpp and transformers both take it.
    let headDimensionKeys: [String]
    /// The fields of the class's config.json beyond those every architecture here shares (replacing a shared
    /// field of the same key; an empty value removes that field), sorted later.
    let classFields: @Sendable (GGUFModelConfig) -> [(String, String)]
    /// Gemma: convert_hf_to_gguf.py stores every `*norm.weight` as w + 1 (Gemma's RMSNorm scales by 1 + w,
    /// llama.cpp's by w); transformers' Gemma2TensorProcessor subtracts 1 again, in float32.
    var normsStoredPlusOne = false
    /// llama.cpp's top-level names → the class's module names, and the prefix of block N's modules.
    var topNames = GGUFArchitecture.llamaTopNames
    var blockPrefix = "model.layers."

    public static let supported: [GGUFArchitecture] = [.llama, .qwen2, .qwen3, .phi3, .falcon, .gemma2, .gemma3]

    /// The architecture the file names, nil when the runtime has none for it (the file opens weight-only).
    static func of(_ file: GGUFFile) -> GGUFArchitecture? {
        supported.first { $0.name == file["general.architecture"]?.string }
    }

    static let llamaTopNames: [String: String] = [
        "token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head",
    ]

    static let llamaBlockNames: [String: String] = [
        "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
        "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    ]

    public static let llama = GGUFArchitecture(
        name: "llama", modelType: "llama", className: "LlamaForCausalLM", blockNames: llamaBlockNames,
        permutesQueryKeyRows: true, headDimensionKeys: ["attention.key_length", "rope.dimension_count"],
        classFields: { config in
            [("attention_bias", "false"), ("head_dim", "\(config.headDim)"), ("mlp_bias", "false"), ("pretraining_tp", "1")]
        })

    /// q/k/v carry biases (`blk.N.attn_q.bias` → `…q_proj.bias`, same table); no head_dim field.
    public static let qwen2 = GGUFArchitecture(
        name: "qwen2", modelType: "qwen2", className: "Qwen2ForCausalLM", blockNames: llamaBlockNames,
        permutesQueryKeyRows: false, headDimensionKeys: [], classFields: slidingWindowOff)

    /// Adds an RMSNorm per head on q and k. transformers 5.24 does not read qwen3.attention.key_length
    /// (its qwen3 table lacks it) and keeps Qwen3Config's head_dim 128, which every released Qwen3 has;
    /// we take the file's key_length, as llama.cpp does, so the two agree wherever transformers can load
    /// the file at all.
    public static let qwen3 = GGUFArchitecture(
        name: "qwen3", modelType: "qwen3", className: "Qwen3ForCausalLM",
        blockNames: llamaBlockNames.merging(["attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"]) { $1 },
        permutesQueryKeyRows: false, headDimensionKeys: ["attention.key_length"],
        classFields: { config in [("attention_bias", "false"), ("head_dim", "\(config.headDim)")] + slidingWindowOff(config) })

    /// Qwen2Config / Qwen3Config as transformers writes them when the file says nothing about a window
    /// (llama.cpp writes no sliding-window key for these): off, with the class defaults.
    @Sendable static func slidingWindowOff(_ config: GGUFModelConfig) -> [(String, String)] {
        let layerTypes = Array(repeating: "\"full_attention\"", count: config.layerCount).joined(separator: ", ")
        return [("layer_types", "[\(layerTypes)]"), ("max_window_layers", "28"), ("sliding_window", "null"),
                ("use_sliding_window", "false")]
    }

    /// `blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`, `token_embd.weight` →
    /// `model.embed_tokens.weight`; nil for names outside the table (rope_freqs, …).
    /// A file without `output.weight` ties the head to the embedding, as transformers' tie_word_embeddings.
    public func transformersName(_ name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let suffix = parts.last, suffix == "weight" || suffix == "bias" else { return nil }
        if parts.count == 2, let mapped = topNames[parts[0]] { return mapped + "." + suffix }
        guard parts.count == 4, parts[0] == "blk", let block = Int(parts[1]), block >= 0, String(block) == parts[1],
              let mapped = blockNames[parts[2]] else { return nil }
        return "\(blockPrefix)\(block).\(mapped).\(suffix)"
    }
}
