/// BERT as transformers' BertModel (sentence-transformers' MiniLM is one), every token of a chunk
/// attending to every other (one unpadded sequence: the attention mask is all ones), token type 0:
///
///     h = LayerNorm(word[token] + position[p] + token_type[0])        embeddings.LayerNorm
///     per block:  q, k, v = h·Wᵀ + b                                  attention.self.query/key/value
///                 h = LayerNorm(h + attention(q, k, v)·Wᵀ + b)        attention.output.dense/LayerNorm
///                 h = LayerNorm(h + gelu(h·Wiᵀ + b)·Woᵀ + b)          intermediate.dense, output.dense/LayerNorm
///     output = h (the last hidden state); the pooler's input h[0] of each chunk goes to the observer.
struct BertForward: ForwardPass {
    let description: ModelDescription
    /// `bert.` when the encoder sits inside a task model, empty for BertModel.
    let prefix: String
    let hasPooler: Bool
    let outputHead: String? = nil

    init(_ description: ModelDescription, checkpoint: Checkpoint) {
        self.description = description
        prefix = checkpoint.tensor(named: "bert.embeddings.word_embeddings.weight") != nil ? "bert." : ""
        hasPooler = checkpoint.tensor(named: prefix + "pooler.dense.weight") != nil
    }

    var globalTensors: [TensorSpec] {
        let d = description, e = prefix + "embeddings."
        var specs = [TensorSpec(name: e + "word_embeddings.weight", shape: [d.vocabularySize, d.hiddenSize]),
                     TensorSpec(name: e + "position_embeddings.weight", shape: [d.maxPositions, d.hiddenSize]),
                     TensorSpec(name: e + "token_type_embeddings.weight", shape: [d.typeVocabularySize, d.hiddenSize]),
                     TensorSpec(name: e + "LayerNorm.weight", shape: [d.hiddenSize]),
                     TensorSpec(name: e + "LayerNorm.bias", shape: [d.hiddenSize])]
        if hasPooler {
            specs.append(TensorSpec(name: prefix + "pooler.dense.weight", shape: [d.hiddenSize, d.hiddenSize]))
            specs.append(TensorSpec(name: prefix + "pooler.dense.bias", shape: [d.hiddenSize]))
        }
        return specs
    }

    func blockPrefix(_ index: Int) -> String { prefix + "encoder.layer.\(index)." }

    func blockTensors(_ index: Int) -> [TensorSpec] {
        let width = description.hiddenSize, inner = description.intermediateSize
        var specs: [TensorSpec] = []
        func add(_ name: String, _ shape: [Int]) {
            specs.append(TensorSpec(name: name + ".weight", shape: shape))
            specs.append(TensorSpec(name: name + ".bias", shape: [shape[0]]))
        }
        for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
            add(name, [width, width])
        }
        add("attention.output.LayerNorm", [width])
        add("intermediate.dense", [inner, width])
        add("output.dense", [width, inner])
        add("output.LayerNorm", [width])
        return specs
    }

    func embed(_ tokens: [Int], chunks: [Range<Int>], into hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let e = prefix + "embeddings.", width = description.hiddenSize
        let words = run.tensor(e + "word_embeddings.weight"), positions = run.tensor(e + "position_embeddings.weight")
        let types = run.tensor(e + "token_type_embeddings.weight")
        for chunk in chunks {
            for row in chunk {
                let destination = hidden + row * width
                run.embeddingRow(words, row: tokens[row], into: destination)
                run.embeddingRow(types, row: 0, into: destination, add: true)
                run.embeddingRow(positions, row: row - chunk.lowerBound, into: destination, add: true)
            }
        }
        let weight = run.load(e + "LayerNorm.weight"), bias = run.load(e + "LayerNorm.bias")
        Normalization.layer(hidden, into: hidden, rows: tokens.count, width: width, weight: weight.pointer, bias: bias.pointer,
                            epsilon: description.normEpsilon)
    }

    func block(_ index: Int, weights: BlockWeights, chunk: Range<Int>, hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        let d = description, rows = chunk.count, width = d.hiddenSize
        let h = hidden + chunk.lowerBound * width
        let module = blockPrefix(index)
        let observe = BlockObserver(run: run, module: module, block: index, chunk: chunk)
        let linear = BlockLinears(weights: weights, observe: observe)
        func layerNorm(_ name: String) {
            Normalization.layer(h, into: h, rows: rows, width: width, weight: weights[name + ".weight"].pointer,
                                bias: weights[name + ".bias"].pointer, epsilon: d.normEpsilon)
        }

        let query = run.scratch("query", count: rows * width)
        let key = run.scratch("key", count: rows * width)
        let value = run.scratch("value", count: rows * width)
        for (name, output) in [("attention.self.query", query), ("attention.self.key", key), ("attention.self.value", value)] {
            try linear(name, h, into: output)
        }
        let attended = run.scratch("attended", count: rows * width)
        let attention = Attention(d, block: index, causal: false)
        attention.run(query: .init(values: query, stride: width), key: .init(values: key, stride: width),
                      value: .init(values: value, stride: width), rows: rows, output: attended, outputStride: width,
                      in: run)
        try linear("attention.output.dense", attended, into: h, accumulate: true)
        layerNorm("attention.output.LayerNorm")

        let inner = run.scratch("inner", count: rows * d.intermediateSize)
        try linear("intermediate.dense", h, into: inner)
        d.activation.apply(inner, count: rows * d.intermediateSize)
        try linear("output.dense", inner, into: h, accumulate: true)
        layerNorm("output.LayerNorm")
    }

    /// The pooler (tanh(h[0]·Wᵀ + b) of every chunk) feeds no output the runtime returns — the last
    /// hidden state is what sentence-transformers pools — so only its input is shown to the observer.
    func finish(chunks: [Range<Int>], hidden: UnsafeMutablePointer<Float>, run: RunContext) throws {
        guard hasPooler else { return }
        for chunk in chunks {
            try run.observe(prefix + "pooler.dense", block: nil, firstToken: chunk.lowerBound,
                            hidden + chunk.lowerBound * description.hiddenSize, rows: 1, columns: description.hiddenSize)
        }
    }
}
