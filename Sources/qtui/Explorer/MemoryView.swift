/// Totals in bytes, exact to the serialized checkpoint.
enum MemoryView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        let plan = state.planBytes
        let whole = state.sizes.unquantizedBytes
        let label = state.sizes.unquantizedLabel
        let planText = "plan \(state.method.quantMethod(doubleQuant: state.doubleQuant).rawValue) \(glyphs.right) \(Format.bytes(plan))"
            + String(format: " (%.0f%% of %@)", Double(plan) / Double(max(whole, 1)) * 100, label)
        let parts = [
            "memory  \(label) \(Format.bytes(whole))",
            "int8 \(Format.bytes(state.totalBytes(.int8)))",
            "nf4 \(Format.bytes(state.totalBytes(.nf4)))",
            "nf4+dq \(Format.bytes(state.totalBytes(.nf4DoubleQuant)))",
        ]
        let text = Format.parts(parts, width: max(0, rect.width - planText.count - 4), separator: " \(glyphs.vertical) ", glyphs: glyphs)
        frame.put(" " + text, x: rect.x, y: rect.y, limit: rect.width)
        frame.put(planText, x: max(rect.x, rect.maxX - planText.count - 1), y: rect.y, role: .good, limit: rect.width)
    }
}
