import Foundation
import QuantKit

/// Runs the weight analysis on a background thread and hands results to the event loop through a
/// locked mailbox; the loop drains it between keys, so the keyboard never waits for the analysis.
final class AnalysisWorker: @unchecked Sendable {
    enum Event {
        case progress(WorkProgress)
        case layer(index: Int, report: LayerReport)
        case finished(blocksize: Int, cancelled: Bool)
        case failed(String)
    }

    private let lock = NSLock()
    private var events: [Event] = []
    private var cancelled = false

    /// Analyses every layer of the plan, in order, with this blocksize.
    func start(_ checkpoint: Checkpoint, linears: [LinearLayer], blocksize: Int, threads: Int) {
        let thread = Thread { [self] in
            let analyzer = WeightAnalyzer(blocksize: blocksize, threads: threads)
            let total = linears.reduce(0) { $0 + $1.parameterCount }
            let started = Date()
            var done = 0
            for (index, layer) in linears.enumerated() {
                if isCancelled { post(.finished(blocksize: blocksize, cancelled: true)); return }
                do {
                    let report = try analyzer.analyze(layer, in: checkpoint, isCancelled: { self.isCancelled })
                    done += layer.parameterCount
                    let elapsed = max(Date().timeIntervalSince(started), 1e-6)
                    let rate = Double(done) / elapsed
                    post(.layer(index: index, report: report))
                    post(.progress(WorkProgress(title: "analysing weights (blocksize \(blocksize))", done: Double(done),
                                                total: Double(total), unit: "param", rate: rate,
                                                secondsLeft: Double(total - done) / max(rate, 1))))
                } catch is CancellationError {
                    post(.finished(blocksize: blocksize, cancelled: true))
                    return
                } catch {
                    post(.failed("\(error)"))
                    return
                }
            }
            post(.finished(blocksize: blocksize, cancelled: false))
        }
        thread.stackSize = 1 << 22
        thread.start()
    }

    func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
    }

    var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    func drain() -> [Event] {
        lock.lock()
        defer { lock.unlock() }
        let drained = events
        events.removeAll()
        return drained
    }

    private func post(_ event: Event) {
        lock.lock()
        events.append(event)
        lock.unlock()
    }
}
