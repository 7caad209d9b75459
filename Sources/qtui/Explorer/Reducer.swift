import QuantKit

/// Applies an action to the state and returns the effects the loop must run. Pure: no I/O, no clock.
/// Keys and background reports both come through here, so every consequence of a change — a threshold
/// between grid points asking for exact errors, say — follows from the state, whatever caused it.
func reduce(_ state: inout ExplorerState, _ action: Action) -> [Effect] {
    var effects: [Effect]
    switch action {
    case .move, .page, .home, .end, .scroll, .select, .resize:
        state.message = nil
        reduceNavigation(&state, action)
        effects = []
    case .thresholdStep, .cycleSort, .toggleExperts, .toggleHistogramSource, .toggleCountScale, .cyclePanel, .cycleMethod, .toggleDoubleQuant, .cycleBlocksize,
         .toggleSkip:
        state.message = nil
        effects = reducePlan(&state, action)
    case .openFilter, .openThresholdPrompt, .toggleHelp, .closeOverlay, .edit, .completePath, .submit:
        state.message = nil
        effects = reducePrompt(&state, action)
    case .openExport, .measurePerplexity, .cancelWork, .quit, .interrupt:
        state.message = nil
        effects = reduceWorkRequest(&state, action)
    case .progress, .analysis, .exportPlanned, .exported, .ended:
        effects = reduceWorkReport(&state, action)
    }
    clampSelection(&state)
    return effects + refinement(&state)
}

/// Between grid points the int8 errors are measured exactly in the background once the analysis is
/// done; the table marks them ≈ until they arrive. On the grid nothing needs refining.
private func refinement(_ state: inout ExplorerState) -> [Effect] {
    guard state.hasActivations, !state.isAnalysing else { return [] }
    let threshold = state.threshold
    let offGrid = threshold > 0 && !ActivationErrors.defaultGrid.contains(threshold)
    guard offGrid else {
        state.refinementThreshold = nil
        return state.running[.refinement] == nil ? [] : [.cancel(.refinement)]
    }
    guard state.refinementThreshold != threshold else { return [] }
    state.refinementThreshold = threshold
    state.running[.refinement] = WorkProgress(title: AnalysisPhase.refinement.title, done: 0, total: Double(state.layers.count),
                                              unit: "layer")
    return [.refine(threshold: threshold)]
}

/// Keeps the selection on a row and the scroll so that the selection is visible.
func clampSelection(_ state: inout ExplorerState) {
    let rowCount = state.visibleRows.count
    let visible = max(1, Layout(width: state.width, height: state.height).table.height - 1)
    state.selection = rowCount == 0 ? 0 : min(max(state.selection, 0), rowCount - 1)
    if state.selection < state.scroll { state.scroll = state.selection }
    if state.selection >= state.scroll + visible { state.scroll = state.selection - visible + 1 }
    state.scroll = max(0, min(state.scroll, max(0, rowCount - visible)))
}

func next<T: CaseIterable & Equatable>(_ value: T) -> T {
    let all = Array(T.allCases)
    return all[((all.firstIndex(of: value) ?? 0) + 1) % all.count]
}
