/// OPT as transformers' OPTDecoder and OPTDecoderLayer (OPT-350m's post-LayerNorm and projected embedding
/// included):
///
///     h = project_in(embed_tokens[token]) + embed_positions[position + 2]     project_in only when
///                                                                   word_embed_proj_dim ≠ hidden_size
///     per block:  x = LN(h) before, or h                            self_attn_layer_norm (do_layer_norm_before)
///                 h += attention(x·Wqᵀ + b, x·Wkᵀ + b, x·Wvᵀ + b)·Woutᵀ + b    causal
///                 h = LN(h) after                                   (post-LayerNorm blocks)
///                 x = LN(h) before, or h                            final_layer_norm
///                 h += relu(x·Wfc1ᵀ + b)·Wfc2ᵀ + b
///                 h = LN(h) after
///     logits = project_out(LN(h))·embed_tokensᵀ                     final norm only with pre-LayerNorm blocks
///
/// The learned positions start at row 2 (OPTLearnedPositionalEmbedding's offset). project_in and
/// project_out are nn.Linears that bitsandbytes converts; their inputs go to the observer outside the blocks.
struct OPTForward: ForwardPass {
    let description: ModelDescription
    let outputHead: String?
    let prefix: String
    private let layout: OPTLayout

    init(_ description: ModelDescription, checkpoint: Checkpoint) {
        self.description = description
        prefix = checkpoint.tensor(named: "decoder.embed_tokens.weight") != nil && checkpoint.tensor(named: "model.decoder.embed_tokens.weight") == nil
            ? "decoder." : "model.decoder."
        if case .opt(let layout) = description.layout { self.layout = layout }
        else { layout = OPTLayout(normBefore: true, finalNorm: true, embeddingWidth: description.hiddenSize) }
        outputHead = description.tiedEmbeddings ? prefix + "embed_tokens.weight"
            : checkpoint.tensor(named: "lm_head.weight") != nil ? "lm_head.weight" : nil
    }

    private var projected: Bool { layout.embeddingWidth != description.hiddenSize }
    static let positionOffset = 2

    var globalTensors: [TensorSpec] {
        let d = description, width = d.hiddenSize, embedding = layout.embeddingWidth
        var specs = [TensorSpec(name: prefix + "embed_tokens.weight", shape: [d.vocabularySize, embedding]),
                     TensorSpec(name: prefix + "embed_positions.weight", shape: [d.maxPositions + Self.positionOffset, width])]
        if layout.finalNorm {
            specs += [TensorSpec(name: prefix + "final_layer_norm.weight", shape: [width]),
                      TensorSpec(name: prefix + "final_layer_norm.bias", shape: [width])]
        }
        if projected {
            specs += [TensorSpec(name: prefix + "project_in.weight", shape: [width, embedding]),
                      TensorSpec(name: prefix + "project_out.weight", shape: [embedding, width])]
        }
        if let outputHead { specs.append(TensorSpec(name: outputHead, shape: [d.vocabularySize, embedding])) }
        return specs
    }

    func blockPrefix(_ index: Int) -> String { prefix + "layers.\(index)." }

    func blockTensors(_ index: Int) -> [TensorSpec] {
        let d = description, width = d.hiddenSize
        var specs: [TensorSpec] = []
        func linear(_ name: String, _ out: Int, _ input: Int) {
            specs.append(TensorSpec(name: name + ".weight", shape: [out, input]))
            if d.queryKeyValueBias { specs.append(TensorSpec(name: name + ".bias", shape: [out])) }
        }
        for name in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"] { linear(name, width, width) }
        linear("fc1", d.intermediateSize, width)
        linear("fc2", width, d.intermediateSize)
        for norm in ["self_attn_layer_norm", "final_layer_norm"] {
            specs += [TensorSpec(name: norm + ".weight", shape: [width]), TensorSpec(name: norm + ".bias", shape: [width])]
        }
        return specs
    }

    func embed(_ tokens: [Int], chunks: [Range<Int>], into hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let width = description.hiddenSize, embedding = layout.embeddingWidth
        let words = run.tensor(prefix + "embed_tokens.weight"), positions = run.tensor(prefix + "embed_positions.weight")
        let projectIn = projected ? Linear(weight: run.load(prefix + "project_in.weight"), bias: nil, storedTransposed: false) : nil
        for chunk in chunks {
            let h = hidden + chunk.lowerBound * width
            if let projectIn {
                let rows = run.scratch("embedded", count: chunk.count * embedding)
                for row in chunk { run.embeddingRow(words, row: tokens[row], into: rows + (row - chunk.lowerBound) * embedding) }
                try run.observe(prefix + "project_in", block: nil, firstToken: chunk.lowerBound, rows, rows: chunk.count, columns: embedding)
                projectIn.apply(rows, rows: chunk.count, into: h)
            } else {
                for row in chunk { run.embeddingRow(words, row: tokens[row], into: hidden + row * width) }
            }
            for row in chunk {
                run.embeddingRow(positions, row: row - chunk.lowerBound + Self.positionOffset, into: hidden + row * width, add: true)
            }
        }
    }

    func block(_ index: Int, weights: BlockWeights, chunk: Range<Int>, hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let d = description, rows = chunk.count, width = d.hiddenSize
        let h = hidden + chunk.lowerBound * width
        let module = blockPrefix(index)
        let observe = BlockObserver(run: run, module: module, block: index, chunk: chunk)
        let linear = BlockLinears(weights: weights, observe: observe)
        let layerNorm = BlockLayerNorm(input: h, rows: rows, width: width, weights: weights, epsilon: d.normEpsilon)
        /// The sublayer's input: the normed copy before (pre-LayerNorm), the residual stream itself after.
        func input(_ norm: String) -> UnsafeMutablePointer<Float> {
            guard layout.normBefore else { return h }
            let normed = run.scratch("normed", count: rows * width)
            layerNorm(norm, into: normed)
            return normed
        }

        let x = input("self_attn_layer_norm")
        let query = run.scratch("query", count: rows * width), key = run.scratch("key", count: rows * width)
        let value = run.scratch("value", count: rows * width)
        for (name, output) in [("self_attn.q_proj", query), ("self_attn.k_proj", key), ("self_attn.v_proj", value)] {
            try linear(name, x, into: output)
        }
        let attended = run.scratch("attended", count: rows * width)
        let attention = Attention(d, block: index, causal: true)
        attention.run(query: .init(values: query, stride: width), key: .init(values: key, stride: width),
                      value: .init(values: value, stride: width), rows: rows, output: attended, outputStride: width,
                      in: run)
        try linear("self_attn.out_proj", attended, into: h, accumulate: true)
        if !layout.normBefore { layerNorm("self_attn_layer_norm", into: h) }

        let y = input("final_layer_norm")
        let inner = run.scratch("inner", count: rows * d.intermediateSize)
        try linear("fc1", y, into: inner)
        d.activation.apply(inner, count: rows * d.intermediateSize)
        try linear("fc2", inner, into: h, accumulate: true)
        if !layout.normBefore { layerNorm("final_layer_norm", into: h) }
    }

    /// The final norm, then project_out, whose narrower rows are packed at the start of `hidden` — the
    /// output head reads rows of its own width.
    func finish(chunks: [Range<Int>], hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let width = description.hiddenSize, rows = chunks.last?.upperBound ?? 0
        if layout.finalNorm {
            let weight = run.load(prefix + "final_layer_norm.weight"), bias = run.load(prefix + "final_layer_norm.bias")
            Normalization.layer(hidden, into: hidden, rows: rows, width: width, weight: weight.pointer, bias: bias.pointer,
                                epsilon: description.normEpsilon)
        }
        guard projected else { return }
        let projectOut = Linear(weight: run.load(prefix + "project_out.weight"), bias: nil, storedTransposed: false)
        let projectedRows = run.scratch("projected", count: rows * layout.embeddingWidth)
        for chunk in chunks {
            try run.observe(prefix + "project_out", block: nil, firstToken: chunk.lowerBound, hidden + chunk.lowerBound * width,
                            rows: chunk.count, columns: width)
        }
        projectOut.apply(hidden, rows: rows, into: projectedRows)
        hidden.update(from: projectedRows, count: rows * layout.embeddingWidth)
    }
}
