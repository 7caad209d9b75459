/// GPT-NeoX (Pythia, GPT-NeoX-20B) as transformers' GPTNeoXLayer:
///
///     h = embed_in[token]
///     per block:  a = LayerNorm(h)                          input_layernorm
///                 q | k | v = a·Wqkvᵀ + b                  query_key_value, per head [q | k | v] (GroupedQKV)
///                 q, k = rotary on the first rotary_pct of each head
///                 o = attention(q, k, v)·Wdenseᵀ + b        causal
///                 parallel:    h = h + o + mlp(LayerNorm(h))       post_attention_layernorm of the block input
///                 sequential:  h = h + o;  h = h + mlp(LayerNorm(h))
///                 mlp(x) = gelu(x·W4hᵀ + b)·Wh4ᵀ + b         dense_h_to_4h, dense_4h_to_h
///     logits = LayerNorm(h)·embed_outᵀ                     final_layer_norm
struct GPTNeoXForward: ForwardPass {
    let description: ModelDescription
    let outputHead: String?
    private let parallelResidual: Bool
    private let qkv: GroupedQKV

    init(_ description: ModelDescription, checkpoint: Checkpoint) {
        self.description = description
        outputHead = description.tiedEmbeddings ? "gpt_neox.embed_in.weight"
            : checkpoint.tensor(named: "embed_out.weight") != nil ? "embed_out.weight" : nil
        if case .gptNeoX(let parallel) = description.layout { parallelResidual = parallel } else { parallelResidual = true }
        qkv = GroupedQKV(groups: description.headCount, queriesPerGroup: 1, headSize: description.headSize)
    }

    var globalTensors: [TensorSpec] {
        let d = description
        var specs = [TensorSpec(name: "gpt_neox.embed_in.weight", shape: [d.vocabularySize, d.hiddenSize]),
                     TensorSpec(name: "gpt_neox.final_layer_norm.weight", shape: [d.hiddenSize]),
                     TensorSpec(name: "gpt_neox.final_layer_norm.bias", shape: [d.hiddenSize])]
        if let outputHead { specs.append(TensorSpec(name: outputHead, shape: [d.vocabularySize, d.hiddenSize])) }
        return specs
    }

    func blockPrefix(_ index: Int) -> String { "gpt_neox.layers.\(index)." }

    func blockTensors(_ index: Int) -> [TensorSpec] {
        let d = description, width = d.hiddenSize
        var specs: [TensorSpec] = []
        func linear(_ name: String, _ out: Int, _ input: Int, bias: Bool) {
            specs.append(TensorSpec(name: name + ".weight", shape: [out, input]))
            if bias { specs.append(TensorSpec(name: name + ".bias", shape: [out])) }
        }
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            specs += [TensorSpec(name: norm + ".weight", shape: [width]), TensorSpec(name: norm + ".bias", shape: [width])]
        }
        linear("attention.query_key_value", qkv.fusedWidth, width, bias: d.queryKeyValueBias)
        linear("attention.dense", width, width, bias: d.outputBias)
        linear("mlp.dense_h_to_4h", d.intermediateSize, width, bias: true)
        linear("mlp.dense_4h_to_h", width, d.intermediateSize, bias: true)
        return specs
    }

    func embed(_ tokens: [Int], chunks: [Range<Int>], into hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let table = run.tensor("gpt_neox.embed_in.weight")
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
        layerNorm("input_layernorm", into: normed)
        // The parallel MLP reads the block input, which the attention's residual is about to change.
        let mlpInput = run.scratch("mlp-input", count: rows * width)
        if parallelResidual { layerNorm("post_attention_layernorm", into: mlpInput) }

        let fused = run.scratch("qkv", count: rows * qkv.fusedWidth)
        try linear("attention.query_key_value", normed, into: fused)
        let query = run.scratch("query", count: rows * width), key = run.scratch("key", count: rows * width)
        let value = run.scratch("value", count: rows * width)
        qkv.split(fused, rows: rows, query: query, key: key, value: value)
        if let rotary = run.rotary {
            rotary.apply(query, rows: rows, stride: width, heads: d.headCount)
            rotary.apply(key, rows: rows, stride: width, heads: d.headCount)
        }
        let attended = run.scratch("attended", count: rows * width)
        let attention = Attention(d, block: index, causal: true)
        attention.run(query: .init(values: query, stride: width), key: .init(values: key, stride: width),
                      value: .init(values: value, stride: width), rows: rows, output: attended, outputStride: width,
                      in: run)
        try linear("attention.dense", attended, into: h, accumulate: true)

        if !parallelResidual { layerNorm("post_attention_layernorm", into: mlpInput) }
        let inner = run.scratch("inner", count: rows * d.intermediateSize)
        try linear("mlp.dense_h_to_4h", mlpInput, into: inner)
        d.activation.apply(inner, count: rows * d.intermediateSize)
        try linear("mlp.dense_4h_to_h", inner, into: h, accumulate: true)
    }

    func finish(chunks: [Range<Int>], hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let weight = run.load("gpt_neox.final_layer_norm.weight"), bias = run.load("gpt_neox.final_layer_norm.bias")
        Normalization.layer(hidden, into: hidden, rows: chunks.last?.upperBound ?? 0, width: description.hiddenSize,
                            weight: weight.pointer, bias: bias.pointer, epsilon: description.normEpsilon)
    }
}
