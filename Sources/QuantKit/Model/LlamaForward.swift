/// The llama family (llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, qwen3_moe, olmoe), as transformers' LlamaDecoderLayer and friends:
///
///     h = embed_tokens[token]
///     per block:  n = RMSNorm(h)                    input_layernorm
///                 q, k, v = n·Wqᵀ (+b), n·Wkᵀ (+b), n·Wvᵀ (+b)      (+b: qwen2, attention_bias)
///                 q, k = RMSNorm per head (qwen3 q_norm / k_norm; olmoe: over the whole q, k), then
///                 q, k, v clamped to ±clip_qkv (olmoe, when set), then rotary positions
///                 h += attention(q, k, v)·Woᵀ          causal, grouped-query, sliding window if set
///                 n = RMSNorm(h)                    post_attention_layernorm
///                 h += (act(n·Wgateᵀ) ⊙ n·Wupᵀ)·Wdownᵀ     or, in an MoE block, the routed experts
///                                                   (RoutedFeedForward.swift)
///     logits = RMSNorm(h)·Eᵀ                        E = lm_head, or embed_tokens when tied
struct LlamaForward: ForwardPass {
    let description: ModelDescription
    /// `model.` for *ForCausalLM checkpoints, empty for a bare base model.
    let prefix: String
    let outputHead: String?

    init(_ description: ModelDescription, checkpoint: Checkpoint) {
        self.description = description
        prefix = checkpoint.tensor(named: "embed_tokens.weight") != nil && checkpoint.tensor(named: "model.embed_tokens.weight") == nil ? "" : "model."
        let embedding = prefix + "embed_tokens.weight"
        if description.tiedEmbeddings { outputHead = embedding }
        else { outputHead = checkpoint.tensor(named: "lm_head.weight") != nil ? "lm_head.weight" : nil }
    }

    var globalTensors: [TensorSpec] {
        let d = description
        var specs = [TensorSpec(name: prefix + "embed_tokens.weight", shape: [d.vocabularySize, d.hiddenSize]),
                     TensorSpec(name: prefix + "norm.weight", shape: [d.hiddenSize])]
        if let outputHead { specs.append(TensorSpec(name: outputHead, shape: [d.vocabularySize, d.hiddenSize])) }
        return specs
    }

    func blockPrefix(_ index: Int) -> String { prefix + "layers.\(index)." }

    /// The routed feed-forward of block `index`; nil where the block has the dense MLP.
    private func routed(_ index: Int) -> RoutedFeedForward? {
        guard let experts = description.experts, experts.sparseBlocks[index] else { return nil }
        return RoutedFeedForward(experts: experts, activation: description.activation, hiddenSize: description.hiddenSize)
    }

    func blockTensors(_ index: Int) -> [TensorSpec] {
        let d = description
        var specs: [TensorSpec] = []
        func linear(_ name: String, _ out: Int, _ input: Int, bias: Bool) {
            specs.append(TensorSpec(name: name + ".weight", shape: [out, input]))
            if bias { specs.append(TensorSpec(name: name + ".bias", shape: [out])) }
        }
        specs.append(TensorSpec(name: "input_layernorm.weight", shape: [d.hiddenSize]))
        linear("self_attn.q_proj", d.queryWidth, d.hiddenSize, bias: d.queryKeyValueBias)
        linear("self_attn.k_proj", d.keyValueWidth, d.hiddenSize, bias: d.queryKeyValueBias)
        linear("self_attn.v_proj", d.keyValueWidth, d.hiddenSize, bias: d.queryKeyValueBias)
        linear("self_attn.o_proj", d.hiddenSize, d.queryWidth, bias: d.outputBias)
        if d.queryKeyNorm {
            specs.append(TensorSpec(name: "self_attn.q_norm.weight", shape: [d.queryKeyNormOverWidth ? d.queryWidth : d.headSize]))
            specs.append(TensorSpec(name: "self_attn.k_norm.weight", shape: [d.queryKeyNormOverWidth ? d.keyValueWidth : d.headSize]))
        }
        specs.append(TensorSpec(name: "post_attention_layernorm.weight", shape: [d.hiddenSize]))
        if let routed = routed(index) { return specs + routed.tensors }
        linear("mlp.gate_proj", d.intermediateSize, d.hiddenSize, bias: d.mlpBias)
        linear("mlp.up_proj", d.intermediateSize, d.hiddenSize, bias: d.mlpBias)
        linear("mlp.down_proj", d.hiddenSize, d.intermediateSize, bias: d.mlpBias)
        return specs
    }

    func embed(_ tokens: [Int], chunks: [Range<Int>], into hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let table = run.tensor(prefix + "embed_tokens.weight")
        run.embed(tokens, table: table, width: description.hiddenSize, into: hidden)
    }

    func block(_ index: Int, weights: BlockWeights, chunk: Range<Int>, hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let d = description, rows = chunk.count, width = d.hiddenSize
        let h = hidden + chunk.lowerBound * width
        let module = blockPrefix(index)
        let observe = BlockObserver(run: run, module: module, block: index, chunk: chunk)
        let linear = BlockLinears(weights: weights, observe: observe)

        let normed = run.scratch("normed", count: rows * width)
        Normalization.rms(h, into: normed, rows: rows, width: width, weight: weights["input_layernorm.weight"].pointer, epsilon: d.normEpsilon)
        let query = run.scratch("query", count: rows * d.queryWidth)
        let key = run.scratch("key", count: rows * d.keyValueWidth)
        let value = run.scratch("value", count: rows * d.keyValueWidth)
        for (name, output) in [("self_attn.q_proj", query), ("self_attn.k_proj", key), ("self_attn.v_proj", value)] {
            try linear(name, normed, into: output)
        }
        if d.queryKeyNorm {
            let whole = d.queryKeyNormOverWidth
            Normalization.rms(query, into: query, rows: whole ? rows : rows * d.headCount, width: whole ? d.queryWidth : d.headSize,
                              weight: weights["self_attn.q_norm.weight"].pointer, epsilon: d.normEpsilon)
            Normalization.rms(key, into: key, rows: whole ? rows : rows * d.keyValueHeadCount, width: whole ? d.keyValueWidth : d.headSize,
                              weight: weights["self_attn.k_norm.weight"].pointer, epsilon: d.normEpsilon)
        }
        if let clip = d.clipQKV {
            for (values, count) in [(query, rows * d.queryWidth), (key, rows * d.keyValueWidth), (value, rows * d.keyValueWidth)] {
                for i in 0..<count { values[i] = min(max(values[i], -clip), clip) }
            }
        }
        if let rotary = run.rotary {
            rotary.apply(query, rows: rows, stride: d.queryWidth, heads: d.headCount)
            rotary.apply(key, rows: rows, stride: d.keyValueWidth, heads: d.keyValueHeadCount)
        }
        let attended = run.scratch("attended", count: rows * d.queryWidth)
        let attention = Attention(d, block: index, causal: true, window: d.slidingWindows[index])
        attention.run(query: .init(values: query, stride: d.queryWidth), key: .init(values: key, stride: d.keyValueWidth),
                      value: .init(values: value, stride: d.keyValueWidth), rows: rows, output: attended, outputStride: d.queryWidth,
                      in: run)
        try linear("self_attn.o_proj", attended, into: h, accumulate: true)

        Normalization.rms(h, into: normed, rows: rows, width: width, weight: weights["post_attention_layernorm.weight"].pointer, epsilon: d.normEpsilon)
        if let routed = routed(index) {
            return try routed.apply(normed, rows: rows, firstToken: chunk.lowerBound, into: h, weights: weights, block: index,
                                    module: module, run: run)
        }
        let gate = run.scratch("gate", count: rows * d.intermediateSize)
        let up = run.scratch("up", count: rows * d.intermediateSize)
        try linear("mlp.gate_proj", normed, into: gate)
        try linear("mlp.up_proj", normed, into: up)
        d.activation.applyGated(gate, times: up, count: rows * d.intermediateSize)
        try linear("mlp.down_proj", gate, into: h, accumulate: true)
    }

    func finish(chunks: [Range<Int>], hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let norm = run.load(prefix + "norm.weight")
        let rows = chunks.last?.upperBound ?? 0
        Normalization.rms(hidden, into: hidden, rows: rows, width: description.hiddenSize, weight: norm.pointer, epsilon: description.normEpsilon)
    }
}
