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
