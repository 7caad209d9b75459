/// What llama.cpp's convert_hf_to_gguf.py does to a llama-family checkpoint, undone: tensor names back
/// to transformers' names, and Q/K rows back to transformers' RoPE layout.
public enum GGUFLlama {
    /// llama.cpp name (without `.weight` / `.bias`) → transformers name; `N` is the block number.
    static let blockNames: [String: String] = [
        "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
        "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    ]
    static let topNames: [String: String] = [
        "token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head",
    ]

    /// `blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`, `token_embd.weight` →
    /// `model.embed_tokens.weight`; nil for names outside the llama family's table (rope_freqs, …).
    /// A file without `output.weight` ties the head to the embedding, as transformers' tie_word_embeddings.
    public static func transformersName(_ name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let suffix = parts.last, suffix == "weight" || suffix == "bias" else { return nil }
        if parts.count == 2, let mapped = topNames[parts[0]] { return mapped + "." + suffix }
        guard parts.count == 4, parts[0] == "blk", let block = Int(parts[1]), block >= 0, String(block) == parts[1],
              let mapped = blockNames[parts[2]] else { return nil }
        return "model.layers.\(block).\(mapped).\(suffix)"
    }

    /// Undoes the row permutation convert_hf_to_gguf.py applies to q_proj (heads = n_head) and k_proj
    /// (heads = n_head_kv) so that ggml's RoPE, which rotates adjacent pairs, matches transformers'
    /// rotate_half, which rotates the two halves of each head:
    ///
    ///     LlamaModel.permute(w, n_head, n_head_kv):
    ///         w.reshape(heads, 2, rows / heads / 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    ///     i.e. with head_dim = rows / heads, half = head_dim / 2, h < heads, i ∈ {0, 1}, j < half:
    ///         gguf row  h·head_dim + 2j + i  =  transformers row  h·head_dim + i·half + j
    ///
    /// `values` is the dequantized weight in PyTorch order [rows, columns] (rows = heads · head_dim).
    public static func unpermuteRoPERows(_ values: [Float], rows: Int, columns: Int, heads: Int) -> [Float] {
        precondition(heads > 0 && rows % (2 * heads) == 0 && values.count == rows * columns,
                     "rows must be heads × an even head_dim")
        let headDim = rows / heads, half = headDim / 2
        var result = [Float](repeating: 0, count: values.count)
        for h in 0..<heads {
            for i in 0..<2 {
                for j in 0..<half {
                    let source = (h * headDim + 2 * j + i) * columns
                    let target = (h * headDim + i * half + j) * columns
                    result[target..<(target + columns)] = values[source..<(source + columns)]
                }
            }
        }
        return result
    }
}
