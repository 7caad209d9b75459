/// The Q/K row order llama.cpp's convert_hf_to_gguf.py writes for architectures whose converter permutes
/// (GGUFArchitecture.permutesQueryKeyRows: LlamaModel), undone — a whole tensor at once: the plain
/// reference that GGUFTransform.sourceRow (the row map readers decode through) is tested against.
public enum GGUFRoPEPermutation {
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
    public static func unpermuteRows(_ values: [Float], rows: Int, columns: Int, heads: Int) -> [Float] {
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
