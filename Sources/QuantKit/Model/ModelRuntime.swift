import Foundation

/// A CPU forward pass (fp32) that matches transformers, streamed block by block from the mapping.
///
/// All tokens go through block 0, then block 1, …; a block's weights are loaded just before it runs (F32
/// read in place from the mapping, F16/BF16 decoded to Float) and let go after, so memory is the
/// activations (tokens × hidden) plus one block, plus scratch for one chunk. `weightMemory` counts the
/// weight bytes in use to prove it.
///
/// Inputs longer than `window` (at most the model's max positions) are cut into consecutive chunks that
/// are independent sequences: positions restart at 0 and attention stays inside a chunk. Matrix
/// products go through OpenBLAS `cblas_sgemm`. Not thread-safe: one call at a time per runtime.
///
///     let runtime = try ModelRuntime(checkpoint: Checkpoint(path: folder))
///     let logits = try runtime.logits(tokens: ids)                 // ids.count × vocab
///     try runtime.run(tokens: ids) { input in … input.values … }   // every converted Linear's input
public final class ModelRuntime {
    public let checkpoint: Checkpoint
    /// The Linears transformers converts: the ones observed and the ones a simulation quantizes.
    public let plan: LinearLayerPlan
    /// The architecture as read from config.json.
    public let model: ModelDescription
    /// Tokens per chunk; clamped to 1…model.maxPositions.
    public var window: Int {
        didSet { window = min(max(window, 1), model.maxPositions) }
    }
    private let pass: ForwardPass
    private let store: WeightStore

    /// Reads config.json and checks that every tensor the forward pass needs is there with the right
    /// shape and a float dtype. Throws `ModelError` (one line) for unsupported architectures or features.
    /// `plan` is the checkpoint's layer plan when the caller has it already.
    public init(checkpoint: Checkpoint, plan: LinearLayerPlan? = nil) throws {
        guard let config = checkpoint.config else { throw ModelError(file: checkpoint.path, .noConfig) }
        BLAS.useSingleThreaded
        self.checkpoint = checkpoint
        self.plan = plan ?? LinearLayerPlan(checkpoint: checkpoint)
        model = try ModelDescription(config: config)
        switch model.family {
        case .llama: pass = LlamaForward(model, checkpoint: checkpoint)
        case .gpt2: pass = GPT2Forward(model, checkpoint: checkpoint)
        case .bert: pass = BertForward(model, checkpoint: checkpoint)
        case .phi3: pass = Phi3Forward(model, checkpoint: checkpoint)
        case .gptNeoX: pass = GPTNeoXForward(model, checkpoint: checkpoint)
        case .opt: pass = OPTForward(model, checkpoint: checkpoint)
        case .falcon: pass = FalconForward(model, checkpoint: checkpoint)
        case .gemma: pass = GemmaForward(model, checkpoint: checkpoint)
        }
        window = model.maxPositions
        store = WeightStore(checkpoint: checkpoint)
        try validateTensors()
    }

    /// Weight accounting since this runtime was made (peak = most weight bytes in use at once).
    public var weightMemory: WeightMemory { store.memory }

    /// Whether `logits` and `negativeLogLikelihood` are available (a decoder with an output head).
    public var hasOutputHead: Bool { pass.outputHead != nil }

    /// Runs the blocks and calls `observer` with the input of every Linear layer transformers would
    /// convert (the names of `LinearLayerPlan`), once per chunk, block by block. An error thrown by the
    /// observer (e.g. cancellation) stops the pass.
    public func run(tokens: [Int], observer: (LinearInput) throws -> Void) throws {
        try run(tokens: tokens, everyLinear: false, observer: observer)
    }

    /// `run`, and also the inputs of every routed expert of an MoE model (mixtral, qwen2_moe, qwen3_moe, olmoe) — which
    /// transformers + bitsandbytes do not convert — each with only the tokens routed to it
    /// (`LinearInput.routedTokens`; zero rows when none were). For what-if numbers, never for the plan.
    public func runObservingExperts(tokens: [Int], observer: (LinearInput) throws -> Void) throws {
        try withoutActuallyEscaping(observer) { observer in
            _ = try forward(tokens, observer: convertedInputs(experts: true, observer)) { _, _ in () }
        }
    }

    /// `run` (or `runObservingExperts` with `experts`) that is also the fp32 reference pass of
    /// `referencePass`: one forward pass for calibration and perplexity, the same bits as two.
    public func referencePass(tokens: [Int], experts: Bool, observer: (LinearInput) throws -> Void) throws -> ReferencePass {
        try withoutActuallyEscaping(observer) { observer in
            try referencePass(tokens: tokens, observer: convertedInputs(experts: experts, observer))
        }
    }

    /// `everyLinear` also shows the nn.Linear layers transformers leaves unconverted that a pass reads as
    /// Linears (Falcon's FalconLinear) — to check them against transformers' hooks.
    func run(tokens: [Int], everyLinear: Bool, observer: (LinearInput) throws -> Void) throws {
        try withoutActuallyEscaping(observer) { observer in
            _ = try forward(tokens, observer: convertedInputs(everyLinear: everyLinear, observer)) { _, _ in () }
        }
    }

    /// `observer` for the inputs of the converted Linears only — of every Linear with `everyLinear`, and
    /// also of the routed experts with `experts`.
    private func convertedInputs(everyLinear: Bool = false, experts: Bool = false,
                                 _ observer: @escaping (LinearInput) throws -> Void) -> (LinearInput) throws -> Void {
        let converted = Set(plan.linears.map(\.name))
        return { input in
            if everyLinear || (experts && input.routedTokens != nil) || converted.contains(input.name) { try observer(input) }
        }
    }

    /// Logits, tokens × vocabulary — for BERT (no head) the last hidden state, tokens × hidden size.
    public func logits(tokens: [Int]) throws -> Matrix {
        if model.family == .bert {
            return try forward(tokens, observer: nil) { hidden, rows in
                Matrix(rows: rows, columns: model.hiddenSize,
                       values: Array(UnsafeBufferPointer(start: hidden, count: rows * model.hiddenSize)))
            }
        }
        let head = try outputHead()
        return try forward(tokens, observer: nil) { hidden, rows in head.logits(hidden, rows: rows) }
    }

    /// Perplexity (exp of the mean NLL) of `tokens`, with every converted Linear that `plan` does not
    /// skip quantized as bitsandbytes would (simulated in fp32); nil `plan` is the fp32 model.
    public func perplexity(tokens: [Int], plan: ExportPlan? = nil) throws -> Double {
        let nll = try simulating(plan) { try negativeLogLikelihood(tokens: tokens) }
        return exp(nll.reduce(0.0) { $0 + Double($1) } / Double(max(nll.count, 1)))
    }

    /// For i ≥ 1, −log p(tokens[i] | the tokens before it in its chunk), natural log: tokens.count − 1
    /// values. The first token of a later chunk is predicted by the last position of the chunk before,
    /// so every token after the first counts; their mean is the log of the perplexity.
    public func negativeLogLikelihood(tokens: [Int]) throws -> [Float] {
        let head = try outputHead()
        guard tokens.count >= 2 else { return [] }
        return try forward(tokens, observer: nil) { hidden, rows in
            head.negativeLogLikelihood(hidden, targets: Array(tokens.dropFirst()))
        }
    }

    /// The fp32 model run once on `tokens` (at least 2), its next-token distributions kept to compare
    /// quantized passes with: (tokens − 1) × vocabulary floats.
    public func referencePass(tokens: [Int]) throws -> ReferencePass {
        try referencePass(tokens: tokens, observer: nil)
    }

    private func referencePass(tokens: [Int], observer: ((LinearInput) throws -> Void)?) throws -> ReferencePass {
        let head = try outputHead()
        guard tokens.count >= 2 else { throw ModelError(file: checkpoint.path, .tooFewTokens(tokens.count)) }
        let (distributions, nll) = try forward(tokens, observer: observer) { hidden, _ in
            head.distributions(hidden, targets: Array(tokens.dropFirst()))
        }
        return ReferencePass(tokens: tokens, window: window, distributions: distributions,
                             perplexity: exp(nll.reduce(0.0) { $0 + Double($1) } / Double(nll.count)))
    }

    /// The reference's tokens through the model with `plan` simulated (nil: fp32), scored against the
    /// reference's next-token distributions. The window must be the one the reference was made with.
    public func compare(plan: ExportPlan?, against reference: ReferencePass) throws -> NextTokenComparison {
        precondition(reference.window == window, "the reference was made with another window")
        let head = try outputHead()
        let tokens = reference.tokens
        let scores = try simulating(plan) {
            try forward(tokens, observer: nil) { hidden, _ in
                head.score(hidden, targets: Array(tokens.dropFirst()), reference: reference.distributions)
            }
        }
        return NextTokenComparison(scores)
    }

    /// Runs `body` with every converted Linear that `plan` does not skip simulated as bitsandbytes
    /// quantizes it; nil `plan` is the fp32 model.
    private func simulating<Result>(_ plan: ExportPlan?, _ body: () throws -> Result) rethrows -> Result {
        if let plan {
            let converted = self.plan.linears.filter { !plan.isSkipped($0.name) }
            store.simulation = (plan, Dictionary(uniqueKeysWithValues: converted.map { ($0.weight.name, $0) }))
        }
        defer { store.simulation = nil }
        return try body()
    }

    private func outputHead() throws -> OutputHead {
        guard let name = pass.outputHead, let tensor = checkpoint.tensor(named: name) else {
            let detail = model.family == .bert
                ? "\(model.modelType) is an encoder; logits(tokens:) returns its hidden states"
                : "lm_head.weight is missing and tie_word_embeddings is not set"
            throw ModelError(file: checkpoint.path, .noOutputHead(detail))
        }
        return OutputHead(tensor: tensor, store: store, softcap: model.gemma?.finalSoftcap)
    }

    /// Embeddings, every block over every chunk, the final step; then `output` on the final hidden
    /// states of all tokens (rows × hidden, valid during the call).
    private func forward<Output>(_ tokens: [Int], observer: ((LinearInput) throws -> Void)?,
                                 output: (UnsafePointer<Float>, Int) throws -> Output) throws -> Output {
        let vocabulary = model.vocabularySize
        if let position = tokens.firstIndex(where: { $0 < 0 || $0 >= vocabulary }) {
            throw ModelError(file: checkpoint.path, .tokenOutOfRange(position: position, token: tokens[position], vocabulary: vocabulary))
        }
        let chunks = stride(from: 0, to: tokens.count, by: window).map { $0..<min($0 + window, tokens.count) }
        let longest = chunks.map(\.count).max() ?? 0
        let run = RunContext(store: store, observer: observer,
                             rotary: model.rotary.map { RotaryTable($0, positions: longest) }, positions: longest)
        let hidden = UnsafeMutablePointer<Float>.allocate(capacity: max(tokens.count * model.hiddenSize, 1))
        defer { hidden.deallocate() }
        try pass.embed(tokens, chunks: chunks, into: hidden, run: run)
        for index in 0..<model.layerCount {
            let weights = blockWeights(index, chunks: chunks.count)
            for chunk in chunks {
                try pass.block(index, weights: weights, chunk: chunk, hidden: hidden, run: run)
            }
            releaseBlock(index)
        }
        try pass.finish(chunks: chunks, hidden: hidden, run: run)
        defer { for spec in pass.globalTensors { checkpoint.tensor(named: spec.name).map(checkpoint.release) } }
        return try output(hidden, tokens.count)
    }

    /// A finished block's pages leave the resident set (its decoded copies go with its buffers).
    private func releaseBlock(_ index: Int) {
        let prefix = pass.blockPrefix(index)
        for spec in pass.blockTensors(index) { checkpoint.tensor(named: prefix + spec.name).map(checkpoint.release) }
    }

    /// Block `index`'s tensors, each loaded when the pass first reads it (an MoE block loads only the
    /// experts that receive tokens).
    private func blockWeights(_ index: Int, chunks: Int) -> BlockWeights {
        let prefix = pass.blockPrefix(index)
        return BlockWeights(keepsLinearWeights: chunks > 1) { [checkpoint, store] name in
            checkpoint.tensor(named: prefix + name).map { store.load($0) }
        }
    }

    private func validateTensors() throws {
        var specs = pass.globalTensors
        for index in 0..<model.layerCount {
            let prefix = pass.blockPrefix(index)
            specs += pass.blockTensors(index).map { TensorSpec(name: prefix + $0.name, shape: $0.shape) }
        }
        for spec in specs {
            guard let tensor = checkpoint.tensor(named: spec.name) else {
                throw ModelError(file: checkpoint.path, .missingTensor(spec.name))
            }
            guard tensor.dtype.isDecodableFloat else { throw ModelError(file: checkpoint.path, .notFloat(tensor: spec.name, dtype: tensor.dtype)) }
            guard tensor.shape == spec.shape else {
                throw ModelError(file: checkpoint.path, .wrongShape(tensor: spec.name, expected: spec.shape, actual: tensor.shape))
            }
        }
    }
}
