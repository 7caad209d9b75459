import ArgumentParser
import Foundation
import QuantKit

struct Synthesize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a small synthetic llama-style checkpoint (for demos and tests, offline).",
        discussion: """
        The checkpoint is deterministic (F16 safetensors + config.json). A few hidden dimensions carry \
        large norm gains, as real LLMs grow outlier features, so the explorer has something to show.

        Example:
          qtui synthesize --out /tmp/synthetic-llama && qtui scan /tmp/synthetic-llama
        """
    )

    @Option(help: "Folder to write (created; an existing model.safetensors there is replaced).")
    var out: String

    @Option(help: "Transformer blocks.")
    var layers: Int = 4

    @Option(help: "Hidden size (a multiple of the 8 attention heads).")
    var hidden: Int = 256

    func validate() throws {
        guard layers >= 1, layers <= 256 else { throw ValidationError("--layers must be between 1 and 256") }
        guard hidden >= 16, hidden % 8 == 0, hidden <= 8192 else { throw ValidationError("--hidden must be a multiple of 8 between 16 and 8192") }
    }

    func run() throws {
        var model = SyntheticModel()
        model.layers = layers
        model.hiddenSize = hidden
        model.intermediateSize = hidden * 11 / 4 / 8 * 8
        model.outlierDimensions = model.outlierDimensions.map { $0 % hidden }
        try model.write(to: out)
        print("wrote \(out): synthetic llama, \(layers) layers, hidden \(hidden), \(model.parameterCount) parameters")
    }
}
