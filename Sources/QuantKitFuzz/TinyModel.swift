import Foundation
import QuantKit

/// A llama-family checkpoint small enough to run thousands of times a second, with every geometric
/// choice taken from fuzz input but always one transformers would accept: heads × head size need
/// not equal hidden (explicit head_dim), key/value heads divide heads, head size is even (RoPE
/// rotates pairs). Positions may be fewer than the tokens, so the runtime's chunking is exercised.
struct TinyModel {
    /// The input as a stream of small numbers; zeros once it runs out.
    struct Bytes {
        private var data: [UInt8]
        private var position = 0

        init(_ data: Data) { self.data = Array(data) }

        mutating func next() -> Int {
            defer { position += 1 }
            return position < data.count ? Int(data[position]) : 0
        }
    }

    let modelType: String
    let hidden: Int
    let heads: Int
    let keyValueHeads: Int
    let headSize: Int
    let intermediate: Int
    let layers: Int
    let vocabulary: Int
    let positions: Int
    let tied: Bool
    let attentionBias: Bool
    let mlpBias: Bool
    let slidingWindow: Int
    let seed: Int

    init(_ bytes: inout Bytes) {
        modelType = bytes.next() % 2 == 0 ? "llama" : "mistral"
        keyValueHeads = 1 + bytes.next() % 3
        heads = keyValueHeads * (1 + bytes.next() % 3)
        headSize = 2 * (1 + bytes.next() % 4)
        hidden = 1 + bytes.next() % 24
        intermediate = 1 + bytes.next() % 24
        layers = 1 + bytes.next() % 3
        vocabulary = 1 + bytes.next() % 40
        positions = 1 + bytes.next() % 32
        let flags = bytes.next()
        (tied, attentionBias, mlpBias) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0)
        slidingWindow = 1 + bytes.next() % 8
        seed = bytes.next()
    }

    func write(to folder: String) throws {
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var writer = SafetensorsWriter()
        var state = UInt32(truncatingIfNeeded: seed * 2_654_435_761 + 1)
        func tensor(_ name: String, _ shape: [Int]) {
            let values = (0..<shape.reduce(1, *)).map { _ -> Float in
                state = state &* 1_103_515_245 &+ 12_345
                return (Float(state >> 8) / Float(1 << 24) - 0.5) * 0.5
            }
            writer.add(name, float16: values, shape: shape)
        }
        let (q, kv) = (heads * headSize, keyValueHeads * headSize)
        tensor("model.embed_tokens.weight", [vocabulary, hidden])
        for layer in 0..<layers {
            let prefix = "model.layers.\(layer)."
            tensor(prefix + "input_layernorm.weight", [hidden])
            for (name, rows, columns) in [("q", q, hidden), ("k", kv, hidden), ("v", kv, hidden), ("o", hidden, q)] {
                tensor(prefix + "self_attn.\(name)_proj.weight", [rows, columns])
                if attentionBias { tensor(prefix + "self_attn.\(name)_proj.bias", [rows]) }
            }
            tensor(prefix + "post_attention_layernorm.weight", [hidden])
            for (name, rows, columns) in [("gate", intermediate, hidden), ("up", intermediate, hidden), ("down", hidden, intermediate)] {
                tensor(prefix + "mlp.\(name)_proj.weight", [rows, columns])
                if mlpBias { tensor(prefix + "mlp.\(name)_proj.bias", [rows]) }
            }
        }
        tensor("model.norm.weight", [hidden])
        if !tied { tensor("lm_head.weight", [vocabulary, hidden]) }
        try writer.write(to: folder + "/model.safetensors")
        try configJSON.write(toFile: folder + "/config.json", atomically: false, encoding: .utf8)
    }

    var configJSON: String {
        """
        {"model_type": "\(modelType)", "hidden_size": \(hidden), "intermediate_size": \(intermediate),
         "num_hidden_layers": \(layers), "num_attention_heads": \(heads), "num_key_value_heads": \(keyValueHeads),
         "head_dim": \(headSize), "vocab_size": \(vocabulary), "max_position_embeddings": \(positions),
         "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": \(tied),
         "attention_bias": \(attentionBias), "mlp_bias": \(mlpBias),
         "sliding_window": \(modelType == "mistral" ? String(slidingWindow) : "null")}
        """
    }
}
