import Foundation
import QuantKit

/// One Linear layer as the explorer knows it: always its shape and stored size; its weight report
/// once analysed; activation statistics and output errors once calibration provides them.
struct LayerEntry {
    let name: String
    let outFeatures: Int
    let inFeatures: Int
    let dtype: DType
    /// The weight unquantized, in the dtype kept tensors are counted in (a skipped layer's size).
    let storedBytes: Int
    var weights: LayerReport?
    /// What calibration saw at the input (nil: not yet, or weights only).
    var activations: ActivationStatistics?
    /// Output errors on the sampled activations. Their int8 part holds at any blocksize; the 4-bit
    /// part only at `outputErrorsBlocksize`.
    var outputErrors: ActivationErrors?
    var outputErrorsBlocksize: Int?
    /// The int8 output error measured exactly at a threshold off the grid (refined in the background).
    var refined: (threshold: Float, value: Double)?

    var parameterCount: Int { outFeatures * inFeatures }

    /// The int8 error the table shows: on activations at the threshold when known (exact on the grid or
    /// once refined, else the grid point below), else of the weight.
    func int8Error(at threshold: Float) -> (value: Double, exact: Bool)? {
        if let refined, refined.threshold == threshold { return (refined.value, true) }
        if let outputErrors { return outputErrors.int8Error(at: threshold) }
        return weights?.result(for: .int8).map { ($0.relativeError, true) }
    }

    /// A 4-bit method's error on the output at `blocksize` once measured; before calibration, of the weight.
    func error(of method: QuantMethod, blocksize: Int, calibrated: Bool) -> Double? {
        if let outputErrors, outputErrorsBlocksize == blocksize { return outputErrors.fourBit[method] }
        return calibrated ? nil : weights?.result(for: method)?.relativeError
    }
}

enum SortKey: String, CaseIterable {
    case file = "model order", name, outliers, int8Error = "int8 error", fourBitError = "4-bit error", size
    /// MoE experts only: calibration tokens routed to each.
    case routedTokens = "routed tokens"
}

enum HistogramSource { case activations, weights }

/// What the panel beside (or below) the table shows; `f` cycles through them.
enum Panel: CaseIterable {
    /// The selected layer's |x| (or |w|) histogram.
    case histogram
    /// The whole model: blocks down, hidden dimensions across, each column's max |x| against the threshold.
    case outlierMap
    /// int8's KL from fp32 and the fp16 column share along the threshold grid; once perplexity is measured.
    case tradeoff
}

enum Overlay: Equatable {
    case none
    case help
    case prompt(TextPrompt)
    case export(ExportDialog)
}

/// The export dialog: the plan summary and its exact size, an editable path, then progress and result.
struct ExportDialog: Equatable {
    enum Stage: Equatable {
        case editing, running
        case finished(String)
        case failed(String)
    }

    var path: TextPrompt
    var stage: Stage = .editing
    /// What the files will hold on disk (headers included) and the tensor data alone (the plan's figure).
    var fileBytes: Int
    var tensorBytes: Int
    /// Safetensors files; config.json and the tokenizer's files come beside them.
    var weightFiles: Int
    var converted: Int
}

/// Background work the explorer runs; at most one of each at a time.
enum Job: Hashable, CaseIterable {
    case analysis, refinement, perplexity, export
}

/// Perplexity per method as measured on request (`p`), with the plan it was measured for.
struct MeasuredPerplexity {
    let report: PerplexityReport
    let threshold: Float
    let blocksize: Int
    let skipped: Set<String>
}

/// Everything the explorer shows, as a value: keys and background events change it through `reduce`,
/// views draw it.
struct ExplorerState {
    let summary: ModelReport.Model
    let sizes: ModelSizes
    /// The dtype the export writes kept tensors in (nil: as stored).
    let keptDType: DType?
    var layers: [LayerEntry]
    /// An MoE model's routed experts (kept, never in the plan); empty for any other model.
    var experts: [ExpertEntry]
    let expertIndex: [String: Int]
    /// Experts per token, once calibration has seen the routing.
    var expertTopK: Int?
    var table: TableContent = .layers
    /// The Linears whose inputs are the hidden state, where outlier features are counted.
    let hiddenInputs: HiddenStateInputs
    /// Index into `layers` by name (names never change).
    let layerIndex: [String: Int]
    var threshold: Float = 6
    var method: ExportMethod = .int8
    var doubleQuant = false
    var blocksize = 64
    var skipped: Set<String> = []
    var filter = ""
    var sort: SortKey = .file
    var selection = 0
    var scroll = 0
    var overlay: Overlay = .none
    var histogramSource: HistogramSource = .activations
    var panel: Panel = .histogram
    var logCounts = true
    /// The blocksize the current weight reports were computed at (nil: none finished yet).
    var analysedBlocksize: Int?
    /// Work running in the background and how far it is.
    var running: [Job: WorkProgress] = [:]
    var message: String?
    var width = 80
    var height = 24
    /// Calibration tokens, or why there are no activations.
    var calibrationTokens = 0
    var activationsUnavailable: String?
    var perplexity: MeasuredPerplexity?
    /// The off-grid threshold whose exact int8 errors were asked for last.
    var refinementThreshold: Float?

    init(model: OpenedModel, threshold: Float, blocksize: Int, width: Int, height: Int) {
        summary = model.summary
        sizes = model.sizes
        keptDType = model.keptDType
        layers = model.plan.linears.map {
            let dtype = $0.weight.dtype.kept(as: model.keptDType)
            return LayerEntry(name: $0.name, outFeatures: $0.outFeatures, inFeatures: $0.inFeatures, dtype: dtype,
                              storedBytes: $0.weight.elementCount * dtype.byteSize)
        }
        hiddenInputs = HiddenStateInputs(model.plan.linears)
        experts = ExpertEntry.entries(model)
        expertIndex = Dictionary(experts.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        layerIndex = Dictionary(model.plan.linears.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.threshold = threshold
        self.blocksize = blocksize
        self.width = width
        self.height = height
    }

    /// The rows of the table: indices into `layers`, or into `experts` when it lists them.
    var visibleRows: [Int] { table == .experts ? visibleExperts : visibleLayers }

    /// Indices into `layers` that pass the filter, in the chosen order.
    var visibleLayers: [Int] {
        var rows = Array(layers.indices)
        if !filter.isEmpty { rows = rows.filter { Self.matches(layers[$0].name, filter) } }
        func descending(_ key: (LayerEntry) -> Double?) { rows.sort { (key(layers[$0]) ?? -1) > (key(layers[$1]) ?? -1) } }
        switch sort {
        case .file: break
        case .name: rows.sort { layers[$0].name < layers[$1].name }
        case .outliers: descending { $0.activations.map { Double($0.outlierColumns(atLeast: threshold)) } }
        case .int8Error: descending { $0.int8Error(at: threshold)?.value }
        case .fourBitError: descending { fourBitError(of: $0) }
        case .size: descending { Double($0.parameterCount) }
        case .routedTokens: break
        }
        return rows
    }

    var selectedLayer: LayerEntry? {
        guard table == .layers else { return nil }
        let rows = visibleLayers
        return rows.indices.contains(selection) ? layers[rows[selection]] : nil
    }

    /// The 4-bit method the table's second error column shows: nf4 unless fp4 is planned.
    var fourBitMethod: QuantMethod {
        (method == .fp4 ? ExportMethod.fp4 : ExportMethod.nf4).quantMethod(doubleQuant: doubleQuant)
    }

    func fourBitError(of layer: LayerEntry) -> Double? {
        layer.error(of: fourBitMethod, blocksize: blocksize, calibrated: hasActivations)
    }

    var hasActivations: Bool { layers.contains { $0.activations != nil } }
    var isAnalysing: Bool { running[.analysis] != nil }
    /// True at once for a model with nothing to convert (Falcon under transformers 5.24): no analysis runs
    /// for it, and its export is the model with a quantization_config, as transformers saves it.
    var weightsAnalysed: Bool { layers.isEmpty || analysedBlocksize == blocksize && layers.allSatisfy { $0.weights != nil } }

    /// Share of all converted layers' input columns that reach the threshold (what LLM.int8 runs in fp16).
    var outlierColumnShare: Double? { outlierColumnShare(at: threshold) }

    func outlierColumnShare(at threshold: Float) -> Double? {
        guard hasActivations else { return nil }
        return ModelAnalyzer.fp16ColumnShare(layers.compactMap(\.activations), at: threshold)
    }

    /// The statistics calibration produced, for reuse when only the blocksize changes.
    var calibrationStatistics: [String: ActivationStatistics]? {
        let known = layers.compactMap { layer in layer.activations.map { (layer.name, $0) } }
        return known.isEmpty ? nil : Dictionary(uniqueKeysWithValues: known)
    }

    /// A regular expression when the text is one, else a case-insensitive substring.
    static func matches(_ name: String, _ pattern: String) -> Bool {
        if let regex = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) {
            return regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
        }
        return name.localizedCaseInsensitiveContains(pattern)
    }

    /// The plan as an export would write it.
    var exportPlan: ExportPlan {
        var plan = ExportPlan(method: method)
        plan.doubleQuant = doubleQuant && method != .int8
        plan.blocksize = blocksize
        plan.threshold = OutlierThreshold.decimal(threshold)
        plan.skipModules = layers.map(\.name).filter { skipped.contains($0) }
        plan.keptDType = keptDType
        return plan
    }
}
