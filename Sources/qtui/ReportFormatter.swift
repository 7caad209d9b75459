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
            lines.append(fields.map(csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func csvField(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    /// Relative errors in percent per method, then model totals in bytes.
    static func table(_ report: ModelReport, markdown: Bool) -> String {
        let m = report.model
        var out = "\(m.name) · \(m.modelType ?? "unknown architecture") · \(formatCount(m.parameterCount)) params · "
        out += "\(m.dtype?.rawValue ?? "-") · \(formatBytes(m.fileBytes)) · blocksize \(report.blocksize)\n"
        out += "Weight-only analysis: relative Frobenius error ‖W_q − W‖/‖W‖ of each weight. "
        out += "Activation outliers (the LLM.int8 threshold) need calibration.\n\n"
        let header = ["layer", "out×in", "dtype", "max|w|"] + methods.map { "\($0.rawValue) err" }
        let rows = report.layers.map { layer -> [String] in
            let largest = max(abs(layer.statistics.min), abs(layer.statistics.max))
            return [layer.name, "\(layer.outFeatures)×\(layer.inFeatures)", layer.dtype.rawValue, String(format: "%.4g", largest)]
                + methods.map { method in layer.result(for: method).map { String(format: "%.3f%%", $0.relativeError * 100) } ?? "-" }
        }
        out += grid(header: header, rows: rows, markdown: markdown, rightAligned: Set(1..<header.count))
        out += "\n"
        let t = report.totals
        out += "\(t.linearCount) Linear layers (\(formatCount(t.linearParameters)) params) converted; "
        out += "\(report.kept.count) tensors kept as they are (\(formatBytes(t.keptBytes))).\n\n"
        let totalRows = [["original", formatBytes(t.originalBytes), "100.0%"]] + t.methods.map { total in
            [total.method.rawValue, formatBytes(total.bytes), String(format: "%.1f%%", Double(total.bytes) / Double(max(t.originalBytes, 1)) * 100)]
        }
        out += grid(header: ["model size", "bytes", "of original"], rows: totalRows, markdown: markdown, rightAligned: [1, 2])
        return out
    }

    private static func grid(header: [String], rows: [[String]], markdown: Bool, rightAligned: Set<Int>) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { i, cell -> String in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }
            return markdown ? "| " + padded.joined(separator: " | ") + " |" : padded.joined(separator: "  ")
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
