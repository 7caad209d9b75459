import Foundation
import QuantKit

/// The weight analysis on a background thread: a layer report at a time, with progress.
enum AnalysisWorker {
    enum Event {
        case progress(WorkProgress)
        case layer(index: Int, report: LayerReport)
        case finished(blocksize: Int, cancelled: Bool)
        case failed(String)
    }

    /// Analyses every layer of the plan, in order, with this blocksize.
    static func start(_ checkpoint: Checkpoint, linears: [LinearLayer], blocksize: Int, threads: Int) -> Mailbox<Event> {
        let mailbox = Mailbox<Event>()
        startThread {
            let analyzer = WeightAnalyzer(blocksize: blocksize, threads: threads)
            let total = linears.reduce(0) { $0 + $1.parameterCount }
            let started = Date()
            var done = 0
            for (index, layer) in linears.enumerated() {
                do {
                    let report = try analyzer.analyze(layer, in: checkpoint, isCancelled: { mailbox.isCancelled })
                    done += layer.parameterCount
                    let rate = Double(done) / max(Date().timeIntervalSince(started), 1e-6)
                    mailbox.post(.layer(index: index, report: report))
                    mailbox.post(.progress(WorkProgress(title: "analysing weights (blocksize \(blocksize))", done: Double(done),
                                                        total: Double(total), unit: "param", rate: rate,
                                                        secondsLeft: Double(total - done) / max(rate, 1))))
                } catch is CancellationError {
                    mailbox.post(.finished(blocksize: blocksize, cancelled: true))
                    return
                } catch {
                    mailbox.post(.failed("\(error)"))
                    return
                }
            }
            mailbox.post(.finished(blocksize: blocksize, cancelled: false))
        }
        return mailbox
    }
}

/// An export on a background thread, with progress.
enum ExportWorker {
    enum Event {
        case progress(WorkProgress)
        case finished(String)
        case failed(String)
    }

    static func start(_ exporter: Exporter, layout: ExportLayout, to path: String) -> Mailbox<Event> {
        let mailbox = Mailbox<Event>()
        startThread {
            let started = Date()
            do {
                let result = try exporter.write(layout, to: path, force: false, progress: { progress in
                    let rate = Double(progress.done) / max(Date().timeIntervalSince(started), 1e-6)
                    mailbox.post(.progress(WorkProgress(title: "exporting", done: Double(progress.done), total: Double(progress.total),
                                                        unit: "B", rate: rate, secondsLeft: Double(progress.total - progress.done) / max(rate, 1))))
                }, isCancelled: { mailbox.isCancelled })
                mailbox.post(.finished("wrote \(result.directory): \(ReportFormatter.formatBytes(result.weightBytes)) in "
                                       + "\(result.files.count) files, verified"))
            } catch is CancellationError {
                mailbox.post(.failed("export cancelled; nothing was written"))
            } catch {
                mailbox.post(.failed("\(error)"))
            }
        }
        return mailbox
    }
}
