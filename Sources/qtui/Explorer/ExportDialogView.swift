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
        frame.drawBox(lines, minimumWidth: 60, glyphs: glyphs) { index, line in
            index == 0 ? .title : (line.hasPrefix("failed") ? .alert : (line.hasPrefix("wrote") ? .good : .normal))
        }
    }
}
