/// Falcon as transformers' FalconDecoderLayer, with rotary positions or (Falcon-RW) ALiBi (AlibiAttention):
///
///     h = word_embeddings[token]
///     per block:  a = LN(h)                         ln_attn (new architecture, 2 norms) or input_layernorm
///                 q | k | v = a·Wqkvᵀ (+b)          query_key_value, grouped by kv head (GroupedQKV):
///                                                   new: num_kv_heads groups; multi_query: 1; else one per head
///                 o = attention(rotary q, rotary k, v)·Wdenseᵀ (+b)     causal
///                 new or parallel_attn:  h = h + (mlp(m) + o),  m = LN(h) by ln_mlp, or a (one norm)
///                 sequential:            h = h + o;  h = h + mlp(LN(h))          post_attention_layernorm
///                 mlp(x) = gelu(x·W4hᵀ (+b))·Wh4ᵀ (+b)
///     logits = LN(h)·lm_headᵀ                       ln_f; lm_head tied to word_embeddings by default
///
/// transformers 5.24 + bitsandbytes convert none of these Linears (FalconLinear is a subclass of nn.Linear and
/// the conversion takes `type(module) is nn.Linear` only), so LinearLayerPlan lists none and the runtime's
/// observer (which shows the plan's Linears) sees nothing; `ModelRuntime.run(tokens:everyLinear:)` shows them.
struct FalconForward: ForwardPass {
    let description: ModelDescription
    let outputHead: String?
    private let layout: FalconLayout
    private let qkv: GroupedQKV

    init(_ description: ModelDescription, checkpoint: Checkpoint) {
        self.description = description
        outputHead = description.tiedEmbeddings ? "transformer.word_embeddings.weight"
            : checkpoint.tensor(named: "lm_head.weight") != nil ? "lm_head.weight" : nil
        if case .falcon(let layout) = description.layout { self.layout = layout }
        else { layout = FalconLayout(newArchitecture: false, parallelAttention: true, parallelNorms: 1, alibi: false) }
        let groups = description.keyValueHeadCount
        qkv = GroupedQKV(groups: groups, queriesPerGroup: description.headCount / groups, headSize: description.headSize)
    }

    private var twoNorms: Bool { layout.newArchitecture && layout.parallelNorms == 2 }
    private var mlpBesideAttention: Bool { layout.newArchitecture || layout.parallelAttention }

    var globalTensors: [TensorSpec] {
        let d = description
        var specs = [TensorSpec(name: "transformer.word_embeddings.weight", shape: [d.vocabularySize, d.hiddenSize]),
                     TensorSpec(name: "transformer.ln_f.weight", shape: [d.hiddenSize]),
                     TensorSpec(name: "transformer.ln_f.bias", shape: [d.hiddenSize])]
        if let outputHead { specs.append(TensorSpec(name: outputHead, shape: [d.vocabularySize, d.hiddenSize])) }
        return specs
    }

    func blockPrefix(_ index: Int) -> String { "transformer.h.\(index)." }

    /// The norms FalconDecoderLayer creates: ln_attn + ln_mlp with parallel attention and 2 norms,
    /// input_layernorm alone with parallel attention and 1, input_layernorm + post_attention_layernorm otherwise.
    private var norms: [String] {
        if !layout.parallelAttention { return ["input_layernorm", "post_attention_layernorm"] }
        return layout.parallelNorms == 2 ? ["ln_attn", "ln_mlp"] : ["input_layernorm"]
    }

    func blockTensors(_ index: Int) -> [TensorSpec] {
        let d = description, width = d.hiddenSize
        var specs: [TensorSpec] = []
        func linear(_ name: String, _ out: Int, _ input: Int) {
            specs.append(TensorSpec(name: name + ".weight", shape: [out, input]))
            if d.queryKeyValueBias { specs.append(TensorSpec(name: name + ".bias", shape: [out])) }
        }
        for norm in norms { specs += [TensorSpec(name: norm + ".weight", shape: [width]), TensorSpec(name: norm + ".bias", shape: [width])] }
        linear("self_attention.query_key_value", qkv.fusedWidth, width)
        linear("self_attention.dense", width, d.queryWidth)
        linear("mlp.dense_h_to_4h", d.intermediateSize, width)
        linear("mlp.dense_4h_to_h", width, d.intermediateSize)
        return specs
    }

    func embed(_ tokens: [Int], chunks: [Range<Int>], into hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let table = run.tensor("transformer.word_embeddings.weight")
        run.embed(tokens, table: table, width: description.hiddenSize, into: hidden)
    }

    func block(_ index: Int, weights: BlockWeights, chunk: Range<Int>, hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let d = description, rows = chunk.count, width = d.hiddenSize
        let h = hidden + chunk.lowerBound * width
        let module = blockPrefix(index)
        let observe = BlockObserver(run: run, module: module, block: index, chunk: chunk)
        let linear = BlockLinears(weights: weights, observe: observe)
        let layerNorm = BlockLayerNorm(input: h, rows: rows, width: width, weights: weights, epsilon: d.normEpsilon)

        let normed = run.scratch("normed", count: rows * width)
        layerNorm(norms[0], into: normed)
        var mlpInput = normed
        if twoNorms {
            mlpInput = run.scratch("mlp-input", count: rows * width)
            layerNorm("ln_mlp", into: mlpInput)
        }

        let fused = run.scratch("qkv", count: rows * qkv.fusedWidth)
        try linear("self_attention.query_key_value", normed, into: fused)
        let query = run.scratch("query", count: rows * qkv.queryWidth)
        let key = run.scratch("key", count: rows * qkv.keyValueWidth), value = run.scratch("value", count: rows * qkv.keyValueWidth)
        qkv.split(fused, rows: rows, query: query, key: key, value: value)
        if let rotary = run.rotary {
            rotary.apply(query, rows: rows, stride: qkv.queryWidth, heads: d.headCount)
            rotary.apply(key, rows: rows, stride: qkv.keyValueWidth, heads: d.keyValueHeadCount)
        }
        let attended = run.scratch("attended", count: rows * d.queryWidth)
        if layout.alibi {
            let attention = AlibiAttention(heads: d.headCount, keyValueHeads: d.keyValueHeadCount, headSize: d.headSize)
            attention.run(query: query, key: key, value: value, rows: rows, output: attended,
                          scores: run.scratch("scores", count: attention.scoreCapacity(rows: rows)))
        } else {
            let attention = Attention(d, block: index, causal: true)
            attention.run(query: .init(values: query, stride: qkv.queryWidth), key: .init(values: key, stride: qkv.keyValueWidth),
                          value: .init(values: value, stride: qkv.keyValueWidth), rows: rows, output: attended, outputStride: d.queryWidth,
                          in: run)
        }
        try observe("self_attention.dense", attended, columns: d.queryWidth)
        // Beside the MLP, the attention output joins the residual after the MLP has read its input;
        // sequential blocks add it first and norm the sum for the MLP.
        let attentionOutput = mlpBesideAttention ? run.scratch("attention-output", count: rows * width) : h
        weights.linear("self_attention.dense").apply(attended, rows: rows, into: attentionOutput, accumulate: !mlpBesideAttention)
        if !mlpBesideAttention { layerNorm("post_attention_layernorm", into: normed) }

        let inner = run.scratch("inner", count: rows * d.intermediateSize)
        try linear("mlp.dense_h_to_4h", mlpInput, into: inner)
        d.activation.apply(inner, count: rows * d.intermediateSize)
        try observe("mlp.dense_4h_to_h", inner, columns: d.intermediateSize)
        if mlpBesideAttention {
            weights.linear("mlp.dense_4h_to_h").apply(inner, rows: rows, into: attentionOutput, accumulate: true)
            for i in 0..<rows * width { h[i] += attentionOutput[i] }
        } else {
            weights.linear("mlp.dense_4h_to_h").apply(inner, rows: rows, into: h, accumulate: true)
        }
    }

    func finish(chunks: [Range<Int>], hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let weight = run.load("transformer.ln_f.weight"), bias = run.load("transformer.ln_f.bias")
        Normalization.layer(hidden, into: hidden, rows: chunks.last?.upperBound ?? 0, width: description.hiddenSize,
                            weight: weight.pointer, bias: bias.pointer, epsilon: description.normEpsilon)
    }
}
