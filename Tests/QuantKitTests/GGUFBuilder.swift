import Foundation

/// Writes small GGUF v3 files for tests, every field as the caller gives it (absurd values included):
///
///     |"GGUF"|u32 3|u64 n_tensors|u64 n_kv|kv…|tensor infos…|pad to 32|data…|
///     kv = |u64 len|key|u32 type|value|; info = |u64 len|name|u32 n_dims|u64 ne[n_dims]|u32 type|u64 offset|
struct GGUFBuilder {
    enum Value {
        case uint32(UInt32), int32(Int32), float32(Float), string(String), strings([String]), floats([Float])
    }

    private var entries: [(String, Value)] = []
    private var tensors: [(name: String, ne: [UInt64], data: [Float])] = []

    /// A llama model that converts: hidden 8, 2 heads of 4, ffn 16, one block, and a SentencePiece
    /// vocabulary of `tokens` (scores descending). `override` replaces or adds metadata.
    static func llama(tokens: [String] = ["<unk>", "<s>", "</s>", "▁", "a", "b"], override: [String: Value] = [:]) -> GGUFBuilder {
        var builder = GGUFBuilder()
        var metadata: [String: Value] = [
            "general.architecture": .string("llama"), "llama.block_count": .uint32(1), "llama.context_length": .uint32(64),
            "llama.embedding_length": .uint32(8), "llama.feed_forward_length": .uint32(16),
            "llama.attention.head_count": .uint32(2), "llama.attention.head_count_kv": .uint32(2),
            "tokenizer.ggml.model": .string("llama"), "tokenizer.ggml.tokens": .strings(tokens),
            "tokenizer.ggml.scores": .floats(tokens.indices.map { -Float($0) }),
        ]
        metadata.merge(override) { $1 }
        for key in metadata.keys.sorted() { builder.entries.append((key, metadata[key]!)) }
        let vocabulary = UInt64(tokens.count)
        builder.tensor("token_embd.weight", [8, vocabulary])
        for name in ["attn_q", "attn_k", "attn_v", "attn_output"] { builder.tensor("blk.0.\(name).weight", [8, 8]) }
        builder.tensor("blk.0.ffn_gate.weight", [8, 16])
        builder.tensor("blk.0.ffn_up.weight", [8, 16])
        builder.tensor("blk.0.ffn_down.weight", [16, 8])
        for name in ["blk.0.attn_norm", "blk.0.ffn_norm", "output_norm"] { builder.tensor(name + ".weight", [8]) }
        return builder
    }

    /// Adds an F32 tensor with GGML dimensions `ne` (innermost first). Data for at most 4096 elements
    /// is written (an absurd shape gets none, so the file's byte ranges decide).
    mutating func tensor(_ name: String, _ ne: [UInt64]) {
        tensors.removeAll { $0.name == name }
        let (count, overflow) = ne.reduce((UInt64(1), false)) { partial, dimension in
            let product = partial.0.multipliedReportingOverflow(by: dimension)
            return (product.partialValue, partial.1 || product.overflow)
        }
        let data = !overflow && count <= 4096 ? (0..<Int(count)).map { Float($0 % 7) * 0.01 } : []
        tensors.append((name, ne, data))
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out += Array(s.utf8) }
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(entries.count))
        for (key, value) in entries {
            string(key)
            switch value {
            case .uint32(let v): u32(4); u32(v)
            case .int32(let v): u32(5); u32(UInt32(bitPattern: v))
            case .float32(let v): u32(6); u32(v.bitPattern)
            case .string(let v): u32(8); string(v)
            case .strings(let items): u32(9); u32(8); u64(UInt64(items.count)); items.forEach(string)
            case .floats(let items): u32(9); u32(6); u64(UInt64(items.count)); items.forEach { u32($0.bitPattern) }
            }
        }
        var offset: UInt64 = 0
        for tensor in tensors {
            string(tensor.name)
            u32(UInt32(tensor.ne.count))
            tensor.ne.forEach(u64)
            u32(0)
            u64(offset)
            offset += UInt64(tensor.data.count * 4 + 31) / 32 * 32
        }
        while out.count % 32 != 0 { out.append(0) }
        for tensor in tensors {
            for value in tensor.data { u32(value.bitPattern) }
            while out.count % 32 != 0 { out.append(0) }
        }
        return out
    }
}
