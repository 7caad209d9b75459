/// Folds a `ModelAnalyzer`'s events into the `ModelReport` that `qtui scan` prints.
public struct ModelReportBuilder: Sendable {
    private let analyzer: ModelAnalyzer
    private var weights: [LayerReport?]
    private var outputErrors: [ActivationErrors?]
    private var statistics: [String: ActivationStatistics] = [:]
    private var tokens = 0
    private var unavailable: String?
    private var perplexity: PerplexityReport?
    private var perplexityUnavailable: String?
    private var outlierFeatures: OutlierFeatures?
    private var experts: [MoELayerActivity]?
    /// Per layer module, per expert index.
    private var whatIf: [String: [Int: ExpertWhatIf]] = [:]

    public init(_ analyzer: ModelAnalyzer) {
        self.analyzer = analyzer
        weights = Array(repeating: nil, count: analyzer.layers.count)
        outputErrors = Array(repeating: nil, count: analyzer.layers.count)
    }

    public mutating func apply(_ event: AnalysisEvent) {
        switch event {
        case .progress, .weightsFinished, .int8Refined: break
        case .weights(let index, let report): weights[index] = report
        case .calibrated(let tokens, let statistics):
            self.tokens = tokens
            self.statistics = statistics
            if let request = analyzer.calibration {
                outlierFeatures = OutlierFeatures(inputs: HiddenStateInputs(analyzer.model.plan.linears), statistics: { statistics[$0] },
                                                  threshold: request.threshold)
            }
        case .experts(let layers): experts = layers
        case .expertWhatIf(let errors): whatIf[errors.module, default: [:]][errors.expert] = errors
        case .activationsUnavailable(let reason): unavailable = reason
        case .outputErrors(let index, let errors): outputErrors[index] = errors
        case .perplexity(var report, _):
            if let suggested = report.suggestedThreshold {
                report.suggestedFp16ColumnShare = ModelAnalyzer.fp16ColumnShare(statistics.values, at: suggested)
            }
            perplexity = report
        case .perplexityUnavailable(let reason): perplexityUnavailable = reason
        }
    }

    /// The report of everything folded so far (layers whose weights were not analysed are left out).
    public var report: ModelReport {
        let request = analyzer.calibration
        var layers: [LayerReport] = []
        for (index, layer) in analyzer.layers.enumerated() {
            guard var report = weights[index] else { continue }
            if let request, let seen = statistics[layer.name] {
                report.activations = LayerActivationReport(seen, errors: outputErrors[index], threshold: request.threshold)
            }
            layers.append(report)
        }
        var calibration = request.map {
            ModelReport.CalibrationSummary(source: $0.source, tokens: unavailable == nil ? tokens : 0, threshold: $0.threshold,
                                           unavailable: unavailable)
        }
        calibration?.perplexity = perplexity
        calibration?.perplexityUnavailable = perplexityUnavailable
        calibration?.outlierFeatures = outlierFeatures
        let model = analyzer.model
        return ModelReport(analysis: calibration != nil && unavailable == nil ? "weights+activations" : "weights",
                           model: model.summary, blocksize: analyzer.blocksize, calibration: calibration, layers: layers,
                           kept: model.kept, totals: totals(layers),
                           experts: experts.map { layers in
                               layers.map { MoELayerReport($0, whatIf: whatIf[$0.module] ?? [:], threshold: request?.threshold ?? 6) }
                           })
    }

    /// Bytes need no analysis, so totals cover every Linear even when a filter narrowed the layers.
    private func totals(_ analysed: [LayerReport]) -> ModelReport.Totals {
        let model = analyzer.model
        var byName: [String: LayerReport] = [:]
        for report in analysed { byName[report.name] = report }
        let methods = QuantMethod.allCases.map { method in
            ModelReport.MethodTotal(method: method, bytes: model.sizes.keptBytes + model.plan.linears.reduce(0) { sum, layer in
                sum + ModelSizes.layerBytes(layer, in: method, keptDType: model.keptDType, blocksize: analyzer.blocksize, analysis: byName[layer.name],
                                            analysedBlocksize: analyzer.blocksize)
            })
        }
        return ModelReport.Totals(
            originalBytes: model.sizes.originalBytes, linearCount: model.plan.linears.count,
            linearParameters: model.plan.linears.reduce(0) { $0 + $1.parameterCount }, keptBytes: model.sizes.keptBytes,
            methods: methods)
    }
}

extension ModelAnalyzer {
    /// Runs the analysis and returns its report; `onEvent` sees every event first (for progress).
    public func report(onEvent: (AnalysisEvent) -> Void = { _ in }, isCancelled: () -> Bool = { false }) throws -> ModelReport {
        var builder = ModelReportBuilder(self)
        try run(emit: { event in
            onEvent(event)
            builder.apply(event)
        }, isCancelled: isCancelled)
        return builder.report
    }
}
