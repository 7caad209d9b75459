/// Applies an action to the state and says what the loop must do next. Pure: no I/O.
func reduce(_ state: inout ExplorerState, _ action: Action) -> Reaction {
    let rowCount = state.visibleRows.count
    let pageSize = max(1, Layout(width: state.width, height: state.height).table.height - 1)
    state.message = nil
    switch action {
    case .move(let delta): state.selection += delta
    case .page(let delta): state.selection += delta * pageSize
    case .home: state.selection = 0
    case .end: state.selection = rowCount - 1
    case .scroll(let delta):
        state.scroll += delta * 3
        state.selection += delta * 3
    case .thresholdStep(let step):
        state.threshold = clampThreshold(((state.threshold + step) * 10).rounded() / 10)
    case .setThreshold(let value):
        state.threshold = clampThreshold(value)
    case .cycleSort:
        state.sort = next(state.sort)
        state.message = "sorted by \(state.sort.rawValue)"
    case .toggleHistogramSource:
        state.histogramSource = state.histogramSource == .activations ? .weights : .activations
        if !state.hasActivations && state.histogramSource == .activations {
            state.message = "no activation statistics for this model: showing weights"
        }
    case .toggleCountScale: state.logCounts.toggle()
    case .cycleMethod: state.method = next(state.method)
    case .toggleDoubleQuant: state.doubleQuant.toggle()
    case .cycleBlocksize:
        let sizes = [32, 64, 128, 256, 512, 1024, 2048, 4096]
        state.blocksize = sizes[((sizes.firstIndex(of: state.blocksize) ?? 1) + 1) % sizes.count]
        clampSelection(&state)
        return .reanalyse
    case .toggleSkip:
        guard let layer = state.selectedLayer else { break }
        if state.skipped.remove(layer.name) == nil { state.skipped.insert(layer.name) }
    case .openFilter: state.overlay = .filter(state.filter)
    case .openThresholdPrompt: state.overlay = .threshold("")
    case .toggleHelp: state.overlay = state.overlay == .help ? .none : .help
    case .closeOverlay: state.overlay = .none
    case .measurePerplexity:
        guard state.progress == nil else {
            state.message = "perplexity can start when the background work is done"
            return .redraw
        }
        guard state.hasActivations else {
            state.message = "perplexity needs a model qtui can run (this one is weight-only)"
            return .redraw
        }
        return .startPerplexity
    case .openExport:
        guard state.layers.allSatisfy({ $0.weights != nil }) else {
            state.message = "export can start once the weights are analysed"
            return .redraw
        }
        return .prepareExport
    case .type(let character):
        if case .filter(let text) = state.overlay {
            state.overlay = .filter(text + String(character))
            state.filter = text + String(character)
            state.selection = 0
        } else if case .threshold(let text) = state.overlay, character.isNumber || character == "." {
            state.overlay = .threshold(text + String(character))
        } else if case .export(var dialog) = state.overlay {
            dialog.path.append(character)
            state.overlay = .export(dialog)
        }
    case .erase:
        if case .filter(let text) = state.overlay {
            state.overlay = .filter(String(text.dropLast()))
            state.filter = String(text.dropLast())
        } else if case .threshold(let text) = state.overlay {
            state.overlay = .threshold(String(text.dropLast()))
        } else if case .export(var dialog) = state.overlay {
            dialog.path.removeLast(dialog.path.isEmpty ? 0 : 1)
            state.overlay = .export(dialog)
        }
    case .submit:
        if case .export(var dialog) = state.overlay {
            guard !dialog.path.isEmpty else { return .redraw }
            dialog.stage = .running
            state.overlay = .export(dialog)
            return .startExport
        }
        if case .threshold(let text) = state.overlay {
            if let value = Float(text), ExplorerState.thresholdRange.contains(value) {
                state.threshold = value
            } else {
                state.message = "threshold must be a number from 0 to 100"
            }
        }
        state.overlay = .none
    case .select(let x, let y):
        let table = Layout(width: state.width, height: state.height).table
        if x >= table.x, x < table.maxX, y > table.y, y < table.maxY {
            state.selection = state.scroll + (y - table.y - 1)
        }
    case .resize(let width, let height):
        state.width = width
        state.height = height
    case .cancelWork:
        return state.progress == nil ? .redraw : .cancelWork
    case .quit:
        return .quit
    }
    clampSelection(&state)
    return .redraw
}

private func clampThreshold(_ value: Float) -> Float {
    min(max(value, ExplorerState.thresholdRange.lowerBound), ExplorerState.thresholdRange.upperBound)
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

private func next<T: CaseIterable & Equatable>(_ value: T) -> T {
    let all = Array(T.allCases)
    return all[(all.firstIndex(of: value)! + 1) % all.count]
}
