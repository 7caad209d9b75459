/// Every key (from `KeyBindings`), in a box over the screen.
enum HelpOverlay {
    static var lines: [String] {
        ["qtui explorer — keys", ""] + KeyBindings.helpLines + [
            "",
            "In prompts: ←/→ Home/End ^A/^E move, ^U/^K/^W delete, Tab",
            "completes the export path.",
            "Errors are of each layer's output on calibration activations",
            "(int8 at the threshold: ≈ until measured exactly); models qtui",
            "cannot run show errors of the weights instead. MoE experts (x)",
            "stay unquantized in bitsandbytes: their errors are what-if.",
            "",
            "any key closes this help",
        ]
    }

    static func draw(_ frame: inout Frame, _ glyphs: Glyphs) {
        frame.drawBox(lines, glyphs: glyphs) { index, _ in index == 0 ? .title : .normal }
    }
}
