/// Totals in bytes, exact to the serialized checkpoint; for an MoE model, the experts bitsandbytes leaves unquantized.
enum MemoryView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        let plan = state.planBytes
        let whole = state.sizes.unquantizedBytes
        let label = state.sizes.unquantizedLabel
        let planText = "plan \(state.method.quantMethod(doubleQuant: state.doubleQuant).rawValue) \(glyphs.right) \(Format.bytes(plan))"
            + String(format: " (%.0f%% of %@)", Double(plan) / Double(max(whole, 1)) * 100, label)
        // An MoE model's experts stay unquantized (bitsandbytes in transformers does not touch them): their share
        // of the whole rides on the first part, which is never cut off.
        let moe = state.sizes.moeKeptBytes
        let experts = moe > 0 ? String(format: " · %.0f%% experts kept", Double(moe) / Double(max(whole, 1)) * 100) : ""
        let parts = [
            "memory  \(label) \(Format.bytes(whole))" + experts,
            "int8 \(Format.bytes(state.totalBytes(.int8)))",
            "nf4 \(Format.bytes(state.totalBytes(.nf4)))",
            "nf4+dq \(Format.bytes(state.totalBytes(.nf4DoubleQuant)))",
        ]
        let text = Format.parts(parts, width: max(0, rect.width - planText.count - 4), separator: " \(glyphs.vertical) ", glyphs: glyphs)
        frame.put(" " + text, x: rect.x, y: rect.y, limit: rect.width)
        frame.put(planText, x: max(rect.x, rect.maxX - planText.count - 1), y: rect.y, role: .good, limit: rect.width)
    }
}
