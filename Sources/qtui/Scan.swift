import ArgumentParser
import Foundation
import QuantKit

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the per-layer quantization report without opening the explorer.",
        discussion: """
        Weight-only analysis: statistics of every converted Linear weight and the relative error, RMSE, \
        max error, SNR and exact serialized bytes of int8, nf4, nf4+dq, fp4 and fp4+dq. Model totals \
        include the tensors that stay unquantized (embeddings, norms, output head). Progress goes to \
        stderr when it is a terminal.

        Examples:
          qtui scan ./all-MiniLM-L6-v2
          qtui scan model.safetensors --format csv > layers.csv
          qtui scan ./model --layers 'layers\\.(0|1)\\.' --format json
        """
    )

    @Argument(help: "A .safetensors file or a model folder (model.safetensors or sharded with an index).")
    var model: String

    @Option(help: "Output format: table, json, csv or markdown.")
    var format: ReportFormat = .table

    @Option(help: "4-bit blocksize: 32, 64, 128, 256, 512, 1024, 2048 or 4096.")
    var blocksize: Int = 64

    @Option(help: "Analyse only layers whose module name matches this regular expression.")
    var layers: String?

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard FourBitQuantized.blocksizes.contains(blocksize) else {
            throw ValidationError("--blocksize must be one of \(FourBitQuantized.blocksizes.map(String.init).joined(separator: ", "))")
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let checkpoint = try Checkpoint(path: model)
        let analyzer = ModelAnalyzer(analyzer: WeightAnalyzer(blocksize: blocksize, threads: threads), layerFilter: layers)
        let bar = ProgressBar(label: "analysing")
        let report = try analyzer.run(checkpoint) { progress in
            bar.update(done: Double(progress.parametersDone), total: Double(progress.parametersTotal),
                       unit: "param", detail: progress.layerName)
        }
        bar.finish()
        print(try ReportFormatter.render(report, as: format), terminator: "")
    }
}

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv, markdown
}
