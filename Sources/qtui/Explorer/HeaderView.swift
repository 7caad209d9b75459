import QuantKit

/// Model name and facts, and the threshold control.
enum HeaderView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        frame.fill(rect, role: .title)
        let model = state.summary
        let value = "\(glyphs.left) \(String(format: "%.2f", state.threshold)) \(glyphs.right) "
        let facts = [model.modelType ?? "unknown architecture", "\(ReportFormatter.formatCount(model.parameterCount)) params",
                     model.dtype?.rawValue ?? "-", Format.bytes(model.fileBytes)]
        var right = "threshold " + value
        var factText = facts.joined(separator: " · ")
        if " qtui  \(model.name) · \(factText)".count + right.count + 1 > rect.width {
            right = value
            factText = factText.replacingOccurrences(of: " params", with: "")
        }
        // The facts stay whole; a long model name gives way first, keeping its distinctive end.
        let nameRoom = rect.width - right.count - 1 - " qtui  ".count - " · ".count - factText.count
        let name = model.name.count <= nameRoom ? model.name : Format.fit(model.name, max(nameRoom, 8), glyphs)
        let left = " qtui  \(name) · " + factText
        frame.put(left, x: rect.x, y: rect.y, role: .title, limit: max(0, rect.width - right.count - 1))
        frame.put(right, x: rect.maxX - right.count, y: rect.y, role: .title)
    }
}
