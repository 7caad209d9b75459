import QuantKit

/// Model name and facts, and the threshold control.
enum HeaderView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        frame.fill(rect, role: .title)
        let model = state.summary
        let value = "\(glyphs.left) \(String(format: "%.2f", state.threshold)) \(glyphs.right) "
        let facts = [model.modelType ?? "unknown architecture", "\(ReportFormatter.formatCount(model.parameterCount)) params",
                     model.dtype?.rawValue ?? "-", Format.bytes(model.fileBytes)]
        var left = " qtui  \(model.name) · " + facts.joined(separator: " · ")
        var right = "threshold " + value
        if left.count + right.count + 1 > rect.width {
            right = value
            left = " qtui  \(model.name) · " + facts.joined(separator: " · ").replacingOccurrences(of: " params", with: "")
        }
        frame.put(left, x: rect.x, y: rect.y, role: .title, limit: max(0, rect.width - right.count - 1))
        frame.put(right, x: rect.maxX - right.count, y: rect.y, role: .title)
    }
}
