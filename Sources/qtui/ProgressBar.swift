import Foundation
import QuantKit

/// A one-line progress bar on stderr with rate and ETA, drawn only when stderr is a terminal and at
/// most ten times a second, so piped output and logs stay clean.
final class ProgressBar {
    private let label: String
    private let enabled: Bool
    private var clock = ProgressClock()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(label: String, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.label = label
        self.enabled = enabled
    }

    func update(done: Double, total: Double, unit: String, detail: String = "", phase: String = "") {
        let progress = clock.reading(phase, done: done, total: total, unit: unit)
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.1 || done >= total else { return }
        lastDraw = Date()
        let width = 24
        let filled = Int(progress.fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = String(format: "%@ %@ %3.0f%%  %@  %@", label, bar, progress.fraction * 100, progress.rateAndETA,
                          String(((phase.isEmpty ? "" : phase + " ") + detail).suffix(48)))
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
        drawn = true
    }

    func update(_ progress: AnalysisProgress) {
        update(done: Double(progress.done), total: Double(progress.total), unit: progress.unit, detail: progress.detail,
               phase: progress.phase.rawValue)
    }

    func finish() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
