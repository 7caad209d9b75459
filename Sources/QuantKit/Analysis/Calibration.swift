import Foundation

/// Runs the model on calibration text and collects `ActivationStatistics` at every converted Linear
/// input. Streams block by block (the runtime's design), so memory is the activations of the
/// calibration tokens plus one block of weights, whatever the model's size.
public struct Calibration: Sendable {
    public struct Progress: Sendable {
        public let layersSeen: Int
        public let layerCount: Int
        public let tokens: Int
    }

    /// Calibration tokens (the text's first ones).
    public var tokenLimit = 512
    /// Rows kept per layer for error estimates.
    public var sampleLimit = 64
    /// Thresholds at which each column's tokens are counted (for outlier features).
    public var countedThresholds = ActivationStatistics.defaultCountedThresholds

    public init(tokenLimit: Int = 512, sampleLimit: Int = 64) {
        self.tokenLimit = tokenLimit
        self.sampleLimit = sampleLimit
    }

    /// The model folder's tokenizer.json, as the model's own tokenizer.
    public static func tokenizer(for checkpoint: Checkpoint) throws -> Tokenizer {
        try Tokenizer(path: (checkpoint.folder as NSString).appendingPathComponent("tokenizer.json"))
    }

    /// Token ids of `text` (special tokens as the tokenizer adds them), cut to `tokenLimit`.
    public func tokens(of text: String, tokenizer: Tokenizer) throws -> [Int] {
        Array(try tokenizer.encode(text).prefix(tokenLimit))
    }

    public func run(_ runtime: ModelRuntime, tokens: [Int], progress: (Progress) -> Void = { _ in },
                    isCancelled: () -> Bool = { false }) throws -> [String: ActivationStatistics] {
        try observe(runtime, tokens: tokens, experts: nil, reference: false, progress: progress, isCancelled: isCancelled).statistics
    }

    /// `run`, and for an MoE model what each routed expert saw (`MoELayerActivity` per layer, block order)
    /// in the same pass; no layers for any other model. With `reference` the pass is also perplexity's
    /// fp32 reference pass (`ModelRuntime.referencePass`: the model needs an output head and 2 tokens).
    public func runObservingExperts(_ runtime: ModelRuntime, tokens: [Int], reference: Bool = false,
                                    progress: (Progress) -> Void = { _ in }, isCancelled: () -> Bool = { false }) throws
        -> (statistics: [String: ActivationStatistics], experts: [MoELayerActivity], reference: ReferencePass?) {
        let collector = runtime.model.experts.map {
            ExpertActivityCollector($0, tokens: tokens.count, sampleLimit: sampleLimit, countedThresholds: countedThresholds)
        }
        return try observe(runtime, tokens: tokens, experts: collector, reference: reference, progress: progress, isCancelled: isCancelled)
    }

    private func observe(_ runtime: ModelRuntime, tokens: [Int], experts: ExpertActivityCollector?, reference: Bool,
                         progress: (Progress) -> Void, isCancelled: () -> Bool) throws
        -> (statistics: [String: ActivationStatistics], experts: [MoELayerActivity], reference: ReferencePass?) {
        let layerCount = runtime.plan.linears.count
        let stride = max(1, tokens.count / max(sampleLimit, 1))
        var statistics: [String: ActivationStatistics] = [:]
        var seen = Set<String>()
        var experts = experts
        let observer = { (input: LinearInput) throws in
            if isCancelled() { throw CancellationError() }
            if experts?.add(input) == true { return }
            var entry = statistics[input.name]
                ?? ActivationStatistics(name: input.name, features: input.features, countedThresholds: countedThresholds)
            entry.add(rows: input.values, count: input.tokens, firstToken: input.firstToken, sampleStride: stride,
                      sampleLimit: sampleLimit)
            statistics[input.name] = entry
            if seen.insert(input.name).inserted {
                progress(Progress(layersSeen: seen.count, layerCount: layerCount, tokens: tokens.count))
            }
        }
        var referencePass: ReferencePass?
        if reference {
            referencePass = try runtime.referencePass(tokens: tokens, experts: experts != nil, observer: observer)
        } else if experts == nil {
            try runtime.run(tokens: tokens, observer: observer)
        } else {
            try runtime.runObservingExperts(tokens: tokens, observer: observer)
        }
        for name in statistics.keys { statistics[name]!.finish() }
        return (statistics, experts?.finish() ?? [], referencePass)
    }
}
