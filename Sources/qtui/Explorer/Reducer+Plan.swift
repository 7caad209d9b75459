import QuantKit

/// The plan (threshold, method, double quant, blocksize, skips) and how it is shown.
func reducePlan(_ state: inout ExplorerState, _ action: Action) -> [Effect] {
    switch action {
    case .thresholdStep(let step):
        state.threshold = OutlierThreshold.clamp(((state.threshold + step) * 10).rounded() / 10)
    case .cycleSort:
        state.sort = next(state.sort)
        // Only experts are routed tokens: the layer table skips that order.
        if state.sort == .routedTokens && state.table == .layers { state.sort = next(state.sort) }
        state.message = "sorted by \(state.sort.rawValue)"
    case .toggleExperts:
        guard !state.experts.isEmpty else {
            state.message = "no routed MoE experts in this model"
            break
        }
        state.table = state.table == .layers ? .experts : .layers
        if state.sort == .routedTokens && state.table == .layers { state.sort = .file }
        state.selection = 0
        state.scroll = 0
        state.message = state.table == .experts
            ? "MoE experts: kept as stored (bitsandbytes in transformers does not quantize them); errors are what-if"
            : nil
    case .toggleHistogramSource:
        state.histogramSource = state.histogramSource == .activations ? .weights : .activations
        if !state.hasActivations && state.histogramSource == .activations {
            state.message = "no activation statistics for this model: showing weights"
        }
    case .toggleCountScale: state.logCounts.toggle()
    case .cyclePanel:
        state.panel = next(state.panel)
        // The chart has nothing to draw before perplexity is measured.
        if state.panel == .tradeoff && state.perplexity == nil { state.panel = next(state.panel) }
    case .cycleMethod: state.method = next(state.method)
    case .toggleDoubleQuant: state.doubleQuant.toggle()
    case .cycleBlocksize:
        let sizes = [32, 64, 128, 256, 512, 1024, 2048, 4096]
        state.blocksize = sizes[((sizes.firstIndex(of: state.blocksize) ?? 1) + 1) % sizes.count]
        return startAnalysis(&state)
    case .toggleSkip:
        if state.table == .experts {
            state.message = "experts are kept as stored already: bitsandbytes in transformers does not quantize them"
            break
        }
        guard let layer = state.selectedLayer else { break }
        if state.skipped.remove(layer.name) == nil { state.skipped.insert(layer.name) }
    default: break
    }
    return []
}

/// (Re)starts the background analysis at the state's blocksize. Statistics already calibrated are
/// reused: the blocksize changes the 4-bit errors, not what the model sees (and not the int8 errors).
func startAnalysis(_ state: inout ExplorerState) -> [Effect] {
    guard !state.layers.isEmpty else { return [] }
    let reuse = state.hasActivations
    state.running[.analysis] = WorkProgress(title: "\(AnalysisPhase.weights.title) (blocksize \(state.blocksize))", done: 0,
                                            total: Double(state.layers.reduce(0) { $0 + $1.parameterCount }), unit: "param")
    let cancelRefinement: [Effect] = state.running.removeValue(forKey: .refinement) == nil ? [] : [.cancel(.refinement)]
    state.refinementThreshold = nil
    return cancelRefinement + [.analyse(blocksize: state.blocksize, reuseCalibration: reuse)]
}
