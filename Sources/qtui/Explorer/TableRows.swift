/// What the layer table and the expert table share: the header line, the line shown when the filter
/// leaves no row, and the visible rows — scrolled, the selection marked and painted. Each table makes
/// its own header and rows.
enum TableRows {
    /// `rows` are the visible entries' indices; `row` gives an entry's text (after the selection mark)
    /// and its role when not selected.
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs, header: String,
                     empty: String, rows: [Int], row: (_ index: Int) -> (text: String, role: Role)) {
        frame.fill(Rect(x: rect.x, y: rect.y, width: rect.width, height: 1), role: .header)
        frame.put(header, x: rect.x, y: rect.y, role: .header, limit: rect.width)
        if rows.isEmpty {
            frame.put(empty, x: rect.x, y: rect.y + 1, role: .dim, limit: rect.width)
            return
        }
        for line in 0..<(rect.height - 1) {
            let position = state.scroll + line
            guard position < rows.count else { break }
            let y = rect.y + 1 + line
            let (text, role) = row(rows[position])
            if position == state.selection {
                frame.put(String(glyphs.selected) + text, x: rect.x, y: y, role: .selected, limit: rect.width)
                frame.paint(Rect(x: rect.x, y: y, width: rect.width, height: 1), role: .selected)
            } else {
                frame.put(" " + text, x: rect.x, y: y, role: role, limit: rect.width)
            }
        }
    }
}
