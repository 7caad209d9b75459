import QuantKit

/// The whole screen from the state alone.
func render(_ state: ExplorerState, glyphs: Glyphs = .unicode) -> Frame {
    var frame = Frame(width: state.width, height: state.height)
    let layout = Layout(width: state.width, height: state.height)
    if layout.isTooSmall {
        let lines = ["qtui: terminal too small", "(\(state.width)×\(state.height));", "needs \(Layout.minimumWidth)×\(Layout.minimumHeight)",
                     "q quits"]
        let text = lines.joined(separator: " ")
        if text.count <= state.width {
            frame.put(text, x: 0, y: 0, role: .warn)
        } else {
            for (row, line) in lines.enumerated() { frame.put(line, x: 0, y: row, role: .warn) }
        }
        return frame
    }
    HeaderView.draw(&frame, layout.header, state, glyphs)
    LayerTableView.draw(&frame, layout.table, state, glyphs)
    if layout.histogramBeside {
        for y in layout.table.y..<layout.table.maxY { frame.put(String(glyphs.vertical), x: layout.table.maxX, y: y, role: .dim) }
    }
    switch state.panel {
    case .histogram where state.table == .experts: RoutingView.draw(&frame, layout.histogram, state, glyphs)
    case .histogram: HistogramView.draw(&frame, layout.histogram, state, glyphs)
    case .outlierMap: OutlierMapView.draw(&frame, layout.histogram, state, glyphs)
    case .tradeoff: TradeoffView.draw(&frame, layout.histogram, state, glyphs)
    }
    MemoryView.draw(&frame, layout.memory, state, glyphs)
    QualityView.draw(&frame, layout.quality, state, glyphs)
    FooterView.draw(&frame, layout.footer, state, glyphs)
    if state.overlay == .help { HelpOverlay.draw(&frame, glyphs) }
    if case .export(let dialog) = state.overlay { ExportDialogView.draw(&frame, state, dialog, glyphs) }
    if glyphs.vertical == Glyphs.ascii.vertical { frame.transliterateToASCII() }
    return frame
}
