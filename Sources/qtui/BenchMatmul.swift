import ArgumentParser
import Foundation
import QuantKit

/// One matrix shape of a forward pass: `count` products X (tokens × k) · Wᵀ (W: n × k).
private struct ProductShape: Hashable {
    let n: Int
    let k: Int
}

extension Bench {
    /// The sgemm rate of this machine on the model's own product shapes and the forward pass's matmul
    /// limit: its FLOPs ÷ that rate, the time a forward of --tokens tokens cannot beat.
    ///
    /// Each distinct shape (every converted Linear, plus the output head when the model has one) is timed
    /// once per run through `BLAS.product` — the runtime's sgemm, column blocks on all cores — best of
    /// --repeat after a warm-up; `matmul_seconds` = Σ count × best time. FLOPs count 2 per multiply-add:
    /// the Linears and the head 2·tokens·n·k each; attention 2 products of 2·tokens²·head size per head
    /// and block (the whole square, as the runtime computes it before masking). Attention's FLOPs are
    /// priced at the rate of the measured shapes. Dense models: MoE experts are not Linears here.
    /// The same sums over the best runs' CPU time (all threads) give `matmul_limit_cpu_seconds`: the work
    /// of the limit, which a shared machine's load does not change as much as the wall time.
    func benchMatmul(_ opened: OpenedModel) throws {
        BLAS.useSingleThreaded
        let runtime = try? ModelRuntime(checkpoint: opened.checkpoint, plan: opened.plan)
        var counts: [ProductShape: Int] = [:]
        for layer in opened.plan.linears { counts[ProductShape(n: layer.outFeatures, k: layer.inFeatures), default: 0] += 1 }
        if let model = runtime?.model, runtime?.hasOutputHead == true {
            counts[ProductShape(n: model.vocabularySize, k: model.hiddenSize), default: 0] += 1
        }
        guard !counts.isEmpty else { throw ValidationError("the model has no Linear layers to measure products on") }
        let shapes = counts.keys.sorted { ($0.n * $0.k, $0.n) > ($1.n * $1.k, $1.n) }
        var best = [ProductShape: (seconds: Double, cpu: Double)]()
        for shape in shapes {
            let x = deterministicValues(tokens * shape.k, step: 7919)
            let w = deterministicValues(shape.n * shape.k, step: 104_729)
            var fastest = (seconds: Double.infinity, cpu: 0.0)
            for run in 0...runs {
                let (start, startCPU) = (DispatchTime.now().uptimeNanoseconds, processCPUSeconds())
                let y = BLAS.product(x, rows: tokens, w, n: shape.n, k: shape.k)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let cpu = processCPUSeconds() - startCPU
                precondition(y.count == tokens * shape.n)
                if run > 0, seconds < fastest.seconds { fastest = (seconds, cpu) }
            }
            best[shape] = fastest
        }
        let flops = { (shape: ProductShape) in 2 * Double(self.tokens) * Double(shape.n) * Double(shape.k) }
        let linearFlops = shapes.reduce(0.0) { $0 + Double(counts[$1]!) * flops($1) }
        let matmulSeconds = shapes.reduce(0.0) { $0 + Double(counts[$1]!) * best[$1]!.seconds }
        let matmulCPUSeconds = shapes.reduce(0.0) { $0 + Double(counts[$1]!) * best[$1]!.cpu }
        let rate = linearFlops / matmulSeconds
        let attentionFlops = runtime.map { runtime in
            let model = runtime.model, t = Double(tokens)
            return 4 * t * t * Double(model.headSize * model.headCount * model.layerCount)
        } ?? 0
        let forwardFlops = linearFlops + attentionFlops
        let line: [String: Any] = [
            "tokens": tokens, "runs": runs, "cores": ProcessInfo.processInfo.activeProcessorCount,
            "isa": KernelDispatch.instructionSet, "load_average": loadAverage(),
            "shapes": shapes.map { shape -> [String: Any] in
                ["n": shape.n, "k": shape.k, "count": counts[shape]!, "best_seconds": best[shape]!.seconds,
                 "best_cpu_seconds": best[shape]!.cpu, "gflop_per_s": flops(shape) / best[shape]!.seconds / 1e9]
            },
            "gflop_per_s": rate / 1e9, "matmul_seconds": matmulSeconds,
            "linear_gflop": linearFlops / 1e9, "attention_gflop": attentionFlops / 1e9, "forward_gflop": forwardFlops / 1e9,
            "matmul_limit_seconds": forwardFlops / rate, "model_runs": runtime != nil,
            "matmul_limit_cpu_seconds": matmulCPUSeconds * forwardFlops / linearFlops,
        ]
        let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
