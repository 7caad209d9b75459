import Foundation
import QuantKit

/// The table's other content (`x`) for an MoE model: one row per routed expert, all kept as stored —
/// bitsandbytes in transformers does not quantize them — with the calibration tokens routed to each,
/// its gate/up input's outlier columns and what-if errors (if it were quantized), which the header marks.
enum ExpertTableView {
    /// Widths of the columns after the name; each starts with at least one space.
    static let columns = (tokens: 7, outliers: 10, int8: 13, fourBit: 12, plan: 6)
    static var fixedWidth: Int { 1 + columns.tokens + columns.outliers + columns.int8 + columns.fourBit + columns.plan }

    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        let nameWidth = max(8, rect.width - fixedWidth)
        let method = state.fourBitMethod.rawValue
        let fourBitHeader = method.count + 9 <= columns.fourBit ? "\(method) what-if" : "\(method) w-if"
        let rows = state.visibleExperts
        let title = rows.count > rect.height - 1 ? "Expert \(state.selection + 1)/\(rows.count)" : "Expert (kept)"
        let header = " " + Format.fit(title, nameWidth, glyphs) + Format.right("tokens", columns.tokens)
            + Format.right("outl.cols", columns.outliers) + Format.right("int8 what-if", columns.int8)
            + Format.right(fourBitHeader, columns.fourBit) + "  plan"
        TableRows.draw(&frame, rect, state, glyphs, header: header, empty: "  no expert matches \"\(state.filter)\"",
                       rows: rows) { index in
            let expert = state.experts[index]
            let text = Format.fit(expert.name, nameWidth, glyphs)
                + Format.right(expert.routedTokens.map { "\($0)" } ?? pending(state), columns.tokens)
                + Format.right(outliers(expert, state), columns.outliers)
                + Format.right(int8(expert, state), columns.int8)
                + Format.right(fourBit(expert, state), columns.fourBit)
                + "  kept"
            return (text, expert.routedTokens == 0 ? .dim : .normal)
        }
    }

    /// "no tokens" for an expert calibration sent nothing to: there is no input to describe.
    private static func outliers(_ expert: ExpertEntry, _ state: ExplorerState) -> String {
        if expert.routedTokens == 0 { return "no tokens" }
        guard let seen = expert.gateUpInput else { return pending(state) }
        let count = seen.outlierColumns(atLeast: state.threshold)
        return "\(count) " + String(format: "%.1f%%", Double(count) / Double(max(seen.features, 1)) * 100)
    }

    private static func int8(_ expert: ExpertEntry, _ state: ExplorerState) -> String {
        if expert.routedTokens == 0 { return "—" }
        guard let error = expert.whatIfInt8(at: state.threshold) else { return pending(state) }
        return (error.exact ? "" : "≈") + Format.percent(error.value)
    }

    private static func fourBit(_ expert: ExpertEntry, _ state: ExplorerState) -> String {
        if expert.routedTokens == 0 { return "—" }
        return expert.whatIf(state.fourBitMethod, blocksize: state.blocksize).map(Format.percent) ?? pending(state)
    }

    /// "…" while the background work may still bring the value; "—" once it will not.
    private static func pending(_ state: ExplorerState) -> String { state.isAnalysing ? "…" : "—" }
}
