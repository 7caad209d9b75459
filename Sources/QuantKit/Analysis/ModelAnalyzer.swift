import Foundation

/// The one analysis path of a model, for `qtui scan` and the explorer alike: the weights layer by layer,
/// then — when the model can run — calibration, the output errors layer by layer and, when asked,
/// perplexity per method. Results are reported as `AnalysisEvent`s as they happen; never prints.
/// Cancellation (`isCancelled`) stops the work with `CancellationError`.
public struct ModelAnalyzer: Sendable {
    public let model: OpenedModel
    /// The layers analysed: every converted Linear, or those a filter selects. Event indices refer here.
    public let layers: [LinearLayer]
    public var weights: WeightAnalyzer
    /// Calibration text and settings; nil for a weight-only analysis.
    public var calibration: CalibrationRequest?
    /// Statistics of an earlier calibration of the same text, reused instead of running the model again
    /// (a new blocksize changes the errors, not what the model sees).
    public var knownStatistics: [String: ActivationStatistics]?

    public var blocksize: Int { weights.blocksize }

    public init(_ model: OpenedModel, weights: WeightAnalyzer = WeightAnalyzer(), layerFilter: String? = nil,
                calibration: CalibrationRequest? = nil) throws {
        self.model = model
        self.weights = weights
        self.calibration = calibration
        layers = try Self.select(model.plan.linears, matching: layerFilter)
    }

    public func run(emit: (AnalysisEvent) -> Void, isCancelled: () -> Bool = { false }) throws {
        try analyseWeights(emit: emit, isCancelled: isCancelled)
        guard let request = calibration else { return }
        var session: CalibrationSession?
        var reference: ReferencePass?
        let statistics: [String: ActivationStatistics]
        if let knownStatistics {
            statistics = knownStatistics
        } else {
            switch try request.prepare(model) {
            case .failure(let unavailable):
                emit(.activationsUnavailable(reason: unavailable.reason))
                return
            case .success(let prepared):
                session = prepared
                // With perplexity to measure, the calibration pass is its fp32 reference too.
                let shared = request.perplexity && prepared.runtime.hasOutputHead && prepared.tokens.count >= 2
                (statistics, reference) = try calibrate(prepared, request: request, reference: shared, emit: emit, isCancelled: isCancelled)
            }
        }
        try measureOutputErrors(statistics, threshold: request.threshold, emit: emit, isCancelled: isCancelled)
        if request.perplexity, let session {
            try measurePerplexity(session, threshold: request.threshold, tolerance: request.perplexityTolerance,
                                  fullCurve: request.perplexityFullCurve, reference: reference,
                                  emit: emit, isCancelled: isCancelled)
        }
    }

    private func analyseWeights(emit: (AnalysisEvent) -> Void, isCancelled: () -> Bool) throws {
        let total = layers.reduce(0) { $0 + $1.parameterCount }
        var done = 0
        for (index, layer) in layers.enumerated() {
            emit(.progress(AnalysisProgress(phase: .weights, done: done, total: total, unit: "param", detail: layer.name)))
            emit(.weights(index: index, report: try weights.analyze(layer, in: model.checkpoint, isCancelled: isCancelled)))
            done += layer.parameterCount
        }
        emit(.progress(AnalysisProgress(phase: .weights, done: done, total: total, unit: "param")))
        emit(.weightsFinished(blocksize: weights.blocksize))
    }

    private func calibrate(_ session: CalibrationSession, request: CalibrationRequest, reference: Bool, emit: (AnalysisEvent) -> Void,
                           isCancelled: () -> Bool) throws -> ([String: ActivationStatistics], ReferencePass?) {
        // The report's threshold is counted too, so its outlier features are exact.
        var calibration = request.calibration
        if request.threshold > 0 { calibration.countedThresholds.append(request.threshold) }
        let (statistics, experts, referencePass) = try calibration.runObservingExperts(session.runtime, tokens: session.tokens,
                                                                                       reference: reference, progress: { seen in
            emit(.progress(AnalysisProgress(phase: .calibration, done: seen.layersSeen, total: seen.layerCount, unit: "layer")))
        }, isCancelled: isCancelled)
        emit(.calibrated(tokens: session.tokens.count, statistics: statistics))
        if !experts.isEmpty {
            emit(.experts(experts))
            try measureExpertWhatIf(experts, threshold: request.threshold, emit: emit, isCancelled: isCancelled)
        }
        return (statistics, referencePass)
    }

    /// Every routed expert that received calibration tokens, its three projections measured as a
    /// converted Linear's would be — a what-if (bitsandbytes in transformers keeps them unquantized).
    private func measureExpertWhatIf(_ layers: [MoELayerActivity], threshold: Float, emit: (AnalysisEvent) -> Void,
                                     isCancelled: () -> Bool) throws {
        let grid = Set(ActivationErrors.defaultGrid + (threshold > 0 ? [threshold] : [])).sorted()
        let experts = layers.flatMap { layer in layer.experts.map { (layer.module, $0) } }
        for (done, (module, expert)) in experts.enumerated() {
            if isCancelled() { throw CancellationError() }
            emit(.progress(AnalysisProgress(phase: .expertWhatIf, done: done, total: experts.count, unit: "expert", detail: expert.gate)))
            guard let gateUp = expert.gateUpInput, let down = expert.downInput, gateUp.sampleRows > 0, down.sampleRows > 0,
                  let gateLayer = model.expertProjection(expert.gate), let upLayer = model.expertProjection(expert.up),
                  let downLayer = model.expertProjection(expert.down) else { continue }
            func errors(_ layer: LinearLayer, _ seen: ActivationStatistics) throws -> ActivationErrors {
                try ActivationErrors.measure(layer, in: model.checkpoint, sample: seen.sample, rows: seen.sampleRows,
                                             blocksize: weights.blocksize, grid: grid, isCancelled: isCancelled)
            }
            emit(.expertWhatIf(ExpertWhatIf(module: module, expert: expert.index, gate: try errors(gateLayer, gateUp),
                                            up: try errors(upLayer, gateUp), down: try errors(downLayer, down))))
        }
        emit(.progress(AnalysisProgress(phase: .expertWhatIf, done: experts.count, total: experts.count, unit: "expert")))
    }

    /// The int8 errors are measured on the grid and at the report's `threshold` (so it is exact too).
    private func measureOutputErrors(_ statistics: [String: ActivationStatistics], threshold: Float, emit: (AnalysisEvent) -> Void,
                                     isCancelled: () -> Bool) throws {
        let grid = Set(ActivationErrors.defaultGrid + (threshold > 0 ? [threshold] : [])).sorted()
        for (index, layer) in layers.enumerated() {
            if isCancelled() { throw CancellationError() }
            emit(.progress(AnalysisProgress(phase: .outputErrors, done: index, total: layers.count, unit: "layer", detail: layer.name)))
            guard let seen = statistics[layer.name], seen.sampleRows > 0 else { continue }
            let errors = try ActivationErrors.measure(layer, in: model.checkpoint, sample: seen.sample, rows: seen.sampleRows,
                                                      blocksize: weights.blocksize, grid: grid, isCancelled: isCancelled)
            emit(.outputErrors(index: index, errors: errors))
        }
        emit(.progress(AnalysisProgress(phase: .outputErrors, done: layers.count, total: layers.count, unit: "layer")))
    }

    /// Perplexity and KL from fp32 per method on the calibration text, `skipModules` unquantized; the
    /// explorer's `p`. Reports `.activationsUnavailable` when the model cannot run, `.perplexityUnavailable` when it
    /// has no output head.
    public func measurePerplexity(threshold: Float, skipModules: [String] = [], emit: (AnalysisEvent) -> Void,
                                  isCancelled: () -> Bool = { false }) throws {
        guard let request = calibration else { return }
        switch try request.prepare(model) {
        case .failure(let unavailable): emit(.activationsUnavailable(reason: unavailable.reason))
        case .success(let session):
            try measurePerplexity(session, threshold: threshold, skipModules: skipModules, tolerance: request.perplexityTolerance,
                                  fullCurve: request.perplexityFullCurve,
                                  emit: emit, isCancelled: isCancelled)
        }
    }

    private func measurePerplexity(_ session: CalibrationSession, threshold: Float, skipModules: [String] = [], tolerance: Double, fullCurve: Bool,
                                   reference: ReferencePass? = nil, emit: (AnalysisEvent) -> Void, isCancelled: () -> Bool) throws {
        guard session.runtime.hasOutputHead else {
            emit(.perplexityUnavailable(reason: "\(session.runtime.model.modelType) has no language-model head "
                                        + "(an encoder predicts no next token)"))
            return
        }
        let report = try PerplexityReport.measure(session.runtime, tokens: session.tokens, threshold: threshold,
                                                  blocksize: weights.blocksize, skipModules: skipModules, tolerance: tolerance,
                                                  fullCurve: fullCurve, reference: reference,
                                                  progress: { done, total in
            emit(.progress(AnalysisProgress(phase: .perplexity, done: done, total: total, unit: "pass")))
        }, isCancelled: isCancelled)
        emit(.perplexity(report, threshold: threshold))
    }

    /// The int8 output error of every layer exactly at `threshold` (between grid points the output errors
    /// hold the grid point below).
    public func refineInt8(at threshold: Float, statistics: [String: ActivationStatistics], emit: (AnalysisEvent) -> Void,
                           isCancelled: () -> Bool = { false }) throws {
        for (index, layer) in layers.enumerated() {
            if isCancelled() { throw CancellationError() }
            guard let seen = statistics[layer.name], seen.sampleRows > 0 else { continue }
            let value = ActivationErrors.int8Error(layer, in: model.checkpoint, sample: seen.sample, rows: seen.sampleRows,
                                                   threshold: threshold)
            emit(.int8Refined(index: index, threshold: threshold, value: value))
        }
    }

    /// Outlier columns at a threshold as a share of all the layers' input columns.
    public static func fp16ColumnShare<S: Sequence>(_ statistics: S, at threshold: Float) -> Double where S.Element == ActivationStatistics {
        var outliers = 0, columns = 0
        for seen in statistics {
            outliers += seen.outlierColumns(atLeast: threshold)
            columns += seen.features
        }
        return Double(outliers) / Double(max(columns, 1))
    }

    private static func select(_ linears: [LinearLayer], matching layerFilter: String?) throws -> [LinearLayer] {
        guard let layerFilter else { return linears }
        let pattern: NSRegularExpression
        do {
            pattern = try NSRegularExpression(pattern: layerFilter)
        } catch {
            throw AnalysisError.invalidLayerFilter(layerFilter)
        }
        return linears.filter { layer in
            pattern.firstMatch(in: layer.name, range: NSRange(layer.name.startIndex..., in: layer.name)) != nil
        }
    }
}

/// A layer filter that is not a regular expression; the command line names its flag.
public enum AnalysisError: Error, Equatable, CustomStringConvertible {
    case invalidLayerFilter(String)

    public var description: String {
        switch self {
        case .invalidLayerFilter(let pattern): return "\(pattern): not a valid regular expression"
        }
    }
}
