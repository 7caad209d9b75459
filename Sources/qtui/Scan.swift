import ArgumentParser
import Foundation
import QuantKit

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the per-layer quantization report without opening the explorer.",
        discussion: """
        Runs the model on calibration text (the built-in text, or --calib FILE) to see the activations \
        entering every Linear layer: outlier columns at the threshold (LLM.int8: any |x| ≥ t in a \
        column) and the output error of int8 with decomposition at t, pure int8, nf4 and fp4 on those \
        activations. Architectures qtui cannot run (or --no-calib) get the weight-only analysis: \
        statistics of every converted weight and the relative error, RMSE, max error, SNR and exact \
        serialized bytes of int8, nf4, nf4+dq, fp4 and fp4+dq. Model totals include the tensors that \
        stay unquantized. Progress goes to stderr when it is a terminal.

        Examples:
          qtui scan ./all-MiniLM-L6-v2
          qtui scan model.safetensors --format csv > layers.csv
          qtui scan ./model --layers 'layers\\.(0|1)\\.' --format json
          qtui scan ./model --calib my-domain.txt --tokens 1024 --threshold 4.5
          qtui scan ./model --perplexity --tolerance 0.5
        """
    )

    @Argument(help: "A .safetensors file, a model folder (model.safetensors or sharded with an index) or a .gguf file of a llama, qwen2 or qwen3 model (converted once into ~/.cache/qtui/gguf).")
    var model: String

    @Option(help: "Output format: table, json, csv or markdown.")
    var format: ReportFormat = .table

    @Option(help: "4-bit blocksize: 32, 64, 128, 256, 512, 1024, 2048 or 4096.")
    var blocksize: Int = 64

    @Option(help: "Analyse only layers whose module name matches this regular expression.")
    var layers: String?

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var calibration: CalibrationOptions

    @Option(help: "LLM.int8 outlier threshold for the per-layer counts and errors.")
    var threshold: Float = 6

    @Flag(help: "Also measure perplexity and the KL divergence from fp32 on the calibration tokens for every method (one forward pass each) and suggest a threshold.")
    var perplexity = false

    @Option(help: "For the suggested threshold, in percent: int8's mean KL divergence from fp32 may be at most ln(1 + tolerance/100) nats, i.e. on text the fp32 model would write, int8's perplexity at most this much above fp32's.")
    var tolerance: Double = 1

    func validate() throws {
        try OptionChecks.blocksize(blocksize)
        try OptionChecks.threads(threads)
        try OptionChecks.threshold(threshold)
        if calibration.noCalib && perplexity { throw ValidationError("--perplexity needs calibration (drop --no-calib)") }
        guard tolerance > 0 else { throw ValidationError("--tolerance must be positive") }
    }

    func run() throws {
        let opened = try OpenModel.opened(model)
        let analyzer: ModelAnalyzer
        do {
            analyzer = try ModelAnalyzer(opened, weights: WeightAnalyzer(blocksize: blocksize, threads: threads), layerFilter: layers,
                                         calibration: try calibrationRequest())
        } catch let error as AnalysisError {
            throw ValidationError("--layers \(error)")
        }
        let bar = ProgressBar(label: "analysing")
        let report = try analyzer.report(onEvent: { event in
            if case .progress(let progress) = event { bar.update(progress) }
        })
        bar.finish()
        if let reason = report.calibration?.unavailable { note("no activations (weight-only report): \(reason)") }
        if let reason = report.calibration?.perplexityUnavailable { note("no perplexity: \(reason)") }
        print(try ReportFormatter.render(report, as: format), terminator: "")
    }

    private func note(_ line: String) {
        FileHandle.standardError.write(Data("qtui: \(line)\n".utf8))
    }
}

extension Scan {
    func calibrationRequest() throws -> CalibrationRequest? {
        guard let (text, source) = try calibration.text() else { return nil }
        var request = CalibrationRequest(text: text, source: source)
        request.calibration.tokenLimit = calibration.tokens
        request.threshold = threshold
        request.perplexity = perplexity
        request.perplexityTolerance = tolerance / 100
        return request
    }
}

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv, markdown
}
