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
        let files = "\(dialog.weightFiles) weights file\(dialog.weightFiles == 1 ? "" : "s") + config.json and the small files beside it"
        var lines = [
            "Export the plan",
            "",
            "method   \(method)",
            "layers   \(dialog.converted) converted, \(plan.skipModules.count) skipped (kept as stored)",
            "size     \(Format.bytes(dialog.tensorBytes)) of tensors, as planned (exact)",
            "files    \(files), \(Format.bytes(dialog.fileBytes)) on disk",
            "",
        ]
        let boxText = max(40, min(frame.width - 6, 90))
        switch dialog.stage {
        case .editing:
            lines += ["path     " + dialog.path.visible(width: boxText - 9, ellipsis: glyphs.ellipsis), "",
                      "Enter writes · Esc cancels · Tab completes · ←/→ ^A/^E ^U/^K/^W edit"]
        case .running:
            lines += ["path     \(dialog.path.text)", "", "writing … (progress below) · Esc cancels"]
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
