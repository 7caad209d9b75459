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
        stay unquantized, in --dtype (as an export with it writes them). A .gguf's original size is its \
        file's. Progress goes to stderr when it is a terminal.

        Examples:
          qtui scan ./all-MiniLM-L6-v2
          qtui scan model.safetensors --format csv > layers.csv
          qtui scan ./model --layers 'layers\\.(0|1)\\.' --format json
          qtui scan ./model --calib my-domain.txt --tokens 1024 --threshold 4.5
          qtui scan ./model --perplexity --tolerance 0.5
          qtui scan ./model --perplexity --full-curve --format json
        """
    )

    @OptionGroup var model: ModelArgument

    @Option(help: "Output format: table, json, csv or markdown.")
    var format: ReportFormat = .table

    @Option(help: "Analyse only layers whose module name matches this regular expression.")
    var layers: String?

    @OptionGroup var threshold: ThresholdOption
    @OptionGroup var blocksize: BlocksizeOption
    @OptionGroup var threads: ThreadsOption
    @OptionGroup var calibration: CalibrationOptions
    @OptionGroup var dtype: KeptDTypeOption

    @Flag(help: "Also measure perplexity and the KL divergence from fp32 on the calibration tokens for every method (one forward pass each) and suggest a threshold: int8 at the grid thresholds 20, 16, 12, 10, 8, 6 … 1, from the top down to the first within the tolerance.")
    var perplexity = false

    @Flag(help: "With --perplexity: measure int8 at every grid threshold, below the suggestion too (up to 10 more passes).")
    var fullCurve = false

    @Option(parsing: .unconditional, help: "For the suggested threshold, in percent: int8's mean KL divergence from fp32 may be at most ln(1 + tolerance/100) nats, i.e. on text the fp32 model would write, int8's perplexity at most this much above fp32's.")
    var tolerance: Double = 1

    func validate() throws {
        if let layers, (try? NSRegularExpression(pattern: layers)) == nil {
            throw ValidationError("--layers \(layers): not a valid regular expression")
        }
        if calibration.noCalib && perplexity { throw ValidationError("--perplexity needs calibration (drop --no-calib)") }
        if fullCurve && !perplexity { throw ValidationError("--full-curve is part of --perplexity (add it)") }
        guard tolerance > 0 else { throw ValidationError("--tolerance must be positive") }
    }

    func run() throws {
        let opened = try OpenModel.opened(model.model, keptDType: dtype.dtype(for: model.model))
        let analyzer = try ModelAnalyzer(opened, weights: WeightAnalyzer(blocksize: blocksize.blocksize, threads: threads.count),
                                         layerFilter: layers, calibration: try calibrationRequest(for: opened.checkpoint))
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
    func calibrationRequest(for checkpoint: Checkpoint) throws -> CalibrationRequest? {
        guard var request = try calibration.request(for: checkpoint) else { return nil }
        request.threshold = threshold.threshold
        request.perplexity = perplexity
        request.perplexityTolerance = tolerance / 100
        request.perplexityFullCurve = fullCurve
        return request
    }
}

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv, markdown
}
