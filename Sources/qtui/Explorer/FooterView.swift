import QuantKit

/// Key hints, a transient message, or the open prompt.
enum FooterView {
    static func hintLine(width: Int, state: ExplorerState) -> String {
        var chosen: [String] = []
        for hint in KeyBindings.footerHints(table: state.table, hasExperts: !state.experts.isEmpty) {
            let candidate = " " + (chosen + [hint] + KeyBindings.footerAlways).joined(separator: "  ")
            if candidate.count > width { break }
            chosen.append(hint)
        }
        return " " + (chosen + KeyBindings.footerAlways).joined(separator: "  ")
    }

    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        frame.fill(rect, role: .header)
        if case .prompt(let prompt) = state.overlay {
            let (label, keys) = prompt.purpose == .filter
                ? (" / filter (text or regex): ", "   Enter keeps, Esc closes")
                : (" threshold (\(OutlierThreshold.rangeDescription)): ", "   Enter sets, Esc cancels")
            let room = rect.width - label.count - (rect.width >= 60 ? keys.count : 0)
            let line = label + prompt.visible(width: max(room, 4), ellipsis: glyphs.ellipsis) + (rect.width >= 60 ? keys : "")
            frame.put(line, x: rect.x, y: rect.y, role: .input, limit: rect.width)
        } else if let message = state.message {
            frame.put(" " + message, x: rect.x, y: rect.y, role: .warn, limit: rect.width)
        } else {
            frame.put(hintLine(width: rect.width, state: state), x: rect.x, y: rect.y, role: .header, limit: rect.width)
        }
    }
}
