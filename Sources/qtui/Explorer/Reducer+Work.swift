import QuantKit

/// Requests for background work (export, perplexity, cancel, quit).
func reduceWorkRequest(_ state: inout ExplorerState, _ action: Action) -> [Effect] {
    switch action {
    case .openExport:
        guard state.weightsAnalysed else {
            state.message = "export can start once the weights are analysed"
            return []
        }
        guard state.running[.export] == nil else { return [] }
        return [.planExport(state.exportPlan)]
    case .measurePerplexity:
        guard !state.layers.isEmpty else {
            state.message = "nothing to measure: transformers + bitsandbytes convert none of this model's Linears"
            return []
        }
        guard state.hasActivations else {
            state.message = state.activationsUnavailable == nil
                ? "perplexity can start once calibration is done"
                : "perplexity needs a model qtui can run (this one is weight-only)"
            return []
        }
        guard !state.isAnalysing, state.running[.perplexity] == nil else {
            state.message = "perplexity can start when the background work is done"
            return []
        }
        state.running[.perplexity] = WorkProgress(title: AnalysisPhase.perplexity.title, done: 0, total: 1, unit: "pass")
        return [.measurePerplexity(threshold: state.threshold, blocksize: state.blocksize, skipModules: state.exportPlan.skipModules)]
    case .cancelWork:
        let jobs = Job.allCases.filter { state.running[$0] != nil }
        return jobs.map { .cancel($0) }
    case .quit: return [.exit(.quit)]
    case .interrupt: return [.exit(.interrupted)]
    default: return []
    }
}

/// Reports from the background folded into the state.
func reduceWorkReport(_ state: inout ExplorerState, _ action: Action) -> [Effect] {
    switch action {
    case .progress(let job, let progress):
        if state.running[job] != nil { state.running[job] = progress }
    case .analysis(let event):
        apply(event, to: &state)
    case .exportPlanned(let dialog):
        state.overlay = .export(dialog)
    case .exported(let summary):
        if case .export(var dialog) = state.overlay {
            dialog.stage = .finished(summary)
            state.overlay = .export(dialog)
        }
    case .ended(let job, let outcome):
        state.running[job] = nil
        ended(job, outcome, &state)
    default: break
    }
    return []
}

private func apply(_ event: AnalysisEvent, to state: inout ExplorerState) {
    switch event {
    case .progress: break
    case .weights(let index, let report):
        if state.layers.indices.contains(index) { state.layers[index].weights = report }
    case .weightsFinished(let blocksize):
        state.analysedBlocksize = blocksize
    case .calibrated(let tokens, let statistics):
        state.calibrationTokens = tokens
        for index in state.layers.indices { state.layers[index].activations = statistics[state.layers[index].name] }
    case .experts(let layers):
        state.setExperts(layers)
    case .expertWhatIf(let errors):
        if let index = state.expertIndex[ExpertEntry.name(errors.module, errors.expert)] {
            state.experts[index].whatIf = errors
            state.experts[index].whatIfBlocksize = state.blocksize
        }
    case .activationsUnavailable(let reason):
        state.activationsUnavailable = reason
        state.histogramSource = .weights
        state.message = "weights only: \(reason)"
    case .outputErrors(let index, let errors):
        if state.layers.indices.contains(index) {
            state.layers[index].outputErrors = errors
            state.layers[index].outputErrorsBlocksize = state.blocksize
        }
    case .int8Refined(let index, let threshold, let value):
        if state.layers.indices.contains(index) { state.layers[index].refined = (threshold, value) }
    case .perplexity(let report, let threshold):
        state.perplexity = MeasuredPerplexity(report: report, threshold: threshold, blocksize: state.blocksize, skipped: state.skipped)
        // What `p` was asked for: the trade-off along the grid, shown at once (f cycles back).
        state.panel = .tradeoff
    case .perplexityUnavailable(let reason):
        state.message = "no perplexity: \(reason)"
    }
}

private func ended(_ job: Job, _ outcome: JobOutcome, _ state: inout ExplorerState) {
    switch (job, outcome) {
    case (_, .completed): break
    case (.analysis, .cancelled):
        let unmeasured = state.hasActivations ? state.layers.filter { $0.activations != nil && $0.outputErrors == nil }.count : 0
        let unanalysed = state.layers.filter { $0.weights == nil }.count
        state.message = "analysis cancelled: " + (unanalysed > 0 ? "\(unanalysed) layers have no weight numbers"
            : unmeasured > 0 ? "\(unmeasured) layers have no output errors (—)" : "nothing was left to do")
    case (.refinement, .cancelled): break
    case (.perplexity, .cancelled): state.message = "perplexity cancelled"
    case (.export, .cancelled), (.export, .failed):
        let reason: String
        if case .failed(let why) = outcome { reason = why } else { reason = "export cancelled" }
        if case .export(var dialog) = state.overlay {
            dialog.stage = .failed(reason)
            state.overlay = .export(dialog)
        } else {
            state.message = reason
        }
    case (_, .failed(let reason)):
        state.message = "\(job) failed: \(reason)"
    }
}
