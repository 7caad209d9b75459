/// Gemma 1/2/3, as transformers' GemmaDecoderLayer, Gemma2DecoderLayer and Gemma3DecoderLayer; every
/// norm is Gemma's RMSNorm, x / √(mean(x²) + ε) · (1 + w):
///
///     h = embed_tokens[token] · √hidden
///     per block:  n = norm(h)                                   input_layernorm
///                 q, k, v = n·Wqᵀ, n·Wkᵀ, n·Wvᵀ                  (+b with attention_bias)
///                 q, k = norm per head (gemma3 q_norm / k_norm), then rotary positions (gemma3: the
///                        layer type's own base: sliding layers use rope_local_base_freq)
///                 a = attention(q, k, v)·Woᵀ                    scale query_pre_attn_scalar^-½ (gemma2/3),
///                                                               soft-capped scores (gemma2), a window on
///                                                               sliding layers (gemma2/3)
///       gemma:    h += a;  h += MLP(norm(h))                    post_attention_layernorm before the MLP
///       gemma2/3: h += norm(a)                                  post_attention_layernorm on the output
///                 h += norm(MLP(norm(h)))                       pre_ / post_feedforward_layernorm
///     MLP(x) = (gelu_tanh(x·Wgateᵀ) ⊙ x·Wupᵀ)·Wdownᵀ
///     logits = norm(h)·Eᵀ, soft-capped (gemma2, gemma3_text)    E = embed_tokens when tied
///
/// Gemma3ForConditionalGeneration checkpoints hold the text model under `language_model.model.` (as
/// save_pretrained writes and the Hub has them) or `model.language_model.` (transformers' module names);
/// their vision tower is listed and analysed as weights, never run.
struct GemmaForward: ForwardPass {
    let description: ModelDescription
    let settings: GemmaSettings
    /// Where the text model's tensors start: `model.`, `language_model.model.`, `model.language_model.` or empty.
    let prefix: String
    let outputHead: String?

    static let prefixes = ["model.", "language_model.model.", "model.language_model.", ""]

    init(_ description: ModelDescription, checkpoint: Checkpoint) {
        guard let settings = description.gemma else { preconditionFailure("GemmaForward needs a gemma description") }
        self.description = description
        self.settings = settings
        prefix = Self.prefixes.first { checkpoint.tensor(named: $0 + "embed_tokens.weight") != nil } ?? "model."
        if description.tiedEmbeddings { outputHead = prefix + "embed_tokens.weight" }
        else { outputHead = ["lm_head.weight", "language_model.lm_head.weight"].first { checkpoint.tensor(named: $0) != nil } }
    }

    var globalTensors: [TensorSpec] {
        let d = description
        var specs = [TensorSpec(name: prefix + "embed_tokens.weight", shape: [d.vocabularySize, d.hiddenSize]),
                     TensorSpec(name: prefix + "norm.weight", shape: [d.hiddenSize])]
        if let outputHead { specs.append(TensorSpec(name: outputHead, shape: [d.vocabularySize, d.hiddenSize])) }
        return specs
    }

    func blockPrefix(_ index: Int) -> String { prefix + "layers.\(index)." }

    func blockTensors(_ index: Int) -> [TensorSpec] {
        let d = description
        var specs: [TensorSpec] = []
        func linear(_ name: String, _ out: Int, _ input: Int, bias: Bool) {
            specs.append(TensorSpec(name: name + ".weight", shape: [out, input]))
            if bias { specs.append(TensorSpec(name: name + ".bias", shape: [out])) }
        }
        func norm(_ name: String, _ width: Int) { specs.append(TensorSpec(name: name + ".weight", shape: [width])) }
        norm("input_layernorm", d.hiddenSize)
        linear("self_attn.q_proj", d.queryWidth, d.hiddenSize, bias: d.queryKeyValueBias)
        linear("self_attn.k_proj", d.keyValueWidth, d.hiddenSize, bias: d.queryKeyValueBias)
        linear("self_attn.v_proj", d.keyValueWidth, d.hiddenSize, bias: d.queryKeyValueBias)
        linear("self_attn.o_proj", d.hiddenSize, d.queryWidth, bias: d.outputBias)
        if d.queryKeyNorm {
            norm("self_attn.q_norm", d.headSize)
            norm("self_attn.k_norm", d.headSize)
        }
        norm("post_attention_layernorm", d.hiddenSize)
        if settings.sandwichNorms {
            norm("pre_feedforward_layernorm", d.hiddenSize)
            norm("post_feedforward_layernorm", d.hiddenSize)
        }
        linear("mlp.gate_proj", d.intermediateSize, d.hiddenSize, bias: false)
        linear("mlp.up_proj", d.intermediateSize, d.hiddenSize, bias: false)
        linear("mlp.down_proj", d.hiddenSize, d.intermediateSize, bias: false)
        return specs
    }

    func embed(_ tokens: [Int], chunks: [Range<Int>], into hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let table = run.tensor(prefix + "embed_tokens.weight")
        let width = description.hiddenSize, scale = settings.embeddingScale
        for (row, token) in tokens.enumerated() {
            let destination = hidden + row * width
            run.embeddingRow(table, row: token, into: destination)
            for i in 0..<width { destination[i] *= scale }
        }
    }

    /// Gemma's RMSNorm of `rows` rows of `width`: the stored weight w is used as 1 + w, made in a scratch
    /// buffer named after the tensor (float32, as transformers' `1.0 + self.weight.float()`).
    private func norm(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, rows: Int, width: Int,
                      weight: WeightBuffer, run: RunContext) {
        let gain = run.scratch("gain:" + weight.name, count: width)
        for i in 0..<width { gain[i] = 1 + weight.pointer[i] }
        Normalization.rms(input, into: output, rows: rows, width: width, weight: gain, epsilon: description.normEpsilon)
    }

    func block(_ index: Int, weights: BlockWeights, chunk: Range<Int>, hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let d = description, rows = chunk.count, width = d.hiddenSize
        let h = hidden + chunk.lowerBound * width
        let module = blockPrefix(index)
        let observe = BlockObserver(run: run, module: module, block: index, chunk: chunk)
        let linear = BlockLinears(weights: weights, observe: observe)
        func norm(_ name: String, _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
            self.norm(input, into: output, rows: rows, width: width, weight: weights[name + ".weight"], run: run)
        }

        let normed = run.scratch("normed", count: rows * width)
        norm("input_layernorm", h, into: normed, rows: rows, width: width)
        let query = run.scratch("query", count: rows * d.queryWidth)
        let key = run.scratch("key", count: rows * d.keyValueWidth)
        let value = run.scratch("value", count: rows * d.keyValueWidth)
        for (name, output) in [("self_attn.q_proj", query), ("self_attn.k_proj", key), ("self_attn.v_proj", value)] {
            try linear(name, normed, into: output)
        }
        if d.queryKeyNorm {
            norm("self_attn.q_norm", query, into: query, rows: rows * d.headCount, width: d.headSize)
            norm("self_attn.k_norm", key, into: key, rows: rows * d.keyValueHeadCount, width: d.headSize)
        }
        let rotary = run.rotaryTable(settings.rotaryPerLayer[index])
        rotary.apply(query, rows: rows, stride: d.queryWidth, heads: d.headCount)
        rotary.apply(key, rows: rows, stride: d.keyValueWidth, heads: d.keyValueHeadCount)
        let attended = run.scratch("attended", count: rows * d.queryWidth)
        var attention = Attention(d, block: index, causal: true, window: d.slidingWindows[index])
        attention.softcap = settings.attentionSoftcap
        attention.run(query: .init(values: query, stride: d.queryWidth), key: .init(values: key, stride: d.keyValueWidth),
                      value: .init(values: value, stride: d.keyValueWidth), rows: rows, output: attended, outputStride: d.queryWidth,
                      in: run)
        try observe("self_attn.o_proj", attended, columns: d.queryWidth)
        if settings.sandwichNorms {
            let output = run.scratch("block-output", count: rows * width)
            weights.linear("self_attn.o_proj").apply(attended, rows: rows, into: output)
            norm("post_attention_layernorm", output, into: output, rows: rows, width: width)
            for i in 0..<rows * width { h[i] += output[i] }
            norm("pre_feedforward_layernorm", h, into: normed, rows: rows, width: width)
        } else {
            weights.linear("self_attn.o_proj").apply(attended, rows: rows, into: h, accumulate: true)
            norm("post_attention_layernorm", h, into: normed, rows: rows, width: width)
        }

        let gate = run.scratch("gate", count: rows * d.intermediateSize)
        let up = run.scratch("up", count: rows * d.intermediateSize)
        try linear("mlp.gate_proj", normed, into: gate)
        try linear("mlp.up_proj", normed, into: up)
        d.activation.applyGated(gate, times: up, count: rows * d.intermediateSize)
        try observe("mlp.down_proj", gate, columns: d.intermediateSize)
        if settings.sandwichNorms {
            let output = run.scratch("block-output", count: rows * width)
            weights.linear("mlp.down_proj").apply(gate, rows: rows, into: output)
            norm("post_feedforward_layernorm", output, into: output, rows: rows, width: width)
            for i in 0..<rows * width { h[i] += output[i] }
        } else {
            weights.linear("mlp.down_proj").apply(gate, rows: rows, into: h, accumulate: true)
        }
    }

    func finish(chunks: [Range<Int>], hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let weight = run.load(prefix + "norm.weight")
        norm(hidden, into: hidden, rows: chunks.last?.upperBound ?? 0, width: description.hiddenSize, weight: weight, run: run)
    }
}
