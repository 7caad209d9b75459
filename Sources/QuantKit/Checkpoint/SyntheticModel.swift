import Foundation

/// A deterministic llama-style checkpoint for demos, tests and benchmarks when no real model is at
/// hand. Weights are small normal-ish values; a few hidden dimensions get large RMSNorm gains, the way
/// large language models grow outlier features, so activations entering the attention and MLP
/// projections carry columns far above the LLM.int8 threshold of 6.
public struct SyntheticModel: Sendable {
    public var hiddenSize = 256
    public var intermediateSize = 688
    public var layers = 4
    public var heads = 8
    public var keyValueHeads = 4
    public var vocabularySize = 2048
    /// Hidden dimensions whose norm gains are large.
    public var outlierDimensions = [7, 61, 190]
    public var outlierGain: Float = 24
    public var seed: UInt64 = 20_240_601

    public init() {}

    /// The small model the calibration fixtures were made with (`qtui synthesize --layers 2 --hidden 64`):
    /// two blocks, hidden 64, outlier dimensions 7, 61 and 62.
    public static var calibrationFixture: SyntheticModel {
        var model = SyntheticModel()
        model.layers = 2
        model.hiddenSize = 64
        model.intermediateSize = 176
        model.outlierDimensions = [7, 61, 62]
        return model
    }

    public var parameterCount: Int {
        let attention = hiddenSize * hiddenSize * 2 + 2 * hiddenSize * (hiddenSize / heads * keyValueHeads)
        let mlp = 3 * hiddenSize * intermediateSize
        return 2 * vocabularySize * hiddenSize + layers * (attention + mlp + 2 * hiddenSize) + hiddenSize
    }

    /// Writes model.safetensors (F16) and config.json into `folder`, creating it.
    public func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var random = SplitMix64(seed: seed)
        var writer = SafetensorsWriter()
        let headSize = hiddenSize / heads
        func matrix(_ name: String, _ rows: Int, _ columns: Int) {
            let scale = 1 / Float(columns).squareRoot()
            writer.add(name, float16: random.normals(rows * columns, scale: scale), shape: [rows, columns])
        }
        func norm(_ name: String) {
            var gains = [Float](repeating: 1, count: hiddenSize)
            for dimension in outlierDimensions where dimension < hiddenSize { gains[dimension] = outlierGain }
            writer.add(name, float16: gains, shape: [hiddenSize])
        }
        matrix("model.embed_tokens.weight", vocabularySize, hiddenSize)
        for layer in 0..<layers {
            let prefix = "model.layers.\(layer)."
            norm(prefix + "input_layernorm.weight")
            matrix(prefix + "self_attn.q_proj.weight", hiddenSize, hiddenSize)
            matrix(prefix + "self_attn.k_proj.weight", keyValueHeads * headSize, hiddenSize)
            matrix(prefix + "self_attn.v_proj.weight", keyValueHeads * headSize, hiddenSize)
            matrix(prefix + "self_attn.o_proj.weight", hiddenSize, hiddenSize)
            norm(prefix + "post_attention_layernorm.weight")
            matrix(prefix + "mlp.gate_proj.weight", intermediateSize, hiddenSize)
            matrix(prefix + "mlp.up_proj.weight", intermediateSize, hiddenSize)
            matrix(prefix + "mlp.down_proj.weight", hiddenSize, intermediateSize)
        }
        writer.add("model.norm.weight", float16: [Float](repeating: 1, count: hiddenSize), shape: [hiddenSize])
        matrix("lm_head.weight", vocabularySize, hiddenSize)
        try writer.write(to: (folder as NSString).appendingPathComponent("model.safetensors"))
        try configJSON().write(toFile: (folder as NSString).appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    }

    func configJSON() -> String {
        """
        {
          "architectures": ["LlamaForCausalLM"],
          "model_type": "llama",
          "hidden_size": \(hiddenSize),
          "intermediate_size": \(intermediateSize),
          "num_hidden_layers": \(layers),
          "num_attention_heads": \(heads),
          "num_key_value_heads": \(keyValueHeads),
          "vocab_size": \(vocabularySize),
          "max_position_embeddings": 2048,
          "rms_norm_eps": 1e-05,
          "rope_theta": 10000.0,
          "hidden_act": "silu",
          "tie_word_embeddings": false,
          "dtype": "float16",
          "qtui_synthetic": true
        }

        """
    }
}

/// SplitMix64: tiny, fast, and the same sequence on every machine.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits.
    mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }

    /// Approximately normal values (Irwin–Hall of four uniforms), standard deviation `scale`.
    mutating func normals(_ count: Int, scale: Float) -> [Float] {
        (0..<count).map { _ in (unit() + unit() + unit() + unit() - 2) * 1.7320508 * scale }
    }
}
