/// A key or mouse event from the terminal, independent of ncurses.
enum Key: Hashable {
    case character(Character)
    case up, down, left, right, shiftLeft, shiftRight, pageUp, pageDown, home, end
    case enter, escape, backspace, tab, interrupt
    case click(x: Int, y: Int)
    case wheel(Int)
    case resize(width: Int, height: Int)
}

/// What the user asked for; `reduce` applies it to the state.
enum Action: Equatable {
    case move(Int)
    case page(Int)
    case home, end
    case thresholdStep(Float)
    case setThreshold(Float)
    case cycleSort
    case toggleHistogramSource
    case toggleCountScale
    case cycleMethod
    case toggleDoubleQuant
    case cycleBlocksize
    case toggleSkip
    case openFilter, openThresholdPrompt, toggleHelp, closeOverlay, openExport, measurePerplexity
    case type(Character), erase, submit
    case select(screenX: Int, screenY: Int)
    case scroll(Int)
    case resize(width: Int, height: Int)
    case cancelWork
    case quit
}

/// What the event loop must do after an action.
enum Reaction: Equatable {
    case none
    case redraw
    /// The weight errors must be recomputed (the blocksize changed).
    case reanalyse
    /// Lay the export out (exact size) and open the dialog.
    case prepareExport
    /// Write the export to the dialog's path.
    case startExport
    /// Measure perplexity per method on the calibration text.
    case startPerplexity
    case cancelWork
    case quit
}

/// Keys to actions through tables, like htop's: one for browsing, one while a prompt is open.
enum KeyMap {
    static let browsing: [Key: Action] = [
        .up: .move(-1), .character("k"): .move(-1),
        .down: .move(1), .character("j"): .move(1),
        .pageUp: .page(-1), .pageDown: .page(1),
        .home: .home, .end: .end, .character("g"): .home, .character("G"): .end,
        .left: .thresholdStep(-0.5), .character("h"): .thresholdStep(-0.5),
        .right: .thresholdStep(0.5), .character("l"): .thresholdStep(0.5),
        .shiftLeft: .thresholdStep(-0.1), .character("H"): .thresholdStep(-0.1),
        .shiftRight: .thresholdStep(0.1), .character("L"): .thresholdStep(0.1),
        .character("t"): .openThresholdPrompt,
        .character("/"): .openFilter,
        .character("o"): .cycleSort,
        .tab: .toggleHistogramSource,
        .character("c"): .toggleCountScale,
        .character("m"): .cycleMethod,
        .character("d"): .toggleDoubleQuant,
        .character("b"): .cycleBlocksize,
        .character("s"): .toggleSkip, .character(" "): .toggleSkip,
        .character("?"): .toggleHelp,
        .character("e"): .openExport,
        .character("p"): .measurePerplexity,
        .escape: .cancelWork,
        .character("q"): .quit, .interrupt: .quit,
    ]

    static func action(for key: Key, in state: ExplorerState) -> Action? {
        switch key {
        case .resize(let width, let height): return .resize(width: width, height: height)
        case .click(let x, let y): return state.overlay == .none ? .select(screenX: x, screenY: y) : nil
        case .wheel(let delta): return .scroll(delta)
        case .interrupt: return .quit
        default: break
        }
        switch state.overlay {
        case .none:
            return browsing[key]
        case .help:
            return key == .character("q") ? .quit : .closeOverlay
        case .export(let dialog):
            switch dialog.stage {
            case .running: return key == .escape ? .cancelWork : nil
            case .finished, .failed: return .closeOverlay
            case .editing: break
            }
            fallthrough
        case .filter, .threshold:
            switch key {
            case .enter: return .submit
            case .escape: return .closeOverlay
            case .backspace: return .erase
            case .character(let character): return .type(character)
            default: return nil
            }
        }
    }
}
