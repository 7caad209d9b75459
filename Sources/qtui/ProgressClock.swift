import Foundation
import QuantKit

/// How far a piece of work is, with its rate and time left when they are known yet.
struct WorkProgress: Equatable {
    var title: String
    var done: Double
    var total: Double
    var unit: String
    /// Units per second; nil until the work has run long enough to say.
    var rate: Double?
    var secondsLeft: Double?

    var fraction: Double { total > 0 ? min(max(done / total, 0), 1) : 0 }

    /// "12 layer/s  ETA 8s", or "starting…" before the rate is known.
    var rateAndETA: String {
        guard let rate, let secondsLeft else { return "starting…" }
        return "\(Self.scaled(rate, unit: unit))/s  ETA \(Self.duration(secondsLeft))"
    }

    static func scaled(_ value: Double, unit: String) -> String {
        let steps: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (size, prefix) in steps where value >= size { return String(format: "%.1f %@%@", value / size, prefix, unit) }
        return String(format: "%.0f %@", value, unit)
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--" }
        let whole = Int(seconds.rounded())
        if whole >= 3600 { return String(format: "%dh%02dm", whole / 3600, whole / 60 % 60) }
        return whole >= 60 ? String(format: "%dm%02ds", whole / 60, whole % 60) : "\(whole)s"
    }
}

/// The one place rates and times left are measured, for the stderr bar and the explorer alike. Each
/// title (a phase: weights, calibration, …) is timed from its own first report, and nothing is
/// estimated before a quarter second and some progress have passed — an estimate from one early
/// sample reads "0 pass/s, ETA 5000h".
struct ProgressClock {
    private var title = ""
    private var started = Date()
    private var doneAtStart = 0.0
    private let now: () -> Date

    init(now: @escaping () -> Date = Date.init) {
        self.now = now
    }

    mutating func reading(_ title: String, done: Double, total: Double, unit: String) -> WorkProgress {
        if title != self.title || done < doneAtStart {
            self.title = title
            started = now()
            doneAtStart = done
        }
        let elapsed = now().timeIntervalSince(started)
        var progress = WorkProgress(title: title, done: done, total: total, unit: unit)
        if elapsed >= 0.25, done > doneAtStart {
            let rate = (done - doneAtStart) / elapsed
            progress.rate = rate
            progress.secondsLeft = max(total - done, 0) / rate
        }
        return progress
    }

    /// An analysis phase as the screen titles it.
    mutating func reading(_ progress: AnalysisProgress) -> WorkProgress {
        reading(progress.phase.title, done: Double(progress.done), total: Double(progress.total), unit: progress.unit)
    }
}

extension AnalysisPhase {
    var title: String {
        switch self {
        case .weights: return "analysing weights"
        case .calibration: return "calibrating"
        case .outputErrors: return "output errors on activations"
        case .expertWhatIf: return "what-if errors of the MoE experts"
        case .perplexity: return "perplexity per method"
        case .refinement: return "exact int8 errors"
        }
    }
}
