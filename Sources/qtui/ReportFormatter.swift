import Foundation
import QuantKit

/// Renders a ModelReport for `qtui scan`: an aligned table for people, JSON (the documented schema in
/// docs/FORMATS.md), CSV with one row per layer, or a Markdown table.
enum ReportFormatter {
    static let methods = QuantMethod.allCases

    static func render(_ report: ModelReport, as format: ReportFormat) throws -> String {
        switch format {
        case .json: return try json(report)
        case .csv: return csv(report)
        case .table: return table(report, markdown: false)
        case .markdown: return table(report, markdown: true)
        }
    }

    static func json(_ report: ModelReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
    }

    static func csv(_ report: ModelReport) -> String {
        var header = ["layer", "tensor", "out_features", "in_features", "dtype", "bytes", "min", "max", "mean", "std",
                      "nan_count", "inf_count", "row_absmax_min", "row_absmax_median", "row_absmax_max"]
        for method in methods {
            header += ["rel_err", "rmse", "max_abs_err", "snr_db", "bytes"].map { "\(method.rawValue)_\($0)" }
        }
        let threshold = report.calibration?.threshold ?? 6
        header += ["calib_tokens", "max_abs_x", "outlier_cols_at_threshold", "out_err_int8_at_threshold", "out_err_int8_measured_at", "out_err_int8",
                   "out_err_nf4", "out_err_nf4dq", "out_err_fp4", "out_err_fp4dq", "hidden_state_input", "outlier_features_in_block",
                   "routed_tokens", "what_if"]
        let features = report.calibration?.outlierFeatures
        var lines = [header.joined(separator: ",")]
        for layer in report.layers {
            let s = layer.statistics
            var fields = [layer.name, layer.tensor, "\(layer.outFeatures)", "\(layer.inFeatures)", layer.dtype.rawValue,
                          "\(layer.bytes)", "\(s.min)", "\(s.max)", "\(s.mean)", "\(s.std)", "\(s.nanCount)", "\(s.infCount)",
                          "\(s.rowAbsmaxMin)", "\(s.rowAbsmaxMedian)", "\(s.rowAbsmaxMax)"]
            for method in methods {
                guard let r = layer.result(for: method) else { fields += ["", "", "", "", ""]; continue }
                fields += ["\(r.relativeError)", "\(r.rmse)", "\(r.maxAbsError)", "\(r.snrDB)", "\(r.bytes)"]
            }
            if let a = layer.activations {
                let e = a.outputErrors
                fields += ["\(a.tokens)", "\(a.maxAbs)", a.outlierColumns(at: threshold).map { "\($0)" } ?? "",
                           e.map { "\(int8Error($0, at: threshold).value)" } ?? "", e.map { "\(int8Error($0, at: threshold).measuredAt)" } ?? "",
                           e.map { "\($0.int8Pure)" } ?? "",
                           e.map { "\($0.nf4)" } ?? "", e.map { "\($0.nf4DoubleQuant)" } ?? "", e.map { "\($0.fp4)" } ?? "",
                           e.map { "\($0.fp4DoubleQuant)" } ?? ""]
            } else {
                fields += Array(repeating: "", count: 10)
            }
            fields += outlierFeatureFields(layer.name, features) + ["", ""]
            lines.append(fields.map(csvField).joined(separator: ","))
        }
        lines += expertCSVRows(report, threshold: threshold, blankColumns: header.firstIndex(of: "calib_tokens")! - 1)
        return lines.joined(separator: "\n") + "\n"
    }

    /// One row per routed expert projection of an MoE model, after the layers: no weight columns (the
    /// expert is kept), its input and what-if output errors in the activation columns, `routed_tokens`,
    /// and `what_if` saying what those errors are — or that the expert had no calibration tokens.
    private static func expertCSVRows(_ report: ModelReport, threshold: Float, blankColumns: Int) -> [String] {
        var lines: [String] = []
        for layer in report.experts ?? [] {
            for expert in layer.experts {
                let projections = [(expert.gate, expert.gateUpInput, expert.whatIf?.gate), (expert.up, expert.gateUpInput, expert.whatIf?.up),
                                   (expert.down, expert.downInput, expert.whatIf?.down)]
                for (name, input, errors) in projections {
                    var fields = [name] + Array(repeating: "", count: blankColumns)
                    if let input {
                        fields += ["\(input.tokens)", "\(input.maxAbs)", input.outlierColumns(at: threshold).map { "\($0)" } ?? ""]
                    } else {
                        fields += ["0", "", ""]
                    }
                    if let e = errors {
                        let atThreshold = e.int8Error(at: threshold)
                        fields += ["\(atThreshold.value)", "\(atThreshold.measuredAt)", "\(e.int8Pure)", "\(e.nf4)", "\(e.nf4DoubleQuant)",
                                   "\(e.fp4)", "\(e.fp4DoubleQuant)"]
                    } else {
                        fields += Array(repeating: "", count: 7)
                    }
                    fields += ["", "", "\(expert.routedTokens)",
                               expert.routedTokens == 0 ? "no calibration tokens" : ExpertReport.WhatIf.note]
                    lines.append(fields.map(csvField).joined(separator: ","))
                }
            }
        }
        return lines
    }

    /// Whether the layer reads a hidden state the outlier features are counted at (attention / mlp), and
    /// which outlier features reach the threshold in its block (space-separated dimensions).
    private static func outlierFeatureFields(_ layer: String, _ features: OutlierFeatures?) -> [String] {
        guard let features, let input = features.countedInputs.first(where: { $0.layers.contains(layer) }) else { return ["", ""] }
        let dimensions = features.features.filter { $0.layers.contains(input.block) }.map { "\($0.dimension)" }
        return [input.role.rawValue, dimensions.joined(separator: " ")]
    }

    private static func csvField(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    /// The int8 output error at a threshold from the grid: exact on a grid point, else the nearest
    /// point below (not exact), with the threshold it was measured at so that CSV readers see which.
    static func int8Error(_ errors: LayerActivationReport.OutputErrors, at threshold: Float) -> (value: Double, exact: Bool, measuredAt: Float) {
        errors.int8Error(at: threshold)
    }

    private static func percent(_ value: Double) -> String { String(format: "%.3f%%", value * 100) }

    /// Per layer: with activations, outlier columns and output errors; else weight errors. Then totals.
    static func table(_ report: ModelReport, markdown: Bool) -> String {
        let m = report.model
        var out = "\(m.name) · \(m.modelType ?? "unknown architecture") · \(formatCount(m.parameterCount)) params · "
        out += "\(m.dtype?.rawValue ?? "-") · \(formatBytes(m.fileBytes)) · blocksize \(report.blocksize)\n"
        let header: [String]
        let rows: [[String]]
        if let calibration = report.calibration, calibration.unavailable == nil {
            let t = calibration.threshold
            out += "Calibrated on \(calibration.tokens) tokens of \(calibration.source). Output error ‖Y_q − Y‖/‖Y‖ of each Linear "
            out += "on sampled calibration activations; outlier columns: inputs with any |x| ≥ \(String(format: "%g", t)) "
            out += "(kept in fp16 by LLM.int8).\n\n"
            let label = String(format: "%g", t)
            header = ["layer", "out×in", "max|x|", "outl.cols@\(label)", "int8@\(label)", "int8", "nf4", "nf4+dq", "fp4"]
            rows = report.layers.map { layer in
                let base = [layer.name, "\(layer.outFeatures)×\(layer.inFeatures)"]
                guard let a = layer.activations else { return base + Array(repeating: "-", count: 7) }
                let columns = a.outlierColumns(at: t) ?? 0
                let share = String(format: "%d %.1f%%", columns, Double(columns) / Double(max(layer.inFeatures, 1)) * 100)
                guard let e = a.outputErrors else { return base + [String(format: "%.4g", a.maxAbs), share] + Array(repeating: "-", count: 5) }
                let atThreshold = int8Error(e, at: t)
                return base + [String(format: "%.4g", a.maxAbs), share, (atThreshold.exact ? "" : "≈") + percent(atThreshold.value),
                               percent(e.int8Pure), percent(e.nf4), percent(e.nf4DoubleQuant), percent(e.fp4)]
            }
        } else {
            out += "Weight-only analysis: relative Frobenius error ‖W_q − W‖/‖W‖ of each weight. "
            out += "Activation outliers (the LLM.int8 threshold) need calibration"
            out += report.calibration?.unavailable.map { ", which is unavailable: \($0).\n\n" } ?? ".\n\n"
            header = ["layer", "out×in", "dtype", "max|w|"] + methods.map { "\($0.rawValue) err" }
            rows = report.layers.map { layer -> [String] in
                let largest = max(abs(layer.statistics.min), abs(layer.statistics.max))
                return [layer.name, "\(layer.outFeatures)×\(layer.inFeatures)", layer.dtype.rawValue, String(format: "%.4g", largest)]
                    + methods.map { method in layer.result(for: method).map { percent($0.relativeError) } ?? "-" }
            }
        }
        out += grid(header: header, rows: rows, markdown: markdown, rightAligned: Set(1..<header.count))
        out += "\n"
        if let features = report.calibration?.outlierFeatures { out += outlierFeatureLines(features, markdown: markdown) }
        if let experts = report.experts, let threshold = report.calibration?.threshold {
            out += expertLines(experts, threshold: threshold, markdown: markdown)
        }
        if let p = report.calibration?.perplexity { out += perplexityLines(p, threshold: report.calibration?.threshold ?? 6) }
        let t = report.totals
        out += "\(t.linearCount) Linear layers (\(formatCount(t.linearParameters)) params) converted; "
        let keptDTypes = Set(report.kept.map(\.dtype).filter(\.isDecodableFloat)).map(\.torchName).sorted().joined(separator: ", ")
        out += "\(report.kept.count) tensors kept unquantized (\(formatBytes(t.keptBytes))\(keptDTypes.isEmpty ? "" : " in " + keptDTypes)).\n"
        out += moeLine(report)
        out += "\n"
        let totalRows = [["original", formatBytes(t.originalBytes), "100.0%"]] + t.methods.map { total in
            [total.method.rawValue, formatBytes(total.bytes), String(format: "%.1f%%", Double(total.bytes) / Double(max(t.originalBytes, 1)) * 100)]
        }
        out += grid(header: ["model size", "bytes", "of original"], rows: totalRows, markdown: markdown, rightAligned: [1, 2])
        return out
    }

    /// The LLM.int8 paper's outlier features: the rule in words, then one row per qualifying dimension.
    static func outlierFeatureLines(_ f: OutlierFeatures, markdown: Bool) -> String {
        let t = String(format: "%g", f.threshold)
        var out = "Outlier features (LLM.int8 paper): hidden dimensions with |x| ≥ \(t) in ≥ \(Int(f.minimumLayerShare * 100))% of "
        out += "\(f.blocks) blocks and ≥ \(Int(f.minimumTokenShare * 100))% of \(f.positions) positions "
        out += "(\(f.countedInputs.count) attention and first-MLP inputs, hidden size \(f.hiddenSize)): "
        guard !f.features.isEmpty else { return out + "none.\n\n" }
        out += "\(f.features.count).\n\n"
        let rows = f.features.map { feature in
            ["\(feature.dimension)", String(format: "%.4g", feature.maxAbs), String(format: "%.1f%%", feature.layerShare * 100),
             String(format: "%.2f%%", feature.tokenShare * 100), blockRanges(feature.layers)]
        }
        out += grid(header: ["dimension", "max|x|", "layers", "tokens", "blocks"], rows: rows, markdown: markdown, rightAligned: [0, 1, 2, 3])
        return out + "\n"
    }

    /// An MoE model's routed experts: kept (bitsandbytes in transformers does not quantize them), the
    /// calibration tokens routed to each, what its inputs reached, and what-if errors labelled as such.
    static func expertLines(_ layers: [MoELayerReport], threshold: Float, markdown: Bool) -> String {
        guard let first = layers.first else { return "" }
        let t = String(format: "%g", threshold)
        var out = "MoE experts (kept unquantized: bitsandbytes in transformers does not quantize routed experts). "
        out += "Calibration tokens routed to each expert (each token to \(first.topK) of \(first.experts.count)); "
        out += "what-if: the output error if the expert were quantized, the largest of its gate/up/down projections — "
        out += "NOT what bitsandbytes in transformers does.\n\n"
        var rows: [[String]] = []
        for layer in layers {
            for expert in layer.experts {
                let base = [layer.module, "\(expert.expert)", "\(expert.routedTokens)",
                            String(format: "%.1f%%", Double(expert.routedTokens) / Double(max(layer.tokens, 1)) * 100)]
                guard let input = expert.gateUpInput, let down = expert.downInput else {
                    rows.append(base + ["no calibration tokens"] + Array(repeating: "-", count: 6))
                    continue
                }
                let columns = input.outlierColumns(at: threshold) ?? 0
                let inputs = [String(format: "%.4g", input.maxAbs), String(format: "%.4g", down.maxAbs), "\(columns)"]
                guard let w = expert.whatIf else { rows.append(base + inputs + Array(repeating: "-", count: 4)); continue }
                let atThreshold = [w.gate, w.up, w.down].map { $0.int8Error(at: threshold) }
                let exact = atThreshold.allSatisfy(\.exact)
                rows.append(base + inputs + [(exact ? "" : "≈") + percent(atThreshold.map(\.value).max() ?? 0), percent(w.largest(\.int8Pure)),
                                             percent(w.largest(\.nf4)), percent(w.largest(\.fp4))])
            }
        }
        let header = ["moe layer", "expert", "tokens", "share", "max|x| gate/up in", "max|x| down in", "outl.cols@\(t)",
                      "what-if int8@\(t)", "what-if int8", "what-if nf4", "what-if fp4"]
        out += grid(header: header, rows: rows, markdown: markdown, rightAligned: Set(1..<header.count))
        return out + "\n"
    }

    /// Ascending block numbers as ranges: [0, 1, 2, 5, 7, 8] → "0-2 5 7-8".
    static func blockRanges(_ blocks: [Int]) -> String {
        var parts: [String] = []
        var start = blocks.first, previous = blocks.first
        for block in blocks.dropFirst() + [Int.min] {
            if let p = previous, block == p + 1 { previous = block; continue }
            if let s = start, let p = previous { parts.append(s == p ? "\(s)" : "\(s)-\(p)") }
            (start, previous) = (block, block)
        }
        return parts.joined(separator: " ")
    }

    /// For a mixture-of-experts model: how much of it bitsandbytes leaves unquantized, and why; empty otherwise.
    static func moeLine(_ report: ModelReport) -> String {
        let moe = report.kept.filter(\.reason.isMoE)
        guard !moe.isEmpty else { return "" }
        let bytes = moe.reduce(0) { $0 + $1.bytes }
        let nf4 = report.totals.methods.first { $0.method == .nf4 }?.bytes ?? report.totals.originalBytes
        return "Of these, \(moe.count) MoE expert and router tensors (\(formatBytes(bytes))) are not quantized by bitsandbytes "
            + "in transformers (it fuses the experts into 3-D parameters; its routers are not nn.Linear): "
            + String(format: "%.0f%% of the original, %.0f%% of the nf4 model.\n",
                     Double(bytes) / Double(max(report.totals.originalBytes, 1)) * 100, Double(bytes) / Double(max(nf4, 1)) * 100)
    }

    /// Perplexity and KL from fp32 per method, both along the threshold grid, and the suggestion with its cost.
    static func perplexityLines(_ p: PerplexityReport, threshold: Float) -> String {
        let t = String(format: "%g", threshold)
        var out = String(format: "perplexity on %d tokens: fp32 %.3f · int8@%@ %.3f · int8 %.3f · nf4 %.3f · nf4+dq %.3f · fp4 %.3f · fp4+dq %.3f\n",
                         p.tokens, p.fp32, t, p.int8, p.int8Pure, p.nf4, p.nf4DoubleQuant, p.fp4, p.fp4DoubleQuant)
        let kl = p.klDivergence
        out += String(format: "KL from fp32, nats: int8@%@ %.4f · int8 %.4f · nf4 %.4f · nf4+dq %.4f · fp4 %.4f · fp4+dq %.4f\n",
                      t, kl.int8, kl.int8Pure, kl.nf4, kl.nf4DoubleQuant, kl.fp4, kl.fp4DoubleQuant)
        // The search from the top stops at the suggestion; lower grid thresholds were not measured.
        let unmeasured = p.suggestedThreshold.map { suggested in
            PerplexityReport.searchGrid.filter { t in t < suggested && !p.int8Curve.contains { $0.threshold == t } }.count
        } ?? 0
        out += "int8 by threshold, perplexity/KL: "
            + p.int8Curve.map { String(format: "%g→%.3f/%.4f", $0.threshold, $0.perplexity, $0.klDivergence) }.joined(separator: " ")
            + (unmeasured > 0 ? " (\(unmeasured) grid threshold\(unmeasured == 1 ? "" : "s") below the suggestion not measured: --full-curve)" : "") + "\n"
        let bound = String(format: "ln(1 + %.1f%%) = %.4f nats", p.tolerance * 100, p.maximumKLDivergence)
        out += p.suggestedThreshold.map {
            String(format: "suggested threshold: %g (highest with int8's KL from fp32 ≤ %@); %.2f%% of input columns run in fp16 there\n\n",
                   $0, bound, (p.suggestedFp16ColumnShare ?? 0) * 100)
        } ?? "no threshold keeps int8's KL from fp32 within \(bound)\n\n"
        return out
    }

    private static func grid(header: [String], rows: [[String]], markdown: Bool, rightAligned: Set<Int>) -> String {
        // In Markdown a `|` inside a cell (max|x|) would end the cell: GitHub reads `\|` as the character.
        let header = markdown ? header.map(escapePipes) : header
        let rows = markdown ? rows.map { $0.map(escapePipes) } : rows
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { i, cell -> String in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }
            guard !markdown else { return "| " + padded.joined(separator: " | ") + " |" }
            var text = padded.joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text
        }
        var lines = [line(header)]
        if markdown {
            lines.append("|" + widths.enumerated().map { i, w in
                rightAligned.contains(i) ? String(repeating: "-", count: w + 1) + ":" : String(repeating: "-", count: w + 2)
            }.joined(separator: "|") + "|")
        } else {
            lines.append(widths.map { String(repeating: "─", count: $0) }.joined(separator: "  "))
        }
        lines += rows.map(line)
        return lines.joined(separator: "\n") + "\n"
    }

    private static func escapePipes(_ cell: String) -> String { cell.replacingOccurrences(of: "|", with: "\\|") }

    static func formatBytes(_ bytes: Int) -> String {
        let value = Double(bytes)
        if value >= 1e9 { return String(format: "%.2f GB", value / 1e9) }
        if value >= 1e6 { return String(format: "%.1f MB", value / 1e6) }
        if value >= 1e3 { return String(format: "%.1f kB", value / 1e3) }
        return "\(bytes) B"
    }

    static func formatCount(_ count: Int) -> String {
        let value = Double(count)
        if value >= 1e9 { return String(format: "%.2fB", value / 1e9) }
        if value >= 1e6 { return String(format: "%.1fM", value / 1e6) }
        if value >= 1e3 { return String(format: "%.1fk", value / 1e3) }
        return "\(count)"
    }
}
