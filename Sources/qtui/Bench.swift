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

        Examples (each writes its input first):
          swift build -c release && .build/release/qtui synthesize --out /tmp/qtui-llama8 --layers 8 --hidden 1024 \\
            && .build/release/qtui bench /tmp/qtui-llama8
          qtui synthesize --out /tmp/qtui-llama32 --layers 32 && qtui bench /tmp/qtui-llama32 --explorer
          qtui synthesize --out /tmp/qtui-llama8 --layers 8 --hidden 1024 && qtui bench /tmp/qtui-llama8 --forward --tokens 512 --repeat 3
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

    @Option(parsing: .unconditional, help: "Tokens of the --forward input.")
    var tokens: Int = 512

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1") }
        guard !(explorer && forward) else { throw ValidationError("--explorer and --forward measure different things; pick one") }
    }

    func run() throws {
        let opened = try OpenModel.opened(model.model, keptDType: nil)
        if explorer { return try benchExplorer(opened) }
        if forward { return try benchForward(opened.checkpoint) }
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
    /// Best time of `runtime.logits` over --repeat runs after a warm-up.
    func benchForward(_ checkpoint: Checkpoint) throws {
        let runtime = try ModelRuntime(checkpoint: checkpoint)
        let vocabulary = runtime.model.vocabularySize
        let input = (0..<tokens).map { ($0 * 7919 + 13) % vocabulary }
        var best = Double.infinity
        var checksum = 0
        for run in 0...runs {
            let start = DispatchTime.now().uptimeNanoseconds
            let logits = try runtime.logits(tokens: input)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            checksum = logits.argmaxPerRow.reduce(0, &+)
            if run > 0 { best = min(best, seconds) }
        }
        let parameters = checkpoint.tensors.reduce(0) { $0 + $1.elementCount }
        let line: [String: Any] = [
            "model_type": runtime.model.modelType, "parameters": parameters, "tokens": tokens, "runs": runs,
            "best_seconds": best, "tokens_per_s": Double(tokens) / best, "argmax_sum": checksum,
            "peak_weight_mb": Double(runtime.weightMemory.peakBytes) / 1e6, "peak_rss_mb": Double(peakResidentKilobytes()) / 1024,
        ]
        let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

/// Peak resident set size of this process (VmHWM), in kB; 0 where /proc is missing.
func peakResidentKilobytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}
