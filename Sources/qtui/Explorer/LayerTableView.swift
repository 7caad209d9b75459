import QuantKit

/// The layer list: one row per converted Linear (or, by `x`, per routed MoE expert), selection
/// highlighted, scrolled to stay visible.
enum LayerTableView {
    /// Widths of the columns after the name; each starts with at least one space.
    static let columns = (shape: 10, outliers: 11, int8: 9, fourBit: 11, plan: 6)
    static var fixedWidth: Int { 1 + columns.shape + columns.outliers + columns.int8 + columns.fourBit + columns.plan }

    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        guard rect.height > 0 else { return }
        if state.table == .experts { return ExpertTableView.draw(&frame, rect, state, glyphs) }
        let nameWidth = max(8, rect.width - fixedWidth)
        let rows = state.visibleRows
        let title = rows.count > rect.height - 1 ? "Layer \(state.selection + 1)/\(rows.count)" : "Layer"
        let header = " " + Format.fit(title, nameWidth, glyphs) + Format.right("out×in", columns.shape)
            + Format.right("outl.cols", columns.outliers) + Format.right("int8 err", columns.int8)
            + Format.right("\(state.fourBitMethod.rawValue) err", columns.fourBit) + "  plan"
        let empty = state.filter.isEmpty ? "  no Linear layers to convert" : "  no layer matches \"\(state.filter)\""
        TableRows.draw(&frame, rect, state, glyphs, header: header, empty: empty, rows: rows) { index in
            let layer = state.layers[index]
            let skipped = state.skipped.contains(layer.name)
            let text = Format.fit(layer.name, nameWidth, glyphs)
                + Format.right("\(layer.outFeatures)×\(layer.inFeatures)", columns.shape)
                + Format.right(outliers(layer, state), columns.outliers)
                + Format.right(int8(layer, state), columns.int8)
                + Format.right(fourBit(layer, state), columns.fourBit)
                + "  " + (skipped ? "skip" : state.method.rawValue)
            return (text, skipped ? .dim : .normal)
        }
    }

    private static func outliers(_ layer: LayerEntry, _ state: ExplorerState) -> String {
        guard let seen = layer.activations else { return "—" }
        let count = seen.outlierColumns(atLeast: state.threshold)
        return "\(count) " + String(format: "%.1f%%", Double(count) / Double(max(layer.inFeatures, 1)) * 100)
    }

    /// ≈ marks the grid point below an off-grid threshold until the exact value arrives.
    private static func int8(_ layer: LayerEntry, _ state: ExplorerState) -> String {
        guard let error = layer.int8Error(at: state.threshold), !(state.hasActivations && layer.activations != nil && layer.outputErrors == nil)
        else { return pending(state) }
        return (error.exact ? "" : "≈") + Format.percent(error.value)
    }

    private static func fourBit(_ layer: LayerEntry, _ state: ExplorerState) -> String {
        guard let error = state.fourBitError(of: layer) else { return pending(state) }
        return Format.percent(error)
    }

    /// "…" while the background work may still bring the value; "—" once it will not.
    private static func pending(_ state: ExplorerState) -> String { state.isAnalysing ? "…" : "—" }
}
