import Foundation

/// Runs the weight analysis over a checkpoint's converted Linear layers and assembles the report.
/// Never prints: progress goes to a callback, cancellation comes from one.
public struct ModelAnalyzer: Sendable {
    public struct Progress: Sendable {
        /// "weights", "calibration" or "output errors".
        public let phase: String
        public let layerIndex: Int
        public let layerCount: Int
        public let parametersDone: Int
        public let parametersTotal: Int
        public let layerName: String
    }

    /// Calibration text and settings; nil for a weight-only report.
    public struct CalibrationRequest: Sendable {
        public var text: String
        /// "built-in text" or a file name, for the report.
        public var source: String
        public var calibration = Calibration()
        public var threshold: Float = 6
        /// Also measure perplexity per method (a forward pass each) and suggest a threshold.
        public var perplexity = false
        public var perplexityTolerance = 0.01

        public init(text: String, source: String) {
            self.text = text
            self.source = source
        }
    }

    public var analyzer: WeightAnalyzer
    /// Only layers whose module name matches are analysed; totals always cover the whole model.
    public var layerFilter: String?
    public var calibration: CalibrationRequest?

    public init(analyzer: WeightAnalyzer = WeightAnalyzer(), layerFilter: String? = nil, calibration: CalibrationRequest? = nil) {
        self.analyzer = analyzer
        self.layerFilter = layerFilter
        self.calibration = calibration
    }

    public func run(_ checkpoint: Checkpoint, progress: (Progress) -> Void = { _ in },
                    isCancelled: () -> Bool = { false }) throws -> ModelReport {
        let plan = LinearLayerPlan(checkpoint: checkpoint)
        let selected = try select(plan.linears)
        let totalParameters = selected.reduce(0) { $0 + $1.parameterCount }
        var reports: [LayerReport] = []
        var done = 0
        for (index, layer) in selected.enumerated() {
            progress(Progress(phase: "weights", layerIndex: index, layerCount: selected.count, parametersDone: done,
                              parametersTotal: totalParameters, layerName: layer.name))
            reports.append(try analyzer.analyze(layer, in: checkpoint, isCancelled: isCancelled))
            done += layer.parameterCount
        }
        progress(Progress(phase: "weights", layerIndex: selected.count, layerCount: selected.count, parametersDone: done,
                          parametersTotal: totalParameters, layerName: ""))
        var summaryOfCalibration: ModelReport.CalibrationSummary?
        if let request = calibration {
            summaryOfCalibration = try calibrate(checkpoint, selected: selected, reports: &reports, request: request,
                                                 progress: progress, isCancelled: isCancelled)
        }
        let calibrated = summaryOfCalibration?.unavailable == nil && summaryOfCalibration != nil
        return ModelReport(analysis: calibrated ? "weights+activations" : "weights", model: summary(checkpoint),
                           blocksize: analyzer.blocksize, calibration: summaryOfCalibration, layers: reports, kept: kept(plan),
                           totals: totals(plan, reports: reports, checkpoint: checkpoint))
    }

    /// Runs the model on the calibration text and adds activation statistics and output errors to the
    /// selected layers' reports. A model qtui cannot run gets a reason instead, not an error.
    private func calibrate(_ checkpoint: Checkpoint, selected: [LinearLayer], reports: inout [LayerReport],
                           request: CalibrationRequest, progress: (Progress) -> Void,
                           isCancelled: () -> Bool) throws -> ModelReport.CalibrationSummary {
        func unavailable(_ reason: String) -> ModelReport.CalibrationSummary {
            ModelReport.CalibrationSummary(source: request.source, tokens: 0, threshold: request.threshold, unavailable: reason)
        }
        let runtime: ModelRuntime
        let tokenizer: Tokenizer
        do {
            runtime = try ModelRuntime(checkpoint: checkpoint)
            tokenizer = try Calibration.tokenizer(for: checkpoint)
        } catch {
            return unavailable("\(error)")
        }
        let tokens = try request.calibration.tokens(of: request.text, tokenizer: tokenizer)
        guard tokens.count >= 2 else { return unavailable("the calibration text has fewer than 2 tokens") }
        let statistics = try request.calibration.run(runtime, tokens: tokens, progress: { seen in
            progress(Progress(phase: "calibration", layerIndex: seen.layersSeen, layerCount: seen.layerCount,
                              parametersDone: seen.layersSeen, parametersTotal: seen.layerCount, layerName: ""))
        }, isCancelled: isCancelled)
        for (index, layer) in selected.enumerated() {
            if isCancelled() { throw CancellationError() }
            guard let seen = statistics[layer.name] else { continue }
            progress(Progress(phase: "output errors", layerIndex: index, layerCount: selected.count, parametersDone: index,
                              parametersTotal: selected.count, layerName: layer.name))
            let errors = seen.sampleRows > 0
                ? ActivationErrors.measure(layer, in: checkpoint, sample: seen.sample, rows: seen.sampleRows, blocksize: analyzer.blocksize)
                : nil
            reports[index].activations = LayerActivationReport(seen, errors: errors, threshold: request.threshold)
        }
        var summary = ModelReport.CalibrationSummary(source: request.source, tokens: tokens.count, threshold: request.threshold,
                                                     unavailable: nil)
        if request.perplexity, runtime.hasOutputHead {
            summary.perplexity = try PerplexityReport.measure(runtime, tokens: tokens, threshold: request.threshold,
                                                              blocksize: analyzer.blocksize, tolerance: request.perplexityTolerance,
                                                              progress: { done, total in
                progress(Progress(phase: "perplexity", layerIndex: done, layerCount: total, parametersDone: done,
                                  parametersTotal: total, layerName: ""))
            }, isCancelled: isCancelled)
            if let suggested = summary.perplexity?.suggestedThreshold {
                summary.perplexity?.suggestedFp16ColumnShare = Self.fp16ColumnShare(statistics.values, at: suggested)
            }
        }
        return summary
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

    private func select(_ linears: [LinearLayer]) throws -> [LinearLayer] {
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

    private func summary(_ checkpoint: Checkpoint) -> ModelReport.Model {
        var parametersByDType: [DType: Int] = [:]
        for tensor in checkpoint.tensors where tensor.dtype.isDecodableFloat {
            parametersByDType[tensor.dtype, default: 0] += tensor.elementCount
        }
        return ModelReport.Model(
            name: checkpoint.name, path: checkpoint.path, modelType: checkpoint.config?.modelType,
            architectures: checkpoint.config?.architectures ?? [],
            dtype: parametersByDType.max { $0.value < $1.value }?.key, fileBytes: checkpoint.fileBytes,
            tensorCount: checkpoint.tensors.count,
            parameterCount: checkpoint.tensors.reduce(0) { $0 + $1.elementCount }, metadata: checkpoint.metadata)
    }

    private func kept(_ plan: LinearLayerPlan) -> [ModelReport.Kept] {
        plan.kept.map { ModelReport.Kept(name: $0.tensor.name, dtype: $0.tensor.dtype, shape: $0.tensor.shape,
                                         bytes: $0.tensor.byteCount, reason: $0.reason) }
    }

    /// Bytes need no analysis, so totals cover every Linear even when a filter narrowed the layers. An
    /// analysed layer contributes its exact size; for the others the double-quant JSON is taken at its
    /// longest (the nested offset's digits are known only after analysis), a bound a few bytes high.
    private func totals(_ plan: LinearLayerPlan, reports: [LayerReport], checkpoint: Checkpoint) -> ModelReport.Totals {
        let keptBytes = plan.kept.reduce(0) { $0 + $1.tensor.byteCount }
        var analysed: [String: LayerReport] = [:]
        for report in reports { analysed[report.name] = report }
        let methods = QuantMethod.allCases.map { method in
            ModelReport.MethodTotal(method: method, bytes: keptBytes + plan.linears.reduce(0) { sum, layer in
                sum + (analysed[layer.name]?.result(for: method)?.bytes
                    ?? method.serializedBytes(outFeatures: layer.outFeatures, inFeatures: layer.inFeatures,
                                              blocksize: analyzer.blocksize, dtype: layer.weight.dtype.torchName))
            })
        }
        return ModelReport.Totals(
            originalBytes: checkpoint.tensors.reduce(0) { $0 + $1.byteCount }, linearCount: plan.linears.count,
            linearParameters: plan.linears.reduce(0) { $0 + $1.parameterCount }, keptBytes: keptBytes, methods: methods)
    }
}

public enum AnalysisError: Error, Equatable, CustomStringConvertible {
    case invalidLayerFilter(String)

    public var description: String {
        switch self {
        case .invalidLayerFilter(let pattern): return "--layers \(pattern): not a valid regular expression"
        }
    }
}
