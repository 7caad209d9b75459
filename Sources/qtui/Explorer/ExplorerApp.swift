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

    /// Folds a background event into the state.
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
        case .failed(let reason):
            progress = nil
            message = "analysis failed: \(reason)"
        }
    }
}

/// The event loop: keys → actions → state → frame; background results folded in between keys.
final class ExplorerApp {
    private let checkpoint: Checkpoint
    private let plan: LinearLayerPlan
    private let threads: Int
    private var worker = AnalysisWorker()

    init(checkpoint: Checkpoint, plan: LinearLayerPlan, threads: Int) {
        self.checkpoint = checkpoint
        self.plan = plan
        self.threads = threads
    }

    func run(threshold: Float, blocksize: Int, terminal: Terminal) {
        var state = ExplorerState(checkpoint: checkpoint, plan: plan, threshold: threshold, blocksize: blocksize,
                                  width: terminal.width, height: terminal.height)
        startAnalysis(&state)
        var dirty = true
        while !terminal.terminationRequested {
            for event in worker.drain() {
                state.apply(event)
                dirty = true
            }
            if dirty {
                terminal.present(render(state, glyphs: terminal.glyphs))
                dirty = false
            }
            guard let key = terminal.readKey(), let action = KeyMap.action(for: key, in: state) else { continue }
            dirty = true
            switch reduce(&state, action) {
            case .quit:
                worker.cancel()
                return
            case .reanalyse:
                worker.cancel()
                worker = AnalysisWorker()
                startAnalysis(&state)
            case .cancelWork:
                worker.cancel()
            case .none, .redraw:
                break
            }
        }
        worker.cancel()
    }

    private func startAnalysis(_ state: inout ExplorerState) {
        guard !plan.linears.isEmpty else { return }
        state.progress = WorkProgress(title: "analysing weights (blocksize \(state.blocksize))", done: 0,
                                      total: Double(plan.linears.reduce(0) { $0 + $1.parameterCount }), unit: "param",
                                      rate: 0, secondsLeft: .nan)
        worker.start(checkpoint, linears: plan.linears, blocksize: state.blocksize, threads: threads)
    }
}
