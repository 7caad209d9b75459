import Foundation
import Synchronization
import QuantKit

/// Carries out the reducer's effects: one thread per running job, each posting `Action`s into one
/// mailbox that the loop drains between keys. Starting a job cancels the one of its kind before it,
/// and that one's late reports are dropped (each job has its own ticket).
final class BackgroundWork {
    private let model: OpenedModel
    private let threads: Int
    /// Calibration text and settings; nil: weights only.
    private let calibration: CalibrationRequest?
    private let mailbox = Mailbox<(ticket: Int, action: Action)>()
    private var jobs: [Job: RunningJob] = [:]
    private var nextTicket = 0
    /// The export laid out for the open dialog, written when the user confirms.
    private var exportLayout: ExportLayout?

    init(model: OpenedModel, threads: Int, calibration: CalibrationRequest?) {
        self.model = model
        self.threads = threads
        self.calibration = calibration
    }

    /// Reports that arrived since the last call, from jobs still current.
    func drain() -> [Action] {
        mailbox.drain().filter { ticket, _ in jobs.values.contains { $0.ticket == ticket } }.map(\.action)
    }

    /// Runs one effect; what it answers at once (a planned export, a completed path) is returned.
    func perform(_ effect: Effect, state: ExplorerState) -> [Action] {
        switch effect {
        case .analyse(let blocksize, let reuse):
            var analyzer = analyzer(blocksize: blocksize)
            analyzer?.knownStatistics = reuse ? state.calibrationStatistics : nil
            guard let analyzer else { return [] }
            start(.analysis) { post, isCancelled in
                var clock = ProgressClock()
                try analyzer.run(emit: { event in
                    if case .progress(let progress) = event { post(.progress(.analysis, clock.reading(progress))) } else { post(.analysis(event)) }
                }, isCancelled: isCancelled)
            }
        case .refine(let threshold):
            guard let analyzer = analyzer(blocksize: state.blocksize), let statistics = state.calibrationStatistics else { return [] }
            start(.refinement) { post, isCancelled in
                try analyzer.refineInt8(at: threshold, statistics: statistics, emit: { post(.analysis($0)) }, isCancelled: isCancelled)
            }
        case .measurePerplexity(let threshold, let blocksize, let skipModules):
            guard let analyzer = analyzer(blocksize: blocksize) else { return [] }
            start(.perplexity) { post, isCancelled in
                var clock = ProgressClock()
                try analyzer.measurePerplexity(threshold: threshold, skipModules: skipModules, emit: { event in
                    if case .progress(let progress) = event { post(.progress(.perplexity, clock.reading(progress))) } else { post(.analysis(event)) }
                }, isCancelled: isCancelled)
            }
        case .planExport(let plan):
            return [planExport(plan, state: state)]
        case .completePath(let text):
            return [.edit(.replace(PathCompletion.complete(text)))]
        case .export(let path):
            guard let layout = exportLayout else { return [.ended(.export, .failed("no export was planned"))] }
            let exporter = Exporter(checkpoint: model.checkpoint, plan: layout.plan, threads: threads)
            start(.export) { post, isCancelled in
                var clock = ProgressClock()
                let result = try exporter.write(layout, to: path, force: false, progress: { progress in
                    post(.progress(.export, clock.reading("exporting", done: Double(progress.done), total: Double(progress.total), unit: "B")))
                }, isCancelled: isCancelled)
                post(.exported("wrote \(result.directory): \(ReportFormatter.formatBytes(result.weightBytes)) in "
                               + "\(result.files.count) files, verified"))
            }
        case .cancel(let job):
            jobs[job]?.cancel()
        case .exit:
            break
        }
        return []
    }

    /// Cancels everything; waits (up to `patience`) for jobs that write files, so an interrupted export
    /// removes its partial folder before the process ends.
    func stopAll(patience: TimeInterval = 30) {
        for job in jobs.values { job.cancel() }
        jobs[.export]?.wait(upTo: patience)
    }

    private func analyzer(blocksize: Int) -> ModelAnalyzer? {
        try? ModelAnalyzer(model, weights: WeightAnalyzer(blocksize: blocksize, threads: threads), calibration: calibration)
    }

    private func planExport(_ plan: ExportPlan, state: ExplorerState) -> Action {
        var offsets: [String: Float] = [:]
        if state.analysedBlocksize == state.blocksize {
            for layer in state.layers { if let report = layer.weights { offsets[layer.name] = report.nestedOffset } }
        }
        do {
            let layout = try Exporter(checkpoint: model.checkpoint, plan: plan, threads: threads).layout(knownOffsets: offsets)
            exportLayout = layout
            return .exportPlanned(ExportDialog(path: TextPrompt(.exportPath, text: ExportDestination.freePath(for: model, plan: plan)),
                                               fileBytes: layout.totalBytes, tensorBytes: layout.tensorBytes,
                                               weightFiles: layout.shards.count, converted: layout.converted.count))
        } catch {
            return .ended(.export, .failed("cannot plan the export: \(error)"))
        }
    }

    /// Starts `body` on its own thread as the current job of its kind; it ends with `.ended`.
    private func start(_ job: Job, _ body: @escaping @Sendable (_ post: @escaping @Sendable (Action) -> Void,
                                                                _ isCancelled: @escaping @Sendable () -> Bool) throws -> Void) {
        jobs[job]?.cancel()
        nextTicket += 1
        let running = RunningJob(ticket: nextTicket)
        jobs[job] = running
        let mailbox = mailbox
        let ticket = running.ticket
        let post: @Sendable (Action) -> Void = { mailbox.post((ticket, $0)) }
        startThread {
            let outcome: JobOutcome
            do {
                try body(post, { running.isCancelled })
                outcome = running.isCancelled ? .cancelled : .completed
            } catch is CancellationError {
                outcome = .cancelled
            } catch {
                outcome = .failed("\(error)")
            }
            HeapPolicy.returnFreeMemory()
            post(.ended(job, outcome))
            running.finish()
        }
    }
}

/// One job's cancel flag and end, shared by the loop and the job's thread.
final class RunningJob: Sendable {
    let ticket: Int
    private let cancelled = Atomic(false)
    private let finished = DispatchSemaphore(value: 0)

    init(ticket: Int) { self.ticket = ticket }

    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Called once, by the job's thread, when it has cleaned up.
    func finish() { finished.signal() }

    func wait(upTo seconds: TimeInterval) {
        if finished.wait(timeout: .now() + seconds) == .success { finished.signal() }
    }
}
