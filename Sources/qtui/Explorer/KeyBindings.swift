/// The one table of keys (htop's `keys[]`): each binding's keys, its action, its line in the help
/// overlay and, when it earns a place, its hint in the footer. The key map, the help and the footer are
/// all made from it.
struct KeyBinding {
    let keys: [Key]
    let action: Action
    /// How the help overlay names the keys.
    let label: String
    let help: String
    /// The footer's hint and its rank (lower shows first; nil: help only).
    var hint: (text: String, rank: Int)?
    /// The hint while the MoE expert table is shown, when it reads differently there.
    var expertTableHint: String?
    /// Hinted only for a model with routed experts (the key does nothing useful otherwise).
    var hintNeedsExperts = false
}

enum KeyBindings {
    static let browsing: [KeyBinding] = [
        KeyBinding(keys: [.left, .character("h")], action: .thresholdStep(-0.5), label: "←/→  h/l", help: "threshold −/+ 0.5",
                   hint: ("←→ threshold", 0)),
        KeyBinding(keys: [.right, .character("l")], action: .thresholdStep(0.5), label: "", help: ""),
        KeyBinding(keys: [.shiftLeft, .character("H")], action: .thresholdStep(-0.1), label: "shift-←/→  H/L", help: "threshold −/+ 0.1"),
        KeyBinding(keys: [.shiftRight, .character("L")], action: .thresholdStep(0.1), label: "", help: ""),
        KeyBinding(keys: [.character("t")], action: .openThresholdPrompt, label: "t", help: "type an exact threshold",
                   hint: ("t type", 14)),
        KeyBinding(keys: [.up, .character("k")], action: .move(-1), label: "↑/↓  j/k", help: "select layer (expert, in the expert table)",
                   hint: ("↑↓ layer", 1), expertTableHint: "↑↓ expert"),
        KeyBinding(keys: [.down, .character("j")], action: .move(1), label: "", help: ""),
        KeyBinding(keys: [.pageUp], action: .page(-1), label: "PgUp/PgDn", help: "a page up / down"),
        KeyBinding(keys: [.pageDown], action: .page(1), label: "", help: ""),
        KeyBinding(keys: [.home, .character("g")], action: .home, label: "Home/End  g/G", help: "first / last layer"),
        KeyBinding(keys: [.end, .character("G")], action: .end, label: "", help: ""),
        KeyBinding(keys: [.character("/")], action: .openFilter, label: "/", help: "filter layers (text or regular expression)",
                   hint: ("/ filter", 8)),
        KeyBinding(keys: [.character("o")], action: .cycleSort, label: "o",
                   help: "sort: file, name, outliers, int8, 4-bit error, size, routed tokens", hint: ("o sort", 11)),
        KeyBinding(keys: [.character("x")], action: .toggleExperts, label: "x",
                   help: "table: converted layers / MoE experts (kept; routing, what-if)", hint: ("x experts", 2),
                   expertTableHint: "x layers", hintNeedsExperts: true),
        KeyBinding(keys: [.tab], action: .toggleHistogramSource, label: "tab", help: "histogram: activations / weights",
                   hint: ("tab source", 12)),
        KeyBinding(keys: [.character("f")], action: .cyclePanel, label: "f",
                   help: "panel: histogram / outlier features map / threshold trade-off (after p)", hint: ("f features", 7)),
        KeyBinding(keys: [.character("c")], action: .toggleCountScale, label: "c", help: "histogram counts: log / linear",
                   hint: ("c counts", 13)),
        KeyBinding(keys: [.character("m")], action: .cycleMethod, label: "m", help: "plan method: int8 / nf4 / fp4", hint: ("m method", 3)),
        KeyBinding(keys: [.character("d")], action: .toggleDoubleQuant, label: "d", help: "double quantization on/off (4-bit)",
                   hint: ("d dq", 9)),
        KeyBinding(keys: [.character("b")], action: .cycleBlocksize, label: "b", help: "4-bit blocksize (errors recomputed in background)",
                   hint: ("b block", 10)),
        KeyBinding(keys: [.character("s"), .character(" ")], action: .toggleSkip, label: "s  space",
                   help: "skip / restore the layer (kept as stored)", hint: ("s skip", 4)),
        KeyBinding(keys: [.character("e")], action: .openExport, label: "e", help: "export the plan (a checkpoint transformers loads)",
                   hint: ("e export", 5)),
        KeyBinding(keys: [.character("p")], action: .measurePerplexity, label: "p",
                   help: "perplexity, KL from fp32 per method; threshold", hint: ("p perplexity", 6)),
        KeyBinding(keys: [.escape], action: .cancelWork, label: "Esc", help: "cancel background work"),
        KeyBinding(keys: [.character("?")], action: .toggleHelp, label: "?", help: "this help"),
        KeyBinding(keys: [.character("q")], action: .quit, label: "q  Ctrl-C", help: "quit"),
    ]

    /// Keys in a prompt (the filter, the threshold, the export path): readline's basics.
    static let prompt: [Key: Action] = [
        .enter: .submit, .escape: .closeOverlay,
        .backspace: .edit(.backspace), .delete: .edit(.delete), .control("d"): .edit(.delete),
        .left: .edit(.left), .right: .edit(.right), .control("b"): .edit(.left), .control("f"): .edit(.right),
        .home: .edit(.home), .end: .edit(.end), .control("a"): .edit(.home), .control("e"): .edit(.end),
        .control("u"): .edit(.killToStart), .control("k"): .edit(.killToEnd), .control("w"): .edit(.killWordBefore),
    ]

    static let browsingMap: [Key: Action] = {
        var map: [Key: Action] = [:]
        for binding in browsing { for key in binding.keys { map[key] = binding.action } }
        return map
    }()

    /// The help overlay's key lines, in the table's order (bindings that share a line are folded:
    /// the line of the first names both).
    static var helpLines: [String] {
        browsing.filter { !$0.label.isEmpty }.map { $0.label.padding(toLength: 16, withPad: " ", startingAt: 0) + $0.help }
            + ["mouse           click selects, wheel scrolls"]
    }

    /// Footer hints for the table shown, most useful first; quit and help are always shown.
    static func footerHints(table: TableContent, hasExperts: Bool) -> [String] {
        browsing.filter { $0.hint != nil && (hasExperts || !$0.hintNeedsExperts) }
            .sorted { $0.hint!.rank < $1.hint!.rank }
            .map { table == .experts ? $0.expertTableHint ?? $0.hint!.text : $0.hint!.text }
    }

    static let footerAlways = ["? help", "q quit"]

    static func action(for key: Key, in state: ExplorerState) -> Action? {
        switch key {
        case .resize(let width, let height): return .resize(width: width, height: height)
        case .click(let x, let y): return state.overlay == .none ? .select(screenX: x, screenY: y) : nil
        case .wheel(let delta): return .scroll(delta)
        case .interrupt: return .interrupt
        default: break
        }
        switch state.overlay {
        case .none:
            return browsingMap[key]
        case .help:
            return key == .character("q") ? .quit : .closeOverlay
        case .export(let dialog):
            switch dialog.stage {
            case .running: return key == .escape ? .cancelWork : nil
            case .finished, .failed: return .closeOverlay
            case .editing: return key == .tab ? .completePath : promptAction(for: key)
            }
        case .prompt:
            return promptAction(for: key)
        }
    }

    private static func promptAction(for key: Key) -> Action? {
        if case .character(let character) = key { return .edit(.insert(character)) }
        return prompt[key]
    }
}
