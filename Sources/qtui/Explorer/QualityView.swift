import Foundation
import QuantKit

/// Errors (on activations, else of the weights), perplexity once measured, or the progress of
/// background work.
enum QualityView {
    /// The job whose progress the line shows when several run: what the user waits for most directly.
    static let progressOrder: [Job] = [.export, .perplexity, .analysis, .refinement]

    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        if let job = progressOrder.first(where: { state.running[$0] != nil }), let progress = state.running[job], job != .refinement {
            drawProgress(&frame, rect, progress, glyphs)
            return
        }
        let separator = " \(glyphs.vertical) "
        let parts: [String]
        var note = ""
        if let measured = state.perplexity {
            parts = perplexityParts(measured, state: state)
        } else if let share = state.outlierColumnShare, let atThreshold = state.meanOutputError(nil) {
            let plan = state.method.quantMethod(doubleQuant: state.doubleQuant)
            let planError = state.meanOutputError(plan == .int8 ? nil : plan, honourSkips: true)
            parts = [
                "quality  output error int8@t \(Format.percent(atThreshold))",
                "int8 \(Format.percent(state.meanOutputError(.int8)))",
                "nf4 \(Format.percent(state.meanOutputError(.nf4)))",
                "fp4 \(Format.percent(state.meanOutputError(.fp4)))",
                "plan \(Format.percent(planError))",
                "fp16 cols \(Format.percent(share))",
            ]
            note = "\(state.calibrationTokens) calibration tokens · p: perplexity"
        } else {
            let plan = state.method.quantMethod(doubleQuant: state.doubleQuant)
            parts = [
                "quality  weight error int8 \(Format.percent(state.combinedError(.int8)))",
                "nf4 \(Format.percent(state.combinedError(.nf4)))",
                "fp4 \(Format.percent(state.combinedError(.fp4)))",
                "plan \(Format.percent(state.combinedError(plan, honourSkips: true)))",
            ]
            note = state.hasActivations ? "output errors not measured" : "weights only"
        }
        let text = " " + Format.parts(parts, width: rect.width - 2, separator: separator, glyphs: glyphs)
        frame.put(text, x: rect.x, y: rect.y, limit: rect.width)
        if !note.isEmpty, rect.width - text.count > note.count + 3 {
            frame.put(note, x: rect.maxX - note.count - 1, y: rect.y, role: .dim)
        }
    }

    /// Perplexities and KL from fp32 replace the error summary once measured (they are what matters most);
    /// the suggestion comes right after fp32 so that an 80-column screen still shows it. int8 is read off
    /// the measured curve at the current threshold when it is a grid point; otherwise it stays at the
    /// threshold it was measured at. A plan changed since (blocksize, skips) marks the line stale.
    static func perplexityParts(_ measured: MeasuredPerplexity, state: ExplorerState) -> [String] {
        let p = measured.report, kl = p.klDivergence
        let suggestion = p.suggestedThreshold.map { suggested in
            let divergence = p.int8Curve.first { $0.threshold == suggested }?.klDivergence ?? 0
            return String(format: "suggested threshold %g (KL %.3g, %.1f%% fp16 cols)", suggested, divergence,
                          (state.outlierColumnShare(at: suggested) ?? 0) * 100)
        } ?? String(format: "no threshold within KL %.3g", p.maximumKLDivergence)
        let int8: String
        if let point = p.int8Curve.first(where: { $0.threshold == state.threshold }) {
            int8 = String(format: "int8@%g %.2f KL %.3g", point.threshold, point.perplexity, point.klDivergence)
        } else {
            int8 = String(format: "int8@%g %.2f KL %.3g", measured.threshold, p.int8, kl.int8)
        }
        let stale = measured.blocksize != state.blocksize || measured.skipped != state.skipped
        return [(stale ? "stale (p re-measures) · " : "") + String(format: "perplexity fp32 %.2f", p.fp32), suggestion, int8,
                String(format: "nf4 %.2f KL %.3g", p.nf4, kl.nf4), String(format: "nf4+dq %.2f KL %.3g", p.nf4DoubleQuant, kl.nf4DoubleQuant),
                String(format: "fp4 %.2f KL %.3g", p.fp4, kl.fp4)]
    }

    static func drawProgress(_ frame: inout Frame, _ rect: Rect, _ progress: WorkProgress, _ glyphs: Glyphs) {
        let width = 20
        let filled = Int(progress.fraction * Double(width))
        let bar = String(repeating: glyphs.full, count: filled) + String(repeating: glyphs.empty, count: width - filled)
        let text = " \(progress.title) \(bar) \(String(format: "%3.0f%%", progress.fraction * 100))  \(progress.rateAndETA)  (Esc cancels)"
        frame.put(text, x: rect.x, y: rect.y, role: .warn, limit: rect.width)
    }
}
