import Foundation
import QuantKit

/// Beside the expert table: how the router of the selected expert's layer spread the calibration
/// tokens — a bar per expert (the selected one highlighted), "no calibration tokens" where none went —
/// then why the experts are kept and the selected expert's what-if errors.
enum RoutingView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        guard rect.height >= 3, rect.width >= 20 else { return }
        frame.put(String(repeating: glyphs.horizontal, count: rect.width), x: rect.x, y: rect.y, role: .dim)
        guard let selected = state.selectedExpert else { return }
        let layer = state.experts(of: selected.module)
        let tokens = layer.compactMap(\.routedTokens).reduce(0, +) / max(state.expertTopK ?? 1, 1)
        let routing = state.expertTopK.map { " routing · \(tokens) tokens, top-\($0) · " } ?? " routing · "
        let room = max(0, rect.width - 3 - routing.count)
        frame.put(routing + Format.fit(selected.module, min(room, selected.module.count), glyphs) + " ", x: rect.x + 1, y: rect.y,
                  role: .header, limit: rect.width - 2)
        let notes = notes(selected, state)
        let lines = rect.height - 1 - min(notes.count, max(0, rect.height - 2))
        // The window of experts around the selected one that fits.
        let first = max(0, min(selected.index - lines / 2, layer.count - lines))
        let labelWidth = "e\(layer.count - 1)".count + 1
        let peak = max(layer.compactMap(\.routedTokens).max() ?? 0, 1)
        for (line, expert) in layer.dropFirst(first).prefix(lines).enumerated() {
            let y = rect.y + 1 + line
            let isSelected = expert.index == selected.index
            let label = ("e\(expert.index)").padding(toLength: labelWidth, withPad: " ", startingAt: 0)
            let role: Role = isSelected ? .selected : .normal
            frame.put(label, x: rect.x + 1, y: y, role: role)
            guard let count = expert.routedTokens else {
                frame.put(state.isAnalysing ? "calibrating…" : "needs calibration", x: rect.x + 1 + labelWidth, y: y, role: .dim,
                          limit: rect.width - 2 - labelWidth)
                continue
            }
            guard count > 0 else {
                frame.put("no calibration tokens", x: rect.x + 1 + labelWidth, y: y, role: .warn, limit: rect.width - 2 - labelWidth)
                continue
            }
            let figures = " \(count) " + String(format: "%.1f%%", Double(count) / Double(max(tokens, 1)) * 100)
            let barWidth = max(1, rect.width - 2 - labelWidth - figures.count)
            let filled = max(1, Int((Double(count) / Double(peak) * Double(barWidth)).rounded()))
            frame.put(String(repeating: glyphs.bars[8], count: filled), x: rect.x + 1 + labelWidth, y: y, role: isSelected ? .selected : .bar)
            frame.put(figures, x: rect.x + 1 + labelWidth + filled, y: y, role: role, limit: rect.width - 2 - labelWidth - filled)
        }
        for (offset, note) in notes.suffix(max(0, rect.height - 1 - lines)).enumerated() {
            frame.put(Format.clip(note.text, rect.width - 2, glyphs), x: rect.x + 1, y: rect.y + 1 + lines + offset, role: note.role)
        }
    }

    /// Under the bars, most important last-first: the what-if (labelled), then why the experts are kept.
    private static func notes(_ expert: ExpertEntry, _ state: ExplorerState) -> [(text: String, role: Role)] {
        var notes: [(String, Role)] = [("kept: \(ExpertEntry.reason)", .dim)]
        if let int8 = expert.whatIfInt8(at: state.threshold) {
            let t = String(format: "%g", state.threshold)
            var text = "what-if (not bitsandbytes): int8@\(t) " + (int8.exact ? "" : "≈") + Format.percent(int8.value)
            if let fourBit = expert.whatIf(state.fourBitMethod, blocksize: state.blocksize) {
                text += " · \(state.fourBitMethod.rawValue) " + Format.percent(fourBit)
            }
            notes.append((text, .warn))
        }
        return notes
    }
}
