import Foundation

/// Runs the weight analysis over a checkpoint's converted Linear layers and assembles the report.
/// Never prints: progress goes to a callback, cancellation comes from one.
public struct ModelAnalyzer: Sendable {
    public struct Progress: Sendable {
        public let layerIndex: Int
        public let layerCount: Int
        public let parametersDone: Int
        public let parametersTotal: Int
        public let layerName: String
    }

    public var analyzer: WeightAnalyzer
    /// Only layers whose module name matches are analysed; totals always cover the whole model.
    public var layerFilter: String?

    public init(analyzer: WeightAnalyzer = WeightAnalyzer(), layerFilter: String? = nil) {
        self.analyzer = analyzer
        self.layerFilter = layerFilter
    }

    public func run(_ checkpoint: Checkpoint, progress: (Progress) -> Void = { _ in },
                    isCancelled: () -> Bool = { false }) throws -> ModelReport {
        let plan = LinearLayerPlan(checkpoint: checkpoint)
        let selected = try select(plan.linears)
        let totalParameters = selected.reduce(0) { $0 + $1.parameterCount }
        var reports: [LayerReport] = []
        var done = 0
        for (index, layer) in selected.enumerated() {
            progress(Progress(layerIndex: index, layerCount: selected.count, parametersDone: done,
                              parametersTotal: totalParameters, layerName: layer.name))
            reports.append(try analyzer.analyze(layer, in: checkpoint, isCancelled: isCancelled))
            done += layer.parameterCount
        }
        progress(Progress(layerIndex: selected.count, layerCount: selected.count, parametersDone: done,
                          parametersTotal: totalParameters, layerName: ""))
        return ModelReport(analysis: "weights", model: summary(checkpoint), blocksize: analyzer.blocksize,
                           layers: reports, kept: kept(plan), totals: totals(plan, reports: reports, checkpoint: checkpoint))
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
