/// Moving through the table, the mouse and the terminal's size.
func reduceNavigation(_ state: inout ExplorerState, _ action: Action) {
    let rowCount = state.visibleRows.count
    let pageSize = max(1, Layout(width: state.width, height: state.height).table.height - 1)
    switch action {
    case .move(let delta): state.selection += delta
    case .page(let delta): state.selection += delta * pageSize
    case .home: state.selection = 0
    case .end: state.selection = rowCount - 1
    case .scroll(let delta):
        state.scroll += delta * 3
        state.selection += delta * 3
    case .select(let x, let y):
        let table = Layout(width: state.width, height: state.height).table
        if x >= table.x, x < table.maxX, y > table.y, y < table.maxY {
            state.selection = state.scroll + (y - table.y - 1)
        }
    case .resize(let width, let height):
        state.width = width
        state.height = height
    default: break
    }
}
