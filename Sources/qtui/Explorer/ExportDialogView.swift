import Foundation
import QuantKit

/// The export dialog, in a box over the screen: what will be written, how big, where; then progress,
/// then the result.
enum ExportDialogView {
    static func draw(_ frame: inout Frame, _ state: ExplorerState, _ dialog: ExportDialog, _ glyphs: Glyphs) {
        let plan = state.exportPlan
        var method = plan.method.rawValue
        if plan.method != .int8 {
            method += plan.doubleQuant ? " + double quant" : ""
            method += ", blocksize \(plan.blocksize), compute \(plan.computeDType)"
        } else {
            method += String(format: ", llm_int8_threshold %.2f", plan.threshold)
        }
        var lines = [
            "Export the plan",
            "",
            "method   \(method)",
            "layers   \(dialog.converted) converted, \(plan.skipModules.count) skipped (kept as stored)",
            "size     \(Format.bytes(dialog.predictedBytes)) of weights in \(dialog.files) file\(dialog.files == 1 ? "" : "s") (exact)",
            "",
        ]
        switch dialog.stage {
        case .editing:
            lines += ["path     \(dialog.path)_", "", "type to edit the path · Enter writes · Esc cancels"]
        case .running:
            lines += ["path     \(dialog.path)", "", "writing … (progress below) · Esc cancels"]
        case .finished(let summary):
            lines += [summary, "", "loads with AutoModelForCausalLM.from_pretrained(path) · any key closes"]
        case .failed(let reason):
            lines += ["failed: \(reason)", "", "nothing was written · any key closes"]
        }
        let width = min(frame.width - 2, max(60, (lines.map(\.count).max() ?? 0) + 4))
        let height = min(frame.height - 4, lines.count + 2)
        let box = Rect(x: (frame.width - width) / 2, y: max(1, (frame.height - height) / 2 - 1), width: width, height: height)
        frame.fill(box, role: .normal)
        let horizontal = String(repeating: glyphs.horizontal, count: max(0, width - 2))
        frame.put("+" + horizontal + "+", x: box.x, y: box.y, role: .dim)
        frame.put("+" + horizontal + "+", x: box.x, y: box.maxY - 1, role: .dim)
        for (index, line) in lines.prefix(height - 2).enumerated() {
            let y = box.y + 1 + index
            let role: Role = index == 0 ? .title : (line.hasPrefix("failed") ? .alert : (line.hasPrefix("wrote") ? .good : .normal))
            frame.put(String(glyphs.vertical), x: box.x, y: y, role: .dim)
            // A long path shows its end, where the name the user edits is.
            let text = line.count > width - 4 ? Format.fit(line, width - 4, glyphs) : line
            frame.put(text, x: box.x + 2, y: y, role: role, limit: width - 4)
            frame.put(String(glyphs.vertical), x: box.maxX - 1, y: y, role: .dim)
        }
    }
}
