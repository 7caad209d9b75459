import CNcurses
import CTerminalRescue
import Foundation

/// The only file that talks to ncurses: set up, read keys, show frames (changed cells only), restore.
final class Terminal: TerminalBackend {
    private(set) var width: Int
    private(set) var height: Int
    let glyphs: Glyphs
    private let colors: Bool
    private var shown: Frame?
    private var active = true

    /// Colour pair, bold, reverse for each role (monochrome: attributes only).
    private var styles: [Role: (pair: Int16, bold: Bool, reverse: Bool)] = [:]

    init(noColor: Bool, asciiOnly: Bool) {
        setlocale(LC_ALL, "")
        glyphs = (!asciiOnly && qtui_codeset_is_utf8() != 0) ? .unicode : .ascii
        qtui_install_crash_handlers()
        initscr()
        raw()
        noecho()
        keypad(qtui_screen(), true)
        curs_set(0)
        set_escdelay(25)
        wtimeout(qtui_screen(), 50)
        qtui_enable_mouse()
        qtui_install_signal_handlers()
        colors = !noColor && has_colors()
        width = Int(getmaxx(qtui_screen()))
        height = Int(getmaxy(qtui_screen()))
        setUpStyles()
    }

    deinit { end() }

    /// Restores the terminal; safe to call more than once.
    func end() {
        guard active else { return }
        active = false
        endwin()
    }

    private func setUpStyles() {
        guard colors else {
            styles = [.title: (0, true, true), .header: (0, false, true), .selected: (0, true, true),
                      .alert: (0, true, false), .marker: (0, true, false), .input: (0, true, true), .warn: (0, true, false)]
            return
        }
        start_color()
        use_default_colors()
        let dimColor = qtui_color_count() >= 16 ? Int16(8) : Int16(COLOR_BLUE)
        let pairs: [(Role, Int16, Int16, Bool)] = [
            (.dim, dimColor, -1, false), (.title, Int16(COLOR_BLACK), Int16(COLOR_CYAN), true),
            (.header, Int16(COLOR_BLACK), Int16(COLOR_WHITE), false), (.selected, Int16(COLOR_BLACK), Int16(COLOR_YELLOW), false),
            (.alert, Int16(COLOR_RED), -1, true), (.good, Int16(COLOR_GREEN), -1, false), (.warn, Int16(COLOR_YELLOW), -1, true),
            (.bar, Int16(COLOR_CYAN), -1, false), (.marker, Int16(COLOR_MAGENTA), -1, true),
            (.input, Int16(COLOR_WHITE), Int16(COLOR_BLUE), true),
        ]
        for (index, entry) in pairs.enumerated() {
            let pair = Int16(index + 1)
            init_pair(pair, entry.1, entry.2)
            styles[entry.0] = (pair, entry.3, false)
        }
    }

    /// The next key, or nil after a short timeout (so the loop can show background progress).
    func readKey() -> Key? {
        let code = wgetch(qtui_screen())
        switch code {
        case ERR:
            if qtui_input_hung_up() != 0 { inputLost = true }
            return nil
        case KEY_RESIZE:
            width = Int(getmaxx(qtui_screen()))
            height = Int(getmaxy(qtui_screen()))
            shown = nil
            clear()
            return .resize(width: width, height: height)
        case KEY_UP: return .up
        case KEY_DOWN: return .down
        case KEY_LEFT: return .left
        case KEY_RIGHT: return .right
        case KEY_SLEFT: return .shiftLeft
        case KEY_SRIGHT: return .shiftRight
        case KEY_PPAGE: return .pageUp
        case KEY_NPAGE: return .pageDown
        case KEY_HOME: return .home
        case KEY_END: return .end
        case KEY_DC: return .delete
        case KEY_ENTER, 10, 13: return .enter
        case KEY_BACKSPACE, 127, 8: return .backspace
        case 9: return .tab
        case 3: return .interrupt
        case 27: return .escape
        case 1...26: return .control(Character(Unicode.Scalar(UInt8(code) + 0x60)))
        case KEY_MOUSE:
            var x: Int32 = 0, y: Int32 = 0
            switch qtui_mouse(&x, &y) {
            case 1: return .click(x: Int(x), y: Int(y))
            case 2: return .wheel(-1)
            case 3: return .wheel(1)
            default: return nil
            }
        default:
            guard code > 0, code < 0x110000, let scalar = Unicode.Scalar(UInt32(code)) else { return nil }
            return .character(Character(scalar))
        }
    }

    /// Draws only the cells that changed since the last frame, then refreshes.
    func present(_ frame: Frame) {
        let previous = shown?.width == frame.width && shown?.height == frame.height ? shown : nil
        for y in 0..<frame.height {
            for x in 0..<frame.width {
                let cell = frame[x, y]
                if let previous, previous[x, y] == cell { continue }
                // The bottom-right cell would scroll the screen on some terminals.
                if y == frame.height - 1 && x == frame.width - 1 { continue }
                let style = styles[cell.role] ?? (0, false, false)
                _ = String(cell.character).withCString { qtui_put(Int32(y), Int32(x), $0, style.pair, style.bold ? 1 : 0, style.reverse ? 1 : 0) }
            }
        }
        refresh()
        shown = frame
    }

    /// Set when the terminal went away; the loop ends as on SIGHUP.
    private var inputLost = false

    var terminationSignal: Int32? {
        let signal = qtui_pending_termination()
        if signal != 0 { return signal }
        return inputLost ? SIGHUP : nil
    }
}
