import Foundation
import QuantKit

/// Overlays and the three prompts (filter, threshold, export path), which share one editor.
func reducePrompt(_ state: inout ExplorerState, _ action: Action) -> [Effect] {
    switch action {
    case .openFilter: state.overlay = .prompt(TextPrompt(.filter, text: state.filter))
    case .openThresholdPrompt: state.overlay = .prompt(TextPrompt(.threshold))
    case .toggleHelp: state.overlay = state.overlay == .help ? .none : .help
    case .closeOverlay:
        if case .export(let dialog) = state.overlay, dialog.stage == .running { return [] }
        state.overlay = .none
    case .edit(let edit):
        switch state.overlay {
        case .prompt(var prompt):
            prompt.apply(edit)
            state.overlay = .prompt(prompt)
            if prompt.purpose == .filter {
                state.filter = prompt.text
                state.selection = 0
            }
        case .export(var dialog) where dialog.stage == .editing:
            dialog.path.apply(edit)
            state.overlay = .export(dialog)
        default: break
        }
    case .completePath:
        if case .export(let dialog) = state.overlay, dialog.stage == .editing { return [.completePath(dialog.path.text)] }
    case .submit:
        return submit(&state)
    default: break
    }
    return []
}

private func submit(_ state: inout ExplorerState) -> [Effect] {
    switch state.overlay {
    case .export(var dialog):
        let path = dialog.path.text.trimmingCharacters(in: .whitespaces)
        guard !path.isEmpty else {
            state.message = "type the folder to write"
            return []
        }
        dialog.stage = .running
        state.overlay = .export(dialog)
        state.running[.export] = WorkProgress(title: "exporting", done: 0, total: Double(dialog.fileBytes), unit: "B")
        return [.export(path: (path as NSString).expandingTildeInPath)]
    case .prompt(let prompt) where prompt.purpose == .threshold:
        let text = prompt.text.trimmingCharacters(in: .whitespaces)
        if let value = Float(text), value.isFinite, OutlierThreshold.range.contains(value) {
            state.threshold = value
        } else {
            state.message = "\"\(text)\" is not a threshold: type a number from \(OutlierThreshold.rangeDescription)"
        }
    default: break
    }
    state.overlay = .none
    return []
}
