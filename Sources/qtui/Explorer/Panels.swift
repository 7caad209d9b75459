import Foundation
import QuantKit

/// Model name and the threshold control.
enum HeaderView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        frame.fill(rect, role: .title)
        let m = state.model
        let value = "\(glyphs.left) \(String(format: "%.2f", state.threshold)) \(glyphs.right) "
        let facts = [m.architecture, "\(ReportFormatter.formatCount(m.parameterCount)) params", m.dtype, Format.bytes(m.fileBytes)]
        var left = " qtui  \(m.name) · " + facts.joined(separator: " · ")
        var right = "threshold " + value
        if left.count + right.count + 1 > rect.width {
            right = value
            left = " qtui  \(m.name) · " + facts.map { $0.replacingOccurrences(of: " params", with: "") }.joined(separator: " · ")
        }
        frame.put(left, x: rect.x, y: rect.y, role: .title, limit: max(0, rect.width - right.count - 1))
        frame.put(right, x: rect.maxX - right.count, y: rect.y, role: .title)
    }
}

/// The layer list: one row per converted Linear, selection highlighted, scrolled to stay visible.
enum LayerTableView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        guard rect.height > 0 else { return }
        let fourBit = state.fourBitMethod.rawValue
        let nameWidth = max(8, rect.width - 47)
        let rows = state.visibleRows
        let title = rows.count > rect.height - 1 ? "Layer \(state.selection + 1)/\(rows.count)" : "Layer"
        let header = " " + Format.fit(title, nameWidth, glyphs) + Format.right("out×in", 10) + Format.right("outl.cols", 11)
            + Format.right("int8 err", 9) + Format.right("\(fourBit) err", 10) + "  plan"
        frame.fill(Rect(x: rect.x, y: rect.y, width: rect.width, height: 1), role: .header)
        frame.put(header, x: rect.x, y: rect.y, role: .header, limit: rect.width)
        if rows.isEmpty {
            frame.put(state.filter.isEmpty ? "  no Linear layers to convert" : "  no layer matches \"\(state.filter)\"",
                      x: rect.x, y: rect.y + 1, role: .dim, limit: rect.width)
            return
        }
        for line in 0..<(rect.height - 1) {
            let position = state.scroll + line
            guard position < rows.count else { break }
            let layer = state.layers[rows[position]]
            let y = rect.y + 1 + line
            let selected = position == state.selection
            let skipped = state.skipped.contains(layer.name)
            let plan = skipped ? "skip" : state.method.rawValue
            let outliers = layer.activations.map { seen -> String in
                let count = seen.outlierColumns(atLeast: state.threshold)
                return "\(count) " + String(format: "%.1f%%", Double(count) / Double(max(layer.inFeatures, 1)) * 100)
            } ?? "—"
            let int8 = layer.int8Error(at: state.threshold).map { ($0.exact ? "" : "≈") + Format.percent($0.value) } ?? "…"
            let text = (selected ? String(glyphs.selected) : " ") + Format.fit(layer.name, nameWidth, glyphs)
                + Format.right("\(layer.outFeatures)×\(layer.inFeatures)", 10) + Format.right(outliers, 11)
                + Format.right(int8, 9)
                + Format.right(Format.percent(layer.error(of: state.fourBitMethod)), 10)
                + "  " + plan
            frame.put(text, x: rect.x, y: y, role: selected ? .selected : (skipped ? .dim : .normal), limit: rect.width)
            if selected { frame.paint(Rect(x: rect.x, y: y, width: rect.width, height: 1), role: .selected) }
        }
    }
}

/// Totals in bytes, exact to the serialized checkpoint.
enum MemoryView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        let bar = " \(glyphs.vertical) "
        let plan = state.planBytes
        let fp16 = state.model.fp16Bytes
        let planText = "plan \(state.method.quantMethod(doubleQuant: state.doubleQuant).rawValue) \(glyphs.right) \(Format.bytes(plan))"
            + String(format: " (%.0f%% of fp16)", Double(plan) / Double(max(fp16, 1)) * 100)
        let parts = [
            "memory  fp16 \(Format.bytes(fp16))",
            "int8 \(Format.bytes(state.totalBytes(.int8)))",
            "nf4 \(Format.bytes(state.totalBytes(.nf4)))",
            "nf4+dq \(Format.bytes(state.totalBytes(.nf4DoubleQuant)))",
        ]
        // As many whole parts as fit before the plan.
        var text = ""
        for part in parts {
            let candidate = text.isEmpty ? " " + part : text + bar + part
            if candidate.count + planText.count + 3 > rect.width { break }
            text = candidate
        }
        frame.put(text, x: rect.x, y: rect.y, limit: rect.width)
        frame.put(planText, x: rect.maxX - planText.count - 1, y: rect.y, role: .good)
    }
}

/// Errors now (weights), or the progress of background work.
enum QualityView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        if let progress = state.progress {
            drawProgress(&frame, rect, progress, glyphs)
            return
        }
        let bar = " \(glyphs.vertical) "
        let plan = state.method.quantMethod(doubleQuant: state.doubleQuant)
        let parts: [String]
        let note: String
        if let share = state.outlierColumnShare, let atThreshold = state.meanOutputError(nil) {
            let planError = plan == .int8 ? state.meanOutputError(nil, honourSkips: true) : state.meanOutputError(plan, honourSkips: true)
            parts = [
                "quality  output error int8@t \(Format.percent(atThreshold))",
                "int8 \(Format.percent(state.meanOutputError(.int8)))",
                "nf4 \(Format.percent(state.meanOutputError(.nf4)))",
                "fp4 \(Format.percent(state.meanOutputError(.fp4)))",
                "plan \(Format.percent(planError))",
                "fp16 cols \(Format.percent(share))",
            ]
            note = "\(state.calibrationTokens) calibration tokens" + (state.perplexity == nil ? " · p: perplexity" : "")
        } else {
            parts = [
                "quality  weight error int8 \(Format.percent(state.combinedError(.int8)))",
                "nf4 \(Format.percent(state.combinedError(.nf4)))",
                "fp4 \(Format.percent(state.combinedError(.fp4)))",
                "plan \(Format.percent(state.combinedError(plan, honourSkips: true)))",
            ]
            note = state.hasActivations ? "measuring output errors" : "weights only"
        }
        var text = ""
        for part in (state.perplexity.map { perplexityParts($0, state: state) } ?? parts) {
            let candidate = text.isEmpty ? " " + part : text + bar + part
            if candidate.count > rect.width - 1 { break }
            text = candidate
        }
        frame.put(text, x: rect.x, y: rect.y, limit: rect.width)
        if state.perplexity == nil, rect.width - text.count > note.count + 3 {
            frame.put(note, x: rect.maxX - note.count - 1, y: rect.y, role: .dim)
        }
    }

    /// Perplexities and KL from fp32 replace the error summary once measured (they are what matters most);
    /// the suggestion comes right after fp32 so that an 80-column screen still shows it.
    static func perplexityParts(_ measured: (report: PerplexityReport, threshold: Float), state: ExplorerState) -> [String] {
        let p = measured.report, kl = p.klDivergence
        let suggestion = p.suggestedThreshold.map { suggested in
            let divergence = p.int8Curve.first { $0.threshold == suggested }?.klDivergence ?? 0
            return String(format: "suggested threshold %g (KL %.3g, %.1f%% fp16 cols)", suggested, divergence,
                          (state.outlierColumnShare(at: suggested) ?? 0) * 100)
        } ?? String(format: "no threshold within KL %.3g", p.maximumKLDivergence)
        return [String(format: "perplexity fp32 %.2f", p.fp32), suggestion,
                String(format: "int8@%g %.2f KL %.3g", measured.threshold, p.int8, kl.int8), String(format: "nf4 %.2f KL %.3g", p.nf4, kl.nf4),
                String(format: "nf4+dq %.2f KL %.3g", p.nf4DoubleQuant, kl.nf4DoubleQuant), String(format: "fp4 %.2f KL %.3g", p.fp4, kl.fp4)]
    }

    static func drawProgress(_ frame: inout Frame, _ rect: Rect, _ progress: WorkProgress, _ glyphs: Glyphs) {
        let fraction = progress.total > 0 ? min(progress.done / progress.total, 1) : 0
        let width = 20
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: glyphs.full, count: filled) + String(repeating: glyphs.empty, count: width - filled)
        let text = " \(progress.title) \(bar) \(String(format: "%3.0f%%", fraction * 100))  "
            + "\(ProgressBar.scaled(progress.rate, unit: progress.unit))/s  ETA \(ProgressBar.duration(progress.secondsLeft))  (Esc cancels)"
        frame.put(text, x: rect.x, y: rect.y, role: .warn, limit: rect.width)
    }
}

/// Key hints, a transient message, or the open prompt.
enum FooterView {
    /// Most useful first; as many as fit are shown, always whole, with quit and help kept.
    static let hints = ["←→ threshold", "↑↓ layer", "m method", "s skip", "e export", "p perplexity", "/ filter", "d dq", "b block", "o sort",
                        "tab source", "c counts", "t type"]
    static let always = ["? help", "q quit"]

    static func hintLine(width: Int) -> String {
        var chosen: [String] = []
        for hint in hints {
            let candidate = " " + (chosen + [hint] + always).joined(separator: "  ")
            if candidate.count > width { break }
            chosen.append(hint)
        }
        return " " + (chosen + always).joined(separator: "  ")
    }

    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        frame.fill(rect, role: .header)
        switch state.overlay {
        case .filter(let text):
            frame.put(" / filter (text or regex): \(text)_   Enter keeps, Esc closes", x: rect.x, y: rect.y, role: .input, limit: rect.width)
        case .threshold(let text):
            frame.put(" threshold (0–100): \(text)_   Enter sets, Esc cancels", x: rect.x, y: rect.y, role: .input, limit: rect.width)
        default:
            if let message = state.message {
                frame.put(" " + message, x: rect.x, y: rect.y, role: .warn, limit: rect.width)
            } else {
                frame.put(hintLine(width: rect.width), x: rect.x, y: rect.y, role: .header, limit: rect.width)
            }
        }
    }
}

/// Every key, in a box over the screen.
enum HelpOverlay {
    static let lines = [
        "qtui explorer — keys",
        "",
        "←/→  h/l        threshold −/+ 0.5        shift-←/→  H/L   ±0.1",
        "t               type an exact threshold",
        "↑/↓  j/k        select layer             PgUp/PgDn Home/End g/G",
        "/               filter layers (text or regular expression)",
        "o               sort: file, name, outliers, int8, 4-bit error, size",
        "tab             histogram: activations / weights",
        "c               histogram counts: log / linear",
        "m               plan method: int8 / nf4 / fp4",
        "d               double quantization on/off (4-bit)",
        "b               4-bit blocksize (errors recomputed in background)",
        "s  space        skip / restore the layer (kept as stored)",
        "e               export the plan (a checkpoint transformers loads)",
        "p               perplexity, KL from fp32 per method; threshold",
        "mouse           click selects, wheel scrolls",
        "Esc             cancel background work",
        "q  Ctrl-C       quit",
        "",
        "Errors are of each layer's output on calibration activations",
        "(int8 at the threshold: ≈ between grid points); models qtui",
        "cannot run show errors of the weights instead.",
        "",
        "any key closes this help",
    ]

    static func draw(_ frame: inout Frame, _ state: ExplorerState, _ glyphs: Glyphs) {
        frame.drawBox(lines, glyphs: glyphs) { index, _ in index == 0 ? .title : .normal }
    }
}
