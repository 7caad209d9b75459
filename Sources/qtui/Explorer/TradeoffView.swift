import Foundation
import QuantKit

/// What choosing the threshold weighs, once `p` measured it: along the threshold grid (0 = int8 without
/// decomposition, then the perplexity search grid), int8's mean KL from fp32 (upper bars: green within
/// the tolerance, whose level is the dashed line; red above it) and the share of all input columns kept
/// in fp16 there (lower bars). Both scales are linear from 0 to the largest value, printed at the left.
/// The current threshold is a marker column (between bars when off the grid), the suggestion's label is
/// green.
enum TradeoffView {
    struct Point {
        let threshold: Float
        let divergence: Double
        let fp16Share: Double
    }

    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        guard rect.height >= 5, rect.width >= 20 else { return }
        frame.put(String(repeating: glyphs.horizontal, count: rect.width), x: rect.x, y: rect.y, role: .dim)
        guard let measured = state.perplexity else {
            frame.put(" threshold trade-off · p measures it ", x: rect.x + 1, y: rect.y, role: .dim, limit: rect.width - 2)
            return
        }
        let report = measured.report
        let points = [Point(threshold: 0, divergence: report.klDivergence.int8Pure, fp16Share: 0)]
            + report.int8Curve.map { Point(threshold: $0.threshold, divergence: $0.klDivergence, fp16Share: state.outlierColumnShare(at: $0.threshold) ?? 0) }
        drawTitle(&frame, rect, measured, state, glyphs)
        let labelWidth = 12
        let step = (rect.width - 2 - labelWidth) / points.count
        guard step >= 1 else { return }
        let panes = rect.height - 2
        let upper = Rect(x: rect.x + 1 + labelWidth, y: rect.y + 1, width: step * points.count, height: (panes + 1) / 2)
        let lower = Rect(x: upper.x, y: upper.maxY, width: upper.width, height: panes - upper.height)
        let largestKL = max(points.map(\.divergence).max() ?? 0, 1e-12)
        let largestShare = max(points.map(\.fp16Share).max() ?? 0, 1e-12)
        frame.put(Format.right(String(format: "KL %.3g", largestKL), labelWidth - 1), x: rect.x + 1, y: upper.y, role: .dim)
        frame.put(Format.right("fp16 " + Format.percent(largestShare), labelWidth - 1), x: rect.x + 1, y: lower.y, role: .dim)
        let bound = report.maximumKLDivergence
        if bound < largestKL {
            let row = upper.maxY - 1 - Int(bound / largestKL * Double(upper.height))
            for x in upper.x..<upper.maxX { frame.put("╌", x: x, y: max(row, upper.y), role: .dim) }
        }
        let markerX = markerColumn(state.threshold, points: points, x: upper.x, step: step)
        for (index, point) in points.enumerated() {
            let x = upper.x + index * step
            let width = max(1, step - 1)
            bar(&frame, upper, x: x, width: width, fraction: point.divergence / largestKL, role: point.divergence <= bound ? .good : .alert, glyphs)
            bar(&frame, lower, x: x, width: width, fraction: point.fp16Share / largestShare, role: .bar, glyphs)
        }
        for y in upper.y..<lower.maxY where frame[markerX, y].character == " " || frame[markerX, y].character == "╌" {
            frame.put(String(glyphs.marker), x: markerX, y: y, role: .marker)
        }
        drawAxis(&frame, y: lower.maxY, x: upper.x, step: step, points: points, state: state, suggested: report.suggestedThreshold)
    }

    /// Vertical bars in eighths from the pane's bottom; anything above zero shows at least an eighth.
    private static func bar(_ frame: inout Frame, _ pane: Rect, x: Int, width: Int, fraction: Double, role: Role, _ glyphs: Glyphs) {
        var eighths = Int((fraction * Double(pane.height * 8)).rounded())
        if fraction > 0 { eighths = max(eighths, 1) }
        for row in 0..<pane.height {
            let fill = min(8, max(0, eighths - row * 8))
            guard fill > 0 else { break }
            for column in x..<(x + width) { frame.put(String(glyphs.bars[fill]), x: column, y: pane.maxY - 1 - row, role: role) }
        }
    }

    /// The bar of the threshold's grid point, or between two bars in proportion when it lies between them.
    static func markerColumn(_ threshold: Float, points: [Point], x: Int, step: Int) -> Int {
        let width = max(1, step - 1)
        guard let below = points.lastIndex(where: { $0.threshold <= threshold }) else { return x }
        let center = x + below * step + width / 2
        guard below + 1 < points.count, points[below].threshold != threshold else { return center }
        let fraction = Double(threshold - points[below].threshold) / Double(points[below + 1].threshold - points[below].threshold)
        return center + Int((fraction * Double(step)).rounded())
    }

    private static func drawTitle(_ frame: inout Frame, _ rect: Rect, _ measured: MeasuredPerplexity, _ state: ExplorerState, _ glyphs: Glyphs) {
        let report = measured.report
        let stale = measured.blocksize != state.blocksize || measured.skipped != state.skipped
        let suggestion = report.suggestedThreshold.map { String(format: "suggested %g", $0) } ?? "no threshold within tolerance"
        // The suggestion right after the name, so that a 60-column screen still shows it.
        let parts = [(stale ? "stale · " : "") + "trade-off", suggestion, "int8 KL from fp32 ↑ fp16 cols ↓",
                     String(format: "tolerance KL %.3g", report.maximumKLDivergence), "f: next panel"]
        frame.put(" " + Format.parts(parts, width: rect.width - 4, separator: " · ", glyphs: glyphs) + " ", x: rect.x + 1, y: rect.y,
                  role: .header, limit: rect.width - 2)
    }

    /// Each grid threshold under its bar where it fits; the current one highlighted, the suggestion green.
    private static func drawAxis(_ frame: inout Frame, y: Int, x: Int, step: Int, points: [Point], state: ExplorerState, suggested: Float?) {
        var nextFree = x
        for (index, point) in points.enumerated() {
            let label = String(format: "%g", point.threshold)
            let column = x + index * step
            let role: Role = point.threshold == state.threshold ? .selected : point.threshold == suggested ? .good : .dim
            guard column >= nextFree || role != .dim else { continue }
            frame.put(label, x: column, y: y, role: role)
            nextFree = column + label.count + 1
        }
    }
}
