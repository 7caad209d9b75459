/// GPT-2 as transformers' GPT2Block. Conv1D weights are stored [in, out] and used as stored:
///
///     h = wte[token] + wpe[position]
///     per block:  n = LayerNorm(h)                  ln_1
///                 q | k | v = n·Wc_attn + b          one [in, 3·hidden] Conv1D, split by columns
///                 h += attention(q, k, v)·Wc_proj + b  causal
///                 n = LayerNorm(h)                  ln_2
///                 h += gelu_new(n·Wc_fc + b)·Wc_proj + b
///     logits = LayerNorm(h)·wteᵀ                    ln_f, tied head
struct GPT2Forward: ForwardPass {
    let description: ModelDescription
    /// `transformer.` for GPT2LMHeadModel checkpoints, empty for GPT2Model.
    let prefix: String
    let outputHead: String?

    init(_ description: ModelDescription, checkpoint: Checkpoint) {
        self.description = description
        prefix = checkpoint.tensor(named: "wte.weight") != nil && checkpoint.tensor(named: "transformer.wte.weight") == nil ? "" : "transformer."
        let untied = !description.tiedEmbeddings && checkpoint.tensor(named: "lm_head.weight") != nil
        outputHead = untied ? "lm_head.weight" : prefix + "wte.weight"
    }

    var globalTensors: [TensorSpec] {
        let d = description
        return [TensorSpec(name: prefix + "wte.weight", shape: [d.vocabularySize, d.hiddenSize]),
                TensorSpec(name: prefix + "wpe.weight", shape: [d.maxPositions, d.hiddenSize]),
                TensorSpec(name: prefix + "ln_f.weight", shape: [d.hiddenSize]),
                TensorSpec(name: prefix + "ln_f.bias", shape: [d.hiddenSize])]
            + (outputHead == "lm_head.weight" ? [TensorSpec(name: "lm_head.weight", shape: [d.vocabularySize, d.hiddenSize])] : [])
    }

    func blockPrefix(_ index: Int) -> String { prefix + "h.\(index)." }

    func blockTensors(_ index: Int) -> [TensorSpec] {
        let width = description.hiddenSize, inner = description.intermediateSize
        var specs: [TensorSpec] = []
        func conv1D(_ name: String, _ input: Int, _ out: Int) {
            specs.append(TensorSpec(name: name + ".weight", shape: [input, out]))
            specs.append(TensorSpec(name: name + ".bias", shape: [out]))
        }
        func layerNorm(_ name: String) {
            specs.append(TensorSpec(name: name + ".weight", shape: [width]))
            specs.append(TensorSpec(name: name + ".bias", shape: [width]))
        }
        layerNorm("ln_1")
        conv1D("attn.c_attn", width, 3 * width)
        conv1D("attn.c_proj", width, width)
        layerNorm("ln_2")
        conv1D("mlp.c_fc", width, inner)
        conv1D("mlp.c_proj", inner, width)
        return specs
    }

    func embed(_ tokens: [Int], chunks: [Range<Int>], into hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let words = run.tensor(prefix + "wte.weight"), positions = run.tensor(prefix + "wpe.weight")
        for chunk in chunks {
            for row in chunk {
                let destination = hidden + row * description.hiddenSize
                run.embeddingRow(words, row: tokens[row], into: destination)
                run.embeddingRow(positions, row: row - chunk.lowerBound, into: destination, add: true)
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

        let normed = run.scratch("normed", count: rows * width)
        layerNorm("ln_1", into: normed)
        let fused = run.scratch("qkv", count: rows * 3 * width)
        try linear("attn.c_attn", normed, into: fused, transposed: true)
        let attended = run.scratch("attended", count: rows * width)
        let attention = Attention(d, block: index, causal: true)
        attention.run(query: .init(values: fused, stride: 3 * width), key: .init(values: fused + width, stride: 3 * width),
                      value: .init(values: fused + 2 * width, stride: 3 * width), rows: rows, output: attended, outputStride: width,
                      in: run)
        try linear("attn.c_proj", attended, into: h, accumulate: true, transposed: true)

        layerNorm("ln_2", into: normed)
        let inner = run.scratch("inner", count: rows * d.intermediateSize)
        try linear("mlp.c_fc", normed, into: inner, transposed: true)
        d.activation.apply(inner, count: rows * d.intermediateSize)
        try linear("mlp.c_proj", inner, into: h, accumulate: true, transposed: true)
    }

    func finish(chunks: [Range<Int>], hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let weight = run.load(prefix + "ln_f.weight"), bias = run.load(prefix + "ln_f.bias")
        Normalization.layer(hidden, into: hidden, rows: chunks.last?.upperBound ?? 0, width: description.hiddenSize,
                            weight: weight.pointer, bias: bias.pointer, epsilon: description.normEpsilon)
    }
}
