import Foundation
import QuantKit

/// One Linear layer as the explorer knows it: always its shape and stored size; its weight report
/// once analysed; activation statistics once calibration provides them (nil: weights only).
struct LayerEntry {
    let name: String
    let outFeatures: Int
    let inFeatures: Int
    let dtype: DType
    let storedBytes: Int
    var weights: LayerReport?
    /// What calibration saw at the input (nil: weights only).
    var activations: ActivationStatistics?
    /// Output errors on the sampled activations (computed after calibration).
    var outputErrors: ActivationErrors?
    /// The int8 output error measured exactly at a threshold off the grid (refined in the background).
    var refined: (threshold: Float, value: Double)?

    var parameterCount: Int { outFeatures * inFeatures }

    /// The int8 error the table shows: on activations at the threshold when known (exact on the grid,
    /// else the grid point below), else of the weight.
    func int8Error(at threshold: Float) -> (value: Double, exact: Bool)? {
        if let refined, refined.threshold == threshold { return (refined.value, true) }
        if let outputErrors { return outputErrors.int8Error(at: threshold) }
        return weights?.result(for: .int8).map { ($0.relativeError, true) }
    }

    func error(of method: QuantMethod) -> Double? {
        outputErrors?.fourBit[method] ?? weights?.result(for: method)?.relativeError
    }
}

enum SortKey: String, CaseIterable {
    case file = "model order", name, outliers, int8Error = "int8 error", fourBitError = "4-bit error", size
}

enum HistogramSource { case activations, weights }

enum Overlay: Equatable {
    case none
    case help
    case filter(String)
    case threshold(String)
    case export(ExportDialog)
}

/// The export dialog: the plan summary and its exact size, an editable path, then progress and result.
struct ExportDialog: Equatable {
    enum Stage: Equatable {
        case editing, running
        case finished(String)
        case failed(String)
    }

    var path: String
    var stage: Stage = .editing
    var predictedBytes: Int
    var files: Int
    var converted: Int
}

/// Work running in the background, as the screen shows it.
struct WorkProgress: Equatable {
    var title: String
    var done: Double
    var total: Double
    var unit: String
    var rate: Double
    var secondsLeft: Double
}

/// Everything the explorer shows, as a value: keys change it through `reduce`, views draw it.
struct ExplorerState {
    struct Model {
        var name: String
        var architecture: String
        var parameterCount: Int
        var dtype: String
        var fileBytes: Int
        /// Tensor data bytes of everything that is not a converted Linear weight (kept as stored).
        var keptBytes: Int
        /// The whole model with every float tensor in fp16 (what `torch_dtype=float16` loads).
        var fp16Bytes: Int
    }

    var model: Model
    var layers: [LayerEntry]
    var threshold: Float = 6
    var method: ExportMethod = .int8
    var doubleQuant = false
    var blocksize = 64
    var skipped: Set<String> = []
    var filter = ""
    var sort: SortKey = .file
    var histogramSource: HistogramSource = .activations
    var logCounts = true
    var selection = 0
    var scroll = 0
    var overlay: Overlay = .none
    var progress: WorkProgress?
    /// Blocksize the weight errors were computed with (they are redone in the background on change).
    var analysedBlocksize = 64
    var message: String?
    var width = 80
    var height = 24

    static let thresholdRange: ClosedRange<Float> = 0...100

    /// Indices into `layers` that pass the filter, in the chosen order.
    var visibleRows: [Int] {
        var rows = Array(layers.indices)
        if !filter.isEmpty { rows = rows.filter { Self.matches(layers[$0].name, filter) } }
        switch sort {
        case .file: break
        case .name: rows.sort { layers[$0].name < layers[$1].name }
        case .outliers:
            let t = threshold
            rows.sort { (layers[$0].activations?.outlierColumns(atLeast: t) ?? -1) > (layers[$1].activations?.outlierColumns(atLeast: t) ?? -1) }
        case .int8Error:
            let t = threshold
            rows.sort { (layers[$0].int8Error(at: t)?.value ?? -1) > (layers[$1].int8Error(at: t)?.value ?? -1) }
        case .fourBitError:
            let method = fourBitMethod
            rows.sort { (layers[$0].error(of: method) ?? -1) > (layers[$1].error(of: method) ?? -1) }
        case .size: rows.sort { layers[$0].parameterCount > layers[$1].parameterCount }
        }
        return rows
    }

    var selectedLayer: LayerEntry? {
        let rows = visibleRows
        return rows.indices.contains(selection) ? layers[rows[selection]] : nil
    }

    /// The 4-bit method the table's second error column shows: nf4 unless fp4 is planned.
    var fourBitMethod: QuantMethod {
        (method == .fp4 ? ExportMethod.fp4 : ExportMethod.nf4).quantMethod(doubleQuant: doubleQuant)
    }

    var hasActivations: Bool { layers.contains { $0.activations != nil } }
    /// Calibration tokens, or why there are no activations.
    var calibrationTokens = 0
    var activationsUnavailable: String?
    /// Perplexity per method, measured on request (`p`), at `perplexity.threshold`.
    var perplexity: (report: PerplexityReport, threshold: Float)?

    /// Share of all converted layers' input columns that reach the threshold (what LLM.int8 runs in fp16).
    var outlierColumnShare: Double? { outlierColumnShare(at: threshold) }

    func outlierColumnShare(at threshold: Float) -> Double? {
        guard hasActivations else { return nil }
        return ModelAnalyzer.fp16ColumnShare(layers.compactMap(\.activations), at: threshold)
    }

    /// Mean output error over the layers with output errors, per method (int8 at the threshold).
    func meanOutputError(_ method: QuantMethod?, honourSkips: Bool = false) -> Double? {
        let measured = layers.filter { $0.outputErrors != nil }
        guard !measured.isEmpty else { return nil }
        let total = measured.reduce(0.0) { sum, layer in
            if honourSkips && skipped.contains(layer.name) { return sum }
            guard let method else { return sum + layer.outputErrors!.int8Error(at: threshold).value }
            return sum + (method == .int8 ? layer.outputErrors!.int8Pure : layer.outputErrors!.fourBit[method] ?? 0)
        }
        return total / Double(measured.count)
    }

    /// A regular expression when the text is one, else a case-insensitive substring.
    static func matches(_ name: String, _ pattern: String) -> Bool {
        if let regex = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) {
            return regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
        }
        return name.localizedCaseInsensitiveContains(pattern)
    }

    // MARK: sizes

    /// Bytes of one layer's weight in a method (exact when analysed at the current blocksize).
    func bytes(of layer: LayerEntry, in method: QuantMethod) -> Int {
        if analysedBlocksize == blocksize, let result = layer.weights?.result(for: method) { return result.bytes }
        return method.serializedBytes(outFeatures: layer.outFeatures, inFeatures: layer.inFeatures, blocksize: blocksize,
                                      dtype: layer.dtype.torchName)
    }

    /// The whole model with every converted Linear in `method` (kept tensors as stored).
    func totalBytes(_ method: QuantMethod) -> Int {
        model.keptBytes + layers.reduce(0) { $0 + bytes(of: $1, in: method) }
    }

    /// The plan: skipped layers as stored, the rest in the chosen method.
    var planBytes: Int {
        let method = method.quantMethod(doubleQuant: doubleQuant)
        return model.keptBytes + layers.reduce(0) { sum, layer in
            sum + (skipped.contains(layer.name) ? layer.storedBytes : bytes(of: layer, in: method))
        }
    }

    // MARK: quality

    /// Relative error of all converted weights together, ‖W_q − W‖/‖W‖ over the model; nil before
    /// any layer is analysed. Skipped layers count as exact when `honourSkips`.
    func combinedError(_ method: QuantMethod, honourSkips: Bool = false) -> Double? {
        var error = 0.0, norm = 0.0
        for layer in layers {
            guard let report = layer.weights, let result = report.result(for: method) else { continue }
            let squares = report.statistics.sumOfSquares
            norm += squares
            if !(honourSkips && skipped.contains(layer.name)) { error += result.relativeError * result.relativeError * squares }
        }
        return norm > 0 ? (error / norm).squareRoot() : nil
    }
}
