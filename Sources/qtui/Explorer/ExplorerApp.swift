import Foundation
import QuantKit

extension ExplorerState {
    /// The state for a freshly opened checkpoint: every converted Linear listed, none analysed yet.
    init(checkpoint: Checkpoint, plan: LinearLayerPlan, threshold: Float, blocksize: Int, width: Int, height: Int) {
        var parametersByDType: [DType: Int] = [:]
        for tensor in checkpoint.tensors where tensor.dtype.isDecodableFloat {
            parametersByDType[tensor.dtype, default: 0] += tensor.elementCount
        }
        let model = Model(
            name: checkpoint.name,
            architecture: checkpoint.config?.modelType ?? "unknown architecture",
            parameterCount: checkpoint.tensors.reduce(0) { $0 + $1.elementCount },
            dtype: parametersByDType.max { $0.value < $1.value }?.key.rawValue ?? "-",
            fileBytes: checkpoint.fileBytes,
            keptBytes: plan.kept.reduce(0) { $0 + $1.tensor.byteCount },
            fp16Bytes: checkpoint.tensors.reduce(0) { $0 + ($1.dtype.isDecodableFloat ? 2 * $1.elementCount : $1.byteCount) })
        self.init(model: model, layers: plan.linears.map {
            LayerEntry(name: $0.name, outFeatures: $0.outFeatures, inFeatures: $0.inFeatures, dtype: $0.weight.dtype,
                       storedBytes: $0.weight.byteCount, weights: nil)
        })
        self.threshold = threshold
        self.blocksize = blocksize
        self.analysedBlocksize = blocksize
        self.width = width
        self.height = height
    }

    /// Folds a background analysis event into the state.
    mutating func apply(_ event: AnalysisWorker.Event) {
        switch event {
        case .progress(let progress):
            self.progress = progress
        case .layer(let index, let report):
            if layers.indices.contains(index) { layers[index].weights = report }
        case .finished(let blocksize, let cancelled):
            progress = nil
            if cancelled {
                message = "analysis cancelled: layers without numbers were not analysed"
            } else {
                analysedBlocksize = blocksize
            }
        case .calibrated(let tokens, let statistics):
            calibrationTokens = tokens
            for index in layers.indices { layers[index].activations = statistics[layers[index].name] }
        case .activationsUnavailable(let reason):
            activationsUnavailable = reason
            histogramSource = .weights
            message = "weights only: \(reason)"
        case .outputErrors(let index, let errors):
            if layers.indices.contains(index) { layers[index].outputErrors = errors }
        case .failed(let reason):
            progress = nil
            message = "analysis failed: \(reason)"
        }
        if progress?.title.isEmpty == true { progress = nil }
    }

    /// The statistics calibration produced, for reuse when only the blocksize changes.
    var calibrationStatistics: [String: ActivationStatistics]? {
        let known = layers.compactMap { layer in layer.activations.map { (layer.name, $0) } }
        return known.isEmpty ? nil : Dictionary(uniqueKeysWithValues: known)
    }

    /// Folds a background export event into the state (the dialog shows how it ended).
    mutating func apply(_ event: ExportWorker.Event) {
        guard case .export(var dialog) = overlay else { return }
        switch event {
        case .progress(let progress): self.progress = progress
        case .finished(let summary):
            progress = nil
            dialog.stage = .finished(summary)
        case .failed(let reason):
            progress = nil
            dialog.stage = .failed(reason)
        }
        overlay = .export(dialog)
    }

    /// Folds an exact int8 error into the state (stale ones, for an older threshold, are dropped).
    mutating func apply(_ event: RefineWorker.Event) {
        switch event {
        case .refined(let index, let threshold, let value):
            if layers.indices.contains(index) { layers[index].refined = (threshold, value) }
        case .done:
            break
        }
    }

    /// Folds a perplexity event into the state.
    mutating func apply(_ event: PerplexityWorker.Event) {
        switch event {
        case .progress(let progress): self.progress = progress
        case .finished(let report, let threshold):
            progress = nil
            perplexity = (report, threshold)
        case .failed(let reason):
            progress = nil
            message = reason
        }
    }

    /// The plan as an export would write it.
    var exportPlan: ExportPlan {
        var plan = ExportPlan(method: method)
        plan.doubleQuant = doubleQuant && method != .int8
        plan.blocksize = blocksize
        plan.threshold = (Double(threshold) * 100).rounded() / 100
        plan.skipModules = layers.map(\.name).filter { skipped.contains($0) }
        return plan
    }
}

/// The event loop: keys → actions → state → frame; background results folded in between keys.
final class ExplorerApp {
    private let checkpoint: Checkpoint
    private let plan: LinearLayerPlan
    private let threads: Int
    /// Calibration text and token count; nil: weights only.
    private let calibration: (text: String, tokens: Int)?
    private var analysis: Mailbox<AnalysisWorker.Event>?
    private var export: Mailbox<ExportWorker.Event>?
    private var perplexity: Mailbox<PerplexityWorker.Event>?
    private var refine: Mailbox<RefineWorker.Event>?
    private var refinedThreshold: Float?
    private var exportLayout: ExportLayout?

    init(checkpoint: Checkpoint, plan: LinearLayerPlan, threads: Int, calibration: (text: String, tokens: Int)?) {
        self.checkpoint = checkpoint
        self.plan = plan
        self.threads = threads
        self.calibration = calibration
    }

    func run(threshold: Float, blocksize: Int, terminal: Terminal) {
        var state = ExplorerState(checkpoint: checkpoint, plan: plan, threshold: threshold, blocksize: blocksize,
                                  width: terminal.width, height: terminal.height)
        startAnalysis(&state)
        var dirty = true
        defer { analysis?.cancel(); export?.cancel(); perplexity?.cancel(); refine?.cancel() }
        while !terminal.terminationRequested {
            dirty = foldBackgroundEvents(into: &state) || dirty
            if dirty {
                terminal.present(render(state, glyphs: terminal.glyphs))
                dirty = false
            }
            guard let key = terminal.readKey(), let action = KeyMap.action(for: key, in: state) else { continue }
            dirty = true
            switch reduce(&state, action) {
            case .quit: return
            case .reanalyse:
                analysis?.cancel()
                startAnalysis(&state)
            case .cancelWork:
                analysis?.cancel()
                export?.cancel()
                perplexity?.cancel()
            case .startPerplexity:
                guard let calibration else { break }
                state.progress = WorkProgress(title: "perplexity per method", done: 0, total: 1, unit: "pass", rate: 0, secondsLeft: .nan)
                perplexity = PerplexityWorker.start(checkpoint, text: calibration.text, tokenLimit: calibration.tokens,
                                                    threshold: state.threshold, blocksize: state.blocksize,
                                                    skipModules: state.exportPlan.skipModules)
            case .prepareExport: prepareExport(&state)
            case .startExport: startExport(&state)
            case .none, .redraw: break
            }
            refineIfNeeded(state)
        }
    }

    /// Off the grid, the int8 errors are measured exactly at the threshold in the background; the table
    /// marks them ≈ until they arrive.
    private func refineIfNeeded(_ state: ExplorerState) {
        guard state.threshold != refinedThreshold, state.progress == nil, state.hasActivations else { return }
        refinedThreshold = state.threshold
        refine?.cancel()
        guard !ActivationErrors.defaultGrid.contains(state.threshold), state.threshold > 0 else { return }
        var samples: [Int: ActivationStatistics] = [:]
        for (index, layer) in state.layers.enumerated() { samples[index] = layer.activations }
        refine = RefineWorker.start(checkpoint, linears: plan.linears, samples: samples, threshold: state.threshold)
    }

    private func foldBackgroundEvents(into state: inout ExplorerState) -> Bool {
        let analysed = analysis?.drain() ?? []
        for event in analysed { state.apply(event) }
        let exported = export?.drain() ?? []
        for event in exported { state.apply(event) }
        let measured = perplexity?.drain() ?? []
        for event in measured { state.apply(event) }
        let refined = refine?.drain() ?? []
        for event in refined { state.apply(event) }
        return !analysed.isEmpty || !exported.isEmpty || !measured.isEmpty || !refined.isEmpty
    }

    private func startAnalysis(_ state: inout ExplorerState) {
        guard !plan.linears.isEmpty else { return }
        state.progress = WorkProgress(title: "analysing weights (blocksize \(state.blocksize))", done: 0,
                                      total: Double(plan.linears.reduce(0) { $0 + $1.parameterCount }), unit: "param",
                                      rate: 0, secondsLeft: .nan)
        let job = calibration.map {
            AnalysisWorker.CalibrationJob(text: $0.text, tokenLimit: $0.tokens, statistics: state.calibrationStatistics)
        }
        for index in state.layers.indices { state.layers[index].outputErrors = nil }
        analysis = AnalysisWorker.start(checkpoint, linears: plan.linears, blocksize: state.blocksize, threads: threads,
                                        calibration: job)
    }

    /// Lays the export out (its exact size) and opens the dialog with a free path beside the input.
    private func prepareExport(_ state: inout ExplorerState) {
        let exportPlan = state.exportPlan
        var offsets: [String: Float] = [:]
        if state.analysedBlocksize == state.blocksize {
            for layer in state.layers { if let report = layer.weights { offsets[layer.name] = report.nestedOffset } }
        }
        do {
            let layout = try Exporter(checkpoint: checkpoint, plan: exportPlan, threads: threads).layout(knownOffsets: offsets)
            exportLayout = layout
            state.overlay = .export(ExportDialog(path: Self.freePath(for: checkpoint, plan: exportPlan), predictedBytes: layout.totalBytes,
                                                 files: layout.shards.count, converted: layout.converted.count))
        } catch {
            state.message = "cannot plan the export: \(error)"
        }
    }

    private func startExport(_ state: inout ExplorerState) {
        guard case .export(let dialog) = state.overlay, let layout = exportLayout else { return }
        let exporter = Exporter(checkpoint: checkpoint, plan: layout.plan, threads: threads)
        export = ExportWorker.start(exporter, layout: layout, to: dialog.path)
    }

    /// `<input folder>-nf4-dq`, or with -2, -3 … when that exists.
    static func freePath(for checkpoint: Checkpoint, plan: ExportPlan) -> String {
        var base = URL(fileURLWithPath: checkpoint.path).standardizedFileURL.path
        if !checkpoint.isFolder { base = (base as NSString).deletingPathExtension }
        base += "-" + plan.method.rawValue + (plan.doubleQuant ? "-dq" : "")
        var candidate = base
        var counter = 2
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = "\(base)-\(counter)"
            counter += 1
        }
        return candidate
    }
}
