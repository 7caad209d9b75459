/// Phi-3 (and Phi-4-mini, Phi-3.5-mini) as transformers' Phi3DecoderLayer: the llama block with two fused
/// projections, each one nn.Linear that bitsandbytes converts — and LLM.int8 sees — as a whole:
///
///     h = embed_tokens[token]
///     per block:  n = RMSNorm(h)                          input_layernorm
///                 q | k | v = n·Wqkvᵀ                     qkv_proj: [q heads | kv heads | kv heads], read in place
///                 q, k = rotary (the first partial_rotary_factor of each head; LongRoPE where configured)
///                 h += attention(q, k, v)·Woᵀ              causal, grouped-query, sliding window if set
///                 n = RMSNorm(h)                          post_attention_layernorm
///                 gate | up = n·Wgate_upᵀ                 gate_up_proj: the first half is the gate
///                 h += (up ⊙ silu(gate))·Wdownᵀ
///     logits = RMSNorm(h)·lm_headᵀ
struct Phi3Forward: ForwardPass {
    let description: ModelDescription
    let outputHead: String?

    init(_ description: ModelDescription, checkpoint: Checkpoint) {
        self.description = description
        outputHead = description.tiedEmbeddings ? "model.embed_tokens.weight"
            : checkpoint.tensor(named: "lm_head.weight") != nil ? "lm_head.weight" : nil
    }

    private var fusedWidth: Int { description.queryWidth + 2 * description.keyValueWidth }

    var globalTensors: [TensorSpec] {
        let d = description
        var specs = [TensorSpec(name: "model.embed_tokens.weight", shape: [d.vocabularySize, d.hiddenSize]),
                     TensorSpec(name: "model.norm.weight", shape: [d.hiddenSize])]
        if let outputHead { specs.append(TensorSpec(name: outputHead, shape: [d.vocabularySize, d.hiddenSize])) }
        return specs
    }

    func blockPrefix(_ index: Int) -> String { "model.layers.\(index)." }

    func blockTensors(_ index: Int) -> [TensorSpec] {
        let d = description
        return [TensorSpec(name: "input_layernorm.weight", shape: [d.hiddenSize]),
                TensorSpec(name: "self_attn.qkv_proj.weight", shape: [fusedWidth, d.hiddenSize]),
                TensorSpec(name: "self_attn.o_proj.weight", shape: [d.hiddenSize, d.queryWidth]),
                TensorSpec(name: "post_attention_layernorm.weight", shape: [d.hiddenSize]),
                TensorSpec(name: "mlp.gate_up_proj.weight", shape: [2 * d.intermediateSize, d.hiddenSize]),
                TensorSpec(name: "mlp.down_proj.weight", shape: [d.hiddenSize, d.intermediateSize])]
    }

    func embed(_ tokens: [Int], chunks: [Range<Int>], into hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let table = run.tensor("model.embed_tokens.weight")
        run.embed(tokens, table: table, width: description.hiddenSize, into: hidden)
    }

    func block(_ index: Int, weights: BlockWeights, chunk: Range<Int>, hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let d = description, rows = chunk.count, width = d.hiddenSize, inner = d.intermediateSize
        let h = hidden + chunk.lowerBound * width
        let module = blockPrefix(index)
        let observe = BlockObserver(run: run, module: module, block: index, chunk: chunk)
        let linear = BlockLinears(weights: weights, observe: observe)

        let normed = run.scratch("normed", count: rows * width)
        Normalization.rms(h, into: normed, rows: rows, width: width, weight: weights["input_layernorm.weight"].pointer, epsilon: d.normEpsilon)
        let fused = run.scratch("qkv", count: rows * fusedWidth)
        try linear("self_attn.qkv_proj", normed, into: fused)
        let key = fused + d.queryWidth, value = key + d.keyValueWidth
        if let rotary = run.rotary {
            rotary.apply(fused, rows: rows, stride: fusedWidth, heads: d.headCount)
            rotary.apply(key, rows: rows, stride: fusedWidth, heads: d.keyValueHeadCount)
        }
        let attended = run.scratch("attended", count: rows * d.queryWidth)
        let attention = Attention(d, block: index, causal: true, window: d.slidingWindows[index])
        attention.run(query: .init(values: fused, stride: fusedWidth), key: .init(values: key, stride: fusedWidth),
                      value: .init(values: value, stride: fusedWidth), rows: rows, output: attended, outputStride: d.queryWidth,
                      in: run)
        try linear("self_attn.o_proj", attended, into: h, accumulate: true)

        Normalization.rms(h, into: normed, rows: rows, width: width, weight: weights["post_attention_layernorm.weight"].pointer, epsilon: d.normEpsilon)
        let gateUp = run.scratch("gate_up", count: rows * 2 * inner)
        try linear("mlp.gate_up_proj", normed, into: gateUp)
        // The halves go to packed buffers: down_proj's input must be packed rows for the observer, and the
        // gated product then runs over all rows at once, on all cores.
        let gated = run.scratch("gated", count: rows * inner), up = run.scratch("up", count: rows * inner)
        for row in 0..<rows {
            (gated + row * inner).update(from: gateUp + row * 2 * inner, count: inner)
            (up + row * inner).update(from: gateUp + row * 2 * inner + inner, count: inner)
        }
        d.activation.applyGated(gated, times: up, count: rows * inner)
        try linear("mlp.down_proj", gated, into: h, accumulate: true)
    }

    func finish(chunks: [Range<Int>], hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let norm = run.load("model.norm.weight")
        Normalization.rms(hidden, into: hidden, rows: chunks.last?.upperBound ?? 0, width: description.hiddenSize,
                          weight: norm.pointer, epsilon: description.normEpsilon)
    }
}
