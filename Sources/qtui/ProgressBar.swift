import Foundation

/// A one-line progress bar on stderr with rate and ETA, drawn only when stderr is a terminal and at
/// most ten times a second, so piped output and logs stay clean.
final class ProgressBar {
    private let label: String
    private let enabled: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(label: String, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.label = label
        self.enabled = enabled
    }

    func update(done: Double, total: Double, unit: String, detail: String = "") {
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.1 || done >= total else { return }
        lastDraw = Date()
        let elapsed = max(Date().timeIntervalSince(start), 1e-6)
        let fraction = total > 0 ? min(done / total, 1) : 1
        let rate = done / elapsed
        let remaining = rate > 0 ? (total - done) / rate : 0
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = String(format: "%@ %@ %3.0f%%  %@/s  ETA %@  %@", label, bar, fraction * 100,
                          Self.scaled(rate, unit: unit), Self.duration(remaining), String(detail.suffix(40)))
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
        drawn = true
    }

    func finish() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    static func scaled(_ value: Double, unit: String) -> String {
        let steps: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (size, prefix) in steps where value >= size { return String(format: "%.1f %@%@", value / size, prefix, unit) }
        return String(format: "%.0f %@", value, unit)
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--" }
        let whole = Int(seconds.rounded())
        return whole >= 60 ? String(format: "%dm%02ds", whole / 60, whole % 60) : "\(whole)s"
    }
}
