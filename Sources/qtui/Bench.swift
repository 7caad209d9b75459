import ArgumentParser
import Foundation
import QuantKit

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the weight analysis throughput on a checkpoint (used by scripts/bench/bench.sh).",
        discussion: """
        Runs the full per-layer analysis (histogram, statistics, int8, nf4, nf4+dq, fp4, fp4+dq errors) \
        --repeat times after one warm-up run, and prints one JSON line with the best time and Mparam/s. \
        Build in release mode for meaningful numbers.

        With --explorer it instead measures the explorer: the time from a threshold change to a
        finished frame (reduce + render at 120×40), over every layer of the model, one JSON line per panel:
        the histogram and, when the model runs (calibrated on 128 tokens of the built-in text), the outlier
        features map.

        With --forward it measures the model runtime: the fp32 forward pass (logits) of --tokens tokens,
        token i = (i × 7919 + 13) mod vocab, as scripts/bench/bench_peer_runtime.py feeds transformers.

        With --output-errors it measures the output-error phase (every layer's int8 grid and 4-bit errors on
        its sampled calibration rows, after one calibration on --tokens tokens of the built-in text) against
        the matmul of the same layers: X (--tokens × in) · Wᵀ in fp32 through the runtime's sgemm, the
        products one forward pass spends on them. Both best of --repeat, measured in the same run, with the
        CPU time of the phase over its wall time and cores (utilisation).

        With --sgemm it measures this machine's sgemm rate on the model's own product shapes (every Linear and \
        the output head, --tokens rows, through the runtime's sgemm on all cores) and prints the forward \
        pass's FLOPs and its matmul limit: those FLOPs ÷ that rate, in wall and in CPU seconds \
        (scripts/bench/bench_large.sh divides the other phases' times by it).

        Every line says which kernel instruction set ran ("isa"); QTUI_MAX_ISA=avx2 or scalar caps it.

        Examples (each writes its input first):
          swift build -c release && .build/release/qtui synthesize --out /tmp/qtui-llama8 --layers 8 --hidden 1024 \\
            && .build/release/qtui bench /tmp/qtui-llama8
          qtui synthesize --out /tmp/qtui-llama32 --layers 32 && qtui bench /tmp/qtui-llama32 --explorer
          qtui synthesize --out /tmp/qtui-llama8 --layers 8 --hidden 1024 && qtui bench /tmp/qtui-llama8 --forward --tokens 512 --repeat 3
          qtui synthesize --out /tmp/qtui-llama8 --layers 8 --hidden 1024 \\
            && cp Tests/Fixtures/tokenizers/smollm2.tokenizer.json /tmp/qtui-llama8/tokenizer.json \\
            && qtui bench /tmp/qtui-llama8 --output-errors --repeat 3
          qtui synthesize --out /tmp/qtui-llama8 --layers 8 --hidden 1024 && qtui bench /tmp/qtui-llama8 --sgemm --repeat 2
          scripts/bench/bench.sh      (writes a 4096×11008 weight and compares with bitsandbytes on it)
        """
    )

    @OptionGroup var model: ModelArgument

    @Option(name: .customLong("repeat"), parsing: .unconditional, help: "Timed runs; the best is reported.")
    var runs: Int = 5

    @OptionGroup var threads: ThreadsOption
    @OptionGroup var blocksize: BlocksizeOption

    @Flag(help: "Measure threshold change → finished frame in the explorer instead of the analysis.")
    var explorer = false

    @Flag(help: "Measure the model runtime's forward pass (tokens/s) instead of the analysis.")
    var forward = false

    @Flag(help: "Measure the output-error phase against the matmul of the same layers instead of the analysis.")
    var outputErrors = false

    @Flag(help: "Measure the sgemm rate on the model's product shapes and the forward pass's matmul limit instead of the analysis.")
    var sgemm = false

    @Option(parsing: .unconditional, help: "Tokens of the --forward input and the --sgemm products, or the calibration tokens of --output-errors.")
    var tokens: Int = 512

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1") }
        guard [explorer, forward, outputErrors, sgemm].filter({ $0 }).count <= 1 else {
            throw ValidationError("--explorer, --forward, --output-errors and --sgemm measure different things; pick one")
        }
    }

    func run() throws {
        let opened = try OpenModel.opened(model.model, keptDType: nil)
        if explorer { return try benchExplorer(opened) }
        if forward { return try benchForward(opened.checkpoint) }
        if outputErrors { return try benchOutputErrors(opened) }
        if sgemm { return try benchMatmul(opened) }
        let analyzer = try ModelAnalyzer(opened, weights: WeightAnalyzer(blocksize: blocksize.blocksize, threads: threads.count))
        let parameters = analyzer.layers.reduce(0) { $0 + $1.parameterCount }
        var best = Double.infinity
        for run in 0...runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try analyzer.run(emit: { _ in })
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if run > 0 { best = min(best, seconds) }
        }
        let line: [String: Any] = [
            "parameters": parameters, "best_seconds": best, "mparam_per_s": Double(parameters) / best / 1e6,
            "threads": threads.count, "runs": runs, "peak_rss_mb": Double(peakResidentKilobytes()) / 1024,
            "isa": KernelDispatch.instructionSet,
        ]
        let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

extension Bench {
    /// Median and worst time of (threshold step → reduce → render) over 400 frames, per panel.
    func benchExplorer(_ model: OpenedModel) throws {
        var state = ExplorerState(model: model, threshold: 6, blocksize: blocksize.blocksize, width: 120, height: 40)
        var analyzer = try ModelAnalyzer(model, weights: WeightAnalyzer(blocksize: blocksize.blocksize, threads: threads.count))
        var request = CalibrationRequest(text: CalibrationText.standard, source: "built-in text")
        request.calibration.tokenLimit = 128
        analyzer.calibration = request
        try analyzer.run(emit: { _ = reduce(&state, .analysis($0)) })
        for panel in state.hasActivations ? [Panel.histogram, .outlierMap] : [.histogram] {
            state.panel = panel
            try benchFrames(&state, model: model, panel: panel == .histogram ? "histogram" : "outlier map")
        }
    }

    private func benchFrames(_ state: inout ExplorerState, model: OpenedModel, panel: String) throws {
        var times: [Double] = []
        var checksum = 0
        for step in 0..<400 {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = reduce(&state, .thresholdStep(step % 40 < 20 ? 0.5 : -0.5))
            let frame = render(state)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            checksum &+= frame.cells.count
        }
        times.sort()
        let line: [String: Any] = [
            "layers": model.plan.linears.count, "frames": times.count, "median_ms": times[times.count / 2],
            "p99_ms": times[times.count * 99 / 100], "worst_ms": times.last!, "screen": "120x40", "cells": checksum / times.count,
            "panel": panel,
        ]
        let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

extension Bench {
    /// Best time of `runtime.logits` over --repeat runs after a warm-up, and the CPU time of that run (all
    /// threads: on a shared machine, the work whatever share of the cores it got).
    func benchForward(_ checkpoint: Checkpoint) throws {
        let runtime = try ModelRuntime(checkpoint: checkpoint)
        let vocabulary = runtime.model.vocabularySize
        let input = (0..<tokens).map { ($0 * 7919 + 13) % vocabulary }
        var (best, bestCPU) = (Double.infinity, 0.0)
        var checksum = 0
        for run in 0...runs {
            let (start, startCPU) = (DispatchTime.now().uptimeNanoseconds, processCPUSeconds())
            let logits = try runtime.logits(tokens: input)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let cpu = processCPUSeconds() - startCPU
            checksum = logits.argmaxPerRow.reduce(0, &+)
            if run > 0, seconds < best { (best, bestCPU) = (seconds, cpu) }
        }
        let parameters = checkpoint.tensors.reduce(0) { $0 + $1.elementCount }
        let line: [String: Any] = [
            "model_type": runtime.model.modelType, "parameters": parameters, "tokens": tokens, "runs": runs,
            "best_seconds": best, "best_cpu_seconds": bestCPU, "tokens_per_s": Double(tokens) / best, "argmax_sum": checksum,
            "peak_weight_mb": Double(runtime.weightMemory.peakBytes) / 1e6, "peak_rss_mb": Double(peakResidentKilobytes()) / 1024,
        ]
        let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

extension Bench {
    /// The output-error phase (best of --repeat after calibrating once) against the fp32 matmul of the
    /// same layers on --tokens rows (best of --repeat), in the same run.
    func benchOutputErrors(_ model: OpenedModel) throws {
        var request = CalibrationRequest(text: CalibrationText.standard, source: "built-in text")
        request.calibration.tokenLimit = tokens
        var analyzer = try ModelAnalyzer(model, weights: WeightAnalyzer(blocksize: blocksize.blocksize, threads: threads.count),
                                         calibration: request)
        var statistics: [String: ActivationStatistics] = [:]
        var calibrationTokens = 0
        try analyzer.run(emit: { event in
            if case .calibrated(let count, let seen) = event { (calibrationTokens, statistics) = (count, seen) }
        })
        guard !statistics.isEmpty else { throw ValidationError("the model cannot run here, so it has no output errors to measure") }
        analyzer.knownStatistics = statistics
        var phase = PhaseClock()
        for _ in 0..<runs {
            try analyzer.run(emit: { event in if case .progress(let progress) = event { phase.observe(progress) } })
            phase.finishRun()
        }
        let measured = analyzer.layers.filter { (statistics[$0.name]?.sampleRows ?? 0) > 0 }
        var matmul = Double.infinity
        for _ in 0..<runs {
            var seconds = 0.0
            for layer in measured {
                let x = deterministicValues(calibrationTokens * layer.inFeatures, step: 7919)
                let w = deterministicValues(layer.parameterCount, step: 104_729)
                let start = DispatchTime.now().uptimeNanoseconds
                let y = BLAS.product(x, rows: calibrationTokens, w, n: layer.outFeatures, k: layer.inFeatures)
                seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                precondition(y.count == calibrationTokens * layer.outFeatures)
            }
            matmul = min(matmul, seconds)
        }
        let line: [String: Any] = [
            "layers": measured.count, "tokens": calibrationTokens, "runs": runs, "isa": KernelDispatch.instructionSet,
            "output_errors_seconds": phase.best, "matmul_seconds": matmul, "ratio": phase.best / matmul,
            "cpu_utilisation": phase.bestUtilisation, "output_errors_cpu_seconds": phase.bestCPUSeconds,
            "cores": ProcessInfo.processInfo.activeProcessorCount, "load_average": loadAverage(),
            "peak_rss_mb": Double(peakResidentKilobytes()) / 1024,
        ]
        let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

/// Values in [-0.5, 0.5) that fill a product's operands (their values do not change its time).
func deterministicValues(_ count: Int, step: Int) -> [Float] {
    (0..<count).map { (i: Int) -> Float in Float((i * step + 13) % 1021) / 1021 - 0.5 }
}

/// Wall and CPU time of the output-error phase, from its first progress event to its last, per run.
private struct PhaseClock {
    private var start: (wall: Double, cpu: Double)?
    private var end: (wall: Double, cpu: Double)?
    private(set) var best = Double.infinity
    /// CPU time over wall time × cores in the best run.
    private(set) var bestUtilisation = 0.0
    /// CPU time of the best run (all threads): the work, whatever else the machine runs.
    private(set) var bestCPUSeconds = 0.0

    mutating func observe(_ progress: AnalysisProgress) {
        guard progress.phase == .outputErrors else { return }
        let now = (wall: Double(DispatchTime.now().uptimeNanoseconds) / 1e9, cpu: processCPUSeconds())
        if start == nil { start = now }
        end = now
    }

    mutating func finishRun() {
        if let start, let end, end.wall - start.wall < best {
            best = end.wall - start.wall
            bestCPUSeconds = end.cpu - start.cpu
            bestUtilisation = bestCPUSeconds / best / Double(ProcessInfo.processInfo.activeProcessorCount)
        }
        (start, end) = (nil, nil)
    }
}

/// User + system CPU time of this process so far, in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let seconds = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
    return seconds + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// The 1-minute load average (other work on a shared machine), or -1 where /proc is missing.
func loadAverage() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return -1 }
    return Double(text.split(separator: " ").first ?? "") ?? -1
}

/// Peak resident set size of this process (VmHWM), in kB; 0 where /proc is missing.
func peakResidentKilobytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}
