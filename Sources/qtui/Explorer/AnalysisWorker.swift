import Foundation
import QuantKit

/// Background analysis: the weights layer by layer, then (when the model can run) calibration on the
/// text and the output error of every layer on the sampled activations. Results arrive as events.
enum AnalysisWorker {
    enum Event {
        case progress(WorkProgress)
        case layer(index: Int, report: LayerReport)
        case finished(blocksize: Int, cancelled: Bool)
        case calibrated(tokens: Int, statistics: [String: ActivationStatistics])
        case activationsUnavailable(String)
        case outputErrors(index: Int, errors: ActivationErrors)
        case failed(String)
    }

    /// What to calibrate with; nil statistics means "run the model", given ones are reused (a new
    /// blocksize changes the errors, not what the model sees).
    struct CalibrationJob {
        var text: String
        var tokenLimit: Int
        var statistics: [String: ActivationStatistics]?
    }

    static func start(_ checkpoint: Checkpoint, linears: [LinearLayer], blocksize: Int, threads: Int,
                      calibration: CalibrationJob?) -> Mailbox<Event> {
        let mailbox = Mailbox<Event>()
        startThread {
            do {
                try analyseWeights(checkpoint, linears: linears, blocksize: blocksize, threads: threads, mailbox: mailbox)
                mailbox.post(.finished(blocksize: blocksize, cancelled: false))
                if let calibration {
                    try measureActivations(checkpoint, linears: linears, blocksize: blocksize, job: calibration, mailbox: mailbox)
                }
            } catch is CancellationError {
                mailbox.post(.finished(blocksize: blocksize, cancelled: true))
            } catch {
                mailbox.post(.failed("\(error)"))
            }
        }
        return mailbox
    }

    private static func analyseWeights(_ checkpoint: Checkpoint, linears: [LinearLayer], blocksize: Int, threads: Int,
                                       mailbox: Mailbox<Event>) throws {
        let analyzer = WeightAnalyzer(blocksize: blocksize, threads: threads)
        let total = linears.reduce(0) { $0 + $1.parameterCount }
        let started = Date()
        var done = 0
        for (index, layer) in linears.enumerated() {
            let report = try analyzer.analyze(layer, in: checkpoint, isCancelled: { mailbox.isCancelled })
            done += layer.parameterCount
            let rate = Double(done) / max(Date().timeIntervalSince(started), 1e-6)
            mailbox.post(.layer(index: index, report: report))
            mailbox.post(.progress(WorkProgress(title: "analysing weights (blocksize \(blocksize))", done: Double(done),
                                                total: Double(total), unit: "param", rate: rate,
                                                secondsLeft: Double(total - done) / max(rate, 1))))
        }
    }

    private static func measureActivations(_ checkpoint: Checkpoint, linears: [LinearLayer], blocksize: Int, job: CalibrationJob,
                                           mailbox: Mailbox<Event>) throws {
        var statistics = job.statistics ?? [:]
        if job.statistics == nil {
            let runtime: ModelRuntime
            let tokenizer: Tokenizer
            do {
                runtime = try ModelRuntime(checkpoint: checkpoint)
                tokenizer = try Calibration.tokenizer(for: checkpoint)
            } catch {
                mailbox.post(.activationsUnavailable("\(error)"))
                return
            }
            let calibration = Calibration(tokenLimit: job.tokenLimit)
            let tokens = try calibration.tokens(of: job.text, tokenizer: tokenizer)
            let started = Date()
            statistics = try calibration.run(runtime, tokens: tokens, progress: { seen in
                let rate = Double(seen.layersSeen) / max(Date().timeIntervalSince(started), 1e-6)
                mailbox.post(.progress(WorkProgress(title: "calibrating on \(tokens.count) tokens", done: Double(seen.layersSeen),
                                                    total: Double(seen.layerCount), unit: "layer", rate: rate,
                                                    secondsLeft: Double(seen.layerCount - seen.layersSeen) / max(rate, 1e-6))))
            }, isCancelled: { mailbox.isCancelled })
            mailbox.post(.calibrated(tokens: tokens.count, statistics: statistics))
        }
        let started = Date()
        for (index, layer) in linears.enumerated() {
            if mailbox.isCancelled { throw CancellationError() }
            guard let seen = statistics[layer.name], seen.sampleRows > 0 else { continue }
            let errors = ActivationErrors.measure(layer, in: checkpoint, sample: seen.sample, rows: seen.sampleRows, blocksize: blocksize)
            mailbox.post(.outputErrors(index: index, errors: errors))
            let rate = Double(index + 1) / max(Date().timeIntervalSince(started), 1e-6)
            mailbox.post(.progress(WorkProgress(title: "output errors on activations", done: Double(index + 1), total: Double(linears.count),
                                                unit: "layer", rate: rate, secondsLeft: Double(linears.count - index - 1) / max(rate, 1e-6))))
        }
        mailbox.post(.progress(WorkProgress(title: "", done: 1, total: 1, unit: "", rate: 0, secondsLeft: 0)))
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

/// Perplexity per method on the calibration text, in the background (a forward pass per method).
enum PerplexityWorker {
    enum Event {
        case progress(WorkProgress)
        case finished(PerplexityReport, threshold: Float)
        case failed(String)
    }

    static func start(_ checkpoint: Checkpoint, text: String, tokenLimit: Int, threshold: Float, blocksize: Int,
                      skipModules: [String]) -> Mailbox<Event> {
        let mailbox = Mailbox<Event>()
        startThread {
            do {
                let runtime = try ModelRuntime(checkpoint: checkpoint)
                let calibration = Calibration(tokenLimit: tokenLimit)
                let tokens = try calibration.tokens(of: text, tokenizer: try Calibration.tokenizer(for: checkpoint))
                let started = Date()
                let report = try PerplexityReport.measure(runtime, tokens: tokens, threshold: threshold, blocksize: blocksize,
                                                          skipModules: skipModules, progress: { done, total in
                    let rate = Double(done) / max(Date().timeIntervalSince(started), 1e-6)
                    mailbox.post(.progress(WorkProgress(title: "perplexity per method", done: Double(done), total: Double(total),
                                                        unit: "pass", rate: rate, secondsLeft: Double(total - done) / max(rate, 1e-6))))
                }, isCancelled: { mailbox.isCancelled })
                mailbox.post(.finished(report, threshold: threshold))
            } catch is CancellationError {
                mailbox.post(.failed("perplexity cancelled"))
            } catch {
                mailbox.post(.failed("perplexity failed: \(error)"))
            }
        }
        return mailbox
    }
}

/// The int8 output error of every layer exactly at a threshold between grid points.
enum RefineWorker {
    enum Event {
        case refined(index: Int, threshold: Float, value: Double)
        case done
    }

    static func start(_ checkpoint: Checkpoint, linears: [LinearLayer], samples: [Int: ActivationStatistics],
                      threshold: Float) -> Mailbox<Event> {
        let mailbox = Mailbox<Event>()
        startThread {
            for (index, layer) in linears.enumerated() {
                if mailbox.isCancelled { return }
                guard let seen = samples[index], seen.sampleRows > 0 else { continue }
                let value = ActivationErrors.int8Error(layer, in: checkpoint, sample: seen.sample, rows: seen.sampleRows, threshold: threshold)
                mailbox.post(.refined(index: index, threshold: threshold, value: value))
            }
            mailbox.post(.done)
        }
        return mailbox
    }
}
