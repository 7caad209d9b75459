import Foundation

enum Format {
    static func percent(_ fraction: Double?) -> String {
        guard let fraction, fraction.isFinite else { return "…" }
        let value = fraction * 100
        return value < 10 ? String(format: "%.2f%%", value) : String(format: "%.1f%%", value)
    }

    static func bytes(_ count: Int) -> String { ReportFormatter.formatBytes(count) }

    /// Left-truncates with an ellipsis so the distinctive end of a layer name stays visible.
    static func fit(_ text: String, _ width: Int, _ glyphs: Glyphs) -> String {
        guard width > 0 else { return "" }
        if text.count <= width { return text + String(repeating: " ", count: width - text.count) }
        return String(glyphs.ellipsis) + String(text.suffix(width - 1))
    }

    static func right(_ text: String, _ width: Int) -> String {
        text.count >= width ? String(text.prefix(width)) : String(repeating: " ", count: width - text.count) + text
    }

    /// Cuts prose to `width` with an ellipsis at the end (names keep their end: `fit`).
    static func clip(_ text: String, _ width: Int, _ glyphs: Glyphs) -> String {
        guard width > 0 else { return "" }
        return text.count <= width ? text : String(text.prefix(width - 1)) + String(glyphs.ellipsis)
    }

    /// As many whole parts as fit in `width`, joined by `separator`, with an ellipsis when any had to go.
    static func parts(_ parts: [String], width: Int, separator: String, glyphs: Glyphs) -> String {
        var text = ""
        for (index, part) in parts.enumerated() {
            let candidate = text.isEmpty ? part : text + separator + part
            let room = index == parts.count - 1 ? width : width - 2
            if candidate.count > room { return text.isEmpty ? clip(part, width, glyphs) : text + " " + String(glyphs.ellipsis) }
            text = candidate
        }
        return text
    }
}
