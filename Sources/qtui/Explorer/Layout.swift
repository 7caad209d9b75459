/// Where each panel goes for a terminal size. Wide terminals put the histogram beside the table,
/// narrow ones (80 columns) below it. Reducer (mouse, paging) and render share it.
struct Layout: Equatable {
    static let minimumWidth = 60
    static let minimumHeight = 14

    let width: Int
    let height: Int
    let header: Rect
    let table: Rect
    let histogram: Rect
    let memory: Rect
    let quality: Rect
    let footer: Rect
    let histogramBeside: Bool

    var isTooSmall: Bool { width < Self.minimumWidth || height < Self.minimumHeight }

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        header = Rect(x: 0, y: 0, width: width, height: 1)
        footer = Rect(x: 0, y: height - 1, width: width, height: 1)
        quality = Rect(x: 0, y: height - 2, width: width, height: 1)
        memory = Rect(x: 0, y: height - 3, width: width, height: 1)
        let middle = max(0, height - 4)
        histogramBeside = width >= 110
        if histogramBeside {
            let side = min(56, width / 3)
            table = Rect(x: 0, y: 1, width: width - side - 1, height: middle)
            histogram = Rect(x: width - side, y: 1, width: side, height: middle)
        } else {
            let below = middle >= 18 ? 9 : 7
            table = Rect(x: 0, y: 1, width: width, height: max(0, middle - below))
            histogram = Rect(x: 0, y: 1 + table.height, width: width, height: min(below, middle))
        }
    }
}

/// The whole screen from the state alone.
func render(_ state: ExplorerState, glyphs: Glyphs = .unicode) -> Frame {
    var frame = Frame(width: state.width, height: state.height)
    let layout = Layout(width: state.width, height: state.height)
    if layout.isTooSmall {
        frame.put("qtui: terminal too small (\(state.width)×\(state.height)); needs \(Layout.minimumWidth)×\(Layout.minimumHeight)",
                  x: 0, y: 0, role: .warn)
        return frame
    }
    HeaderView.draw(&frame, layout.header, state, glyphs)
    LayerTableView.draw(&frame, layout.table, state, glyphs)
    if layout.histogramBeside {
        for y in layout.table.y..<layout.table.maxY { frame.put(String(glyphs.vertical), x: layout.table.maxX, y: y, role: .dim) }
    }
    HistogramView.draw(&frame, layout.histogram, state, glyphs)
    MemoryView.draw(&frame, layout.memory, state, glyphs)
    QualityView.draw(&frame, layout.quality, state, glyphs)
    FooterView.draw(&frame, layout.footer, state, glyphs)
    if state.overlay == .help { HelpOverlay.draw(&frame, state, glyphs) }
    if case .export(let dialog) = state.overlay { ExportDialogView.draw(&frame, state, dialog, glyphs) }
    if glyphs.vertical == Glyphs.ascii.vertical { frame.transliterateToASCII() }
    return frame
}

enum Format {
    static func percent(_ fraction: Double?) -> String {
        guard let fraction, fraction.isFinite else { return "…" }
        let value = fraction * 100
        return value < 10 ? String(format: "%.2f%%", value) : String(format: "%.1f%%", value)
    }

    static func bytes(_ count: Int) -> String { ReportFormatter.formatBytes(count) }

    /// Left-truncates with an ellipsis so the distinctive end of a layer name stays visible.
    static func fit(_ text: String, _ width: Int, _ glyphs: Glyphs) -> String {
        guard width > 0 else { return "" }
        if text.count <= width { return text + String(repeating: " ", count: width - text.count) }
        return String(glyphs.ellipsis) + String(text.suffix(width - 1))
    }

    static func right(_ text: String, _ width: Int) -> String {
        text.count >= width ? String(text.prefix(width)) : String(repeating: " ", count: width - text.count) + text
    }
}
