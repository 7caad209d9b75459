import ArgumentParser
import Foundation
import QuantKit

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the weight analysis throughput on a checkpoint (used by scripts/bench.sh).",
        discussion: """
        Runs the full per-layer analysis (histogram, statistics, int8, nf4, nf4+dq, fp4, fp4+dq errors) \
        --repeat times after one warm-up run, and prints one JSON line with the best time and Mparam/s. \
        Build in release mode for meaningful numbers.

        Example:
          swift build -c release && .build/release/qtui bench /tmp/qtui-bench/w4096x11008.safetensors
        """
    )

    @Argument(help: "A .safetensors file or a model folder.")
    var model: String

    @Option(name: .customLong("repeat"), help: "Timed runs; the best is reported.")
    var runs: Int = 5

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "4-bit blocksize.")
    var blocksize: Int = 64

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard FourBitQuantized.blocksizes.contains(blocksize) else { throw ValidationError("--blocksize is not a bitsandbytes blocksize") }
    }

    func run() throws {
        let checkpoint = try Checkpoint(path: model)
        let analyzer = ModelAnalyzer(analyzer: WeightAnalyzer(blocksize: blocksize, threads: threads))
        var parameters = 0
        var best = Double.infinity
        for run in 0...runs {
            let start = DispatchTime.now().uptimeNanoseconds
            let report = try analyzer.run(checkpoint)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            parameters = report.layers.reduce(0) { $0 + $1.outFeatures * $1.inFeatures }
            if run > 0 { best = min(best, seconds) }
        }
        let line: [String: Any] = [
            "parameters": parameters, "best_seconds": best, "mparam_per_s": Double(parameters) / best / 1e6,
            "threads": threads, "runs": runs, "peak_rss_mb": Double(peakResidentKilobytes()) / 1024,
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
