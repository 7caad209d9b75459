/// What a colour means on screen; the terminal backend maps roles to colour pairs once.
enum Role: UInt8, CaseIterable {
    case normal, dim, title, header, selected, alert, good, warn, bar, marker, input
}

struct Cell: Equatable {
    var character: Character = " "
    var role: Role = .normal
}

/// A grid of cells that views draw into; the backend shows it, tests read it as text.
/// Every write is clipped to the grid, so a view can never draw outside the screen.
struct Frame: Equatable {
    let width: Int
    let height: Int
    private(set) var cells: [Cell]

    init(width: Int, height: Int) {
        self.width = max(width, 0)
        self.height = max(height, 0)
        cells = Array(repeating: Cell(), count: self.width * self.height)
    }

    subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { if x >= 0, y >= 0, x < width, y < height { cells[y * width + x] = newValue } }
    }

    /// Writes `text` from (x, y), clipped to `limit` columns (and to the grid). Text that does not fit
    /// ends in an ellipsis, so a cut is always visible. Returns columns written.
    @discardableResult
    mutating func put(_ text: String, x: Int, y: Int, role: Role = .normal, limit: Int = .max) -> Int {
        guard y >= 0, y < height else { return 0 }
        var column = x
        let end = limit >= width - x ? width : min(width, x + max(limit, 0))
        for character in text {
            if column >= end {
                if column - 1 >= max(x, 0) { cells[y * width + column - 1] = Cell(character: "…", role: role) }
                break
            }
            if column >= 0 { cells[y * width + column] = Cell(character: character, role: role) }
            column += 1
        }
        return max(0, column - x)
    }

    mutating func fill(_ rect: Rect, character: Character = " ", role: Role = .normal) {
        for y in rect.y..<rect.y + rect.height {
            for x in rect.x..<rect.x + rect.width { self[x, y] = Cell(character: character, role: role) }
        }
    }

    /// Changes the role of a row segment, keeping the characters (selection highlight).
    mutating func paint(_ rect: Rect, role: Role) {
        for y in rect.y..<rect.y + rect.height where y >= 0 && y < height {
            for x in rect.x..<rect.x + rect.width where x >= 0 && x < width { cells[y * width + x].role = role }
        }
    }

    /// The frame as plain text, one line per row, trailing spaces removed.
    var text: String {
        (0..<height).map { y in
            var line = String(cells[(y * width)..<(y * width + width)].map(\.character))
            while line.last == " " { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }

    /// A framed box of text lines centred on the screen (help, dialogs); long lines end in an ellipsis,
    /// and when the screen is too short the last row says how many lines are not shown. `role` picks
    /// each line's colour.
    mutating func drawBox(_ lines: [String], minimumWidth: Int = 0, glyphs: Glyphs, role: (Int, String) -> Role) {
        let boxWidth = min(width - 2, max(minimumWidth, (lines.map(\.count).max() ?? 0) + 4))
        let boxHeight = min(height - 2, lines.count + 2)
        guard boxWidth >= 5, boxHeight >= 3 else { return }
        let box = Rect(x: (width - boxWidth) / 2, y: max(0, (height - boxHeight) / 2), width: boxWidth, height: boxHeight)
        fill(box, role: .normal)
        let horizontal = String(repeating: glyphs.horizontal, count: max(0, boxWidth - 2))
        put("\(glyphs.corners[0])\(horizontal)\(glyphs.corners[1])", x: box.x, y: box.y, role: .dim)
        put("\(glyphs.corners[2])\(horizontal)\(glyphs.corners[3])", x: box.x, y: box.maxY - 1, role: .dim)
        var shown = Array(lines.prefix(boxHeight - 2))
        if shown.count < lines.count {
            shown[shown.count - 1] = "\(glyphs.ellipsis) \(lines.count - shown.count + 1) more lines: a taller terminal shows them"
        }
        for (index, line) in shown.enumerated() {
            let y = box.y + 1 + index
            put(String(glyphs.vertical), x: box.x, y: y, role: .dim)
            put(line, x: box.x + 2, y: y, role: role(index, line), limit: boxWidth - 4)
            put(String(glyphs.vertical), x: box.maxX - 1, y: y, role: .dim)
        }
    }

    /// For terminals without UTF-8: every character outside ASCII replaced by a look-alike.
    mutating func transliterateToASCII() {
        for index in cells.indices where !cells[index].character.isASCII {
            cells[index].character = Self.asciiLookAlikes[cells[index].character] ?? "?"
        }
    }

    private static let asciiLookAlikes: [Character: Character] = [
        "·": ".", "—": "-", "–": "-", "≥": ">", "≈": "~", "×": "x", "…": "~", "←": "<", "→": ">", "↑": "^", "↓": "v",
        "◀": "<", "▶": ">", "│": "|", "─": "-", "┆": "!", "┼": "+", "┴": "+", "‖": "|", "█": "#", "░": ".",
        "┌": "+", "┐": "+", "└": "+", "┘": "+", "▒": "+", "▓": "%", "▲": "^", "╌": "-",
    ]

    func line(_ y: Int) -> String { text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[y] }
}

struct Rect: Equatable {
    var x: Int
    var y: Int
    var width: Int
    var height: Int

    var maxX: Int { x + width }
    var maxY: Int { y + height }
    var isEmpty: Bool { width <= 0 || height <= 0 }
}

/// Glyphs with an ASCII fallback for terminals whose locale is not UTF-8.
struct Glyphs {
    let bars: [Character]
    let vertical: Character
    let horizontal: Character
    let marker: Character
    let left: Character
    let right: Character
    let selected: Character
    let ellipsis: Character
    let full: Character
    let empty: Character
    /// Box corners: top left, top right, bottom left, bottom right.
    let corners: [Character]
    /// Six shades, lightest first: how far a value reaches against the threshold (the outlier map).
    let shades: [Character]

    static let unicode = Glyphs(bars: [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"], vertical: "│", horizontal: "─",
                                marker: "┆", left: "◀", right: "▶", selected: "▶", ellipsis: "…",
                                full: "█", empty: "░", corners: ["┌", "┐", "└", "┘"],
                                shades: [" ", "·", "░", "▒", "▓", "█"])
    static let ascii = Glyphs(bars: [" ", ".", ".", ":", ":", "+", "+", "#", "#"], vertical: "|", horizontal: "-",
                              marker: "!", left: "<", right: ">", selected: ">", ellipsis: "~",
                              full: "#", empty: ".", corners: ["+", "+", "+", "+"],
                              shades: [" ", ".", ":", "+", "%", "#"])
}
