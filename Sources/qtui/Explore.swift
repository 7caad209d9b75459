import ArgumentParser
import Foundation
import QuantKit

struct Explore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the interactive explorer (the default command: `qtui MODEL`).",
        discussion: """
        Lists every Linear layer transformers would convert, with the error int8 and NF4/FP4 make of \
        its weights, a log-binned histogram with the threshold marked, and the exact size of the model \
        in each method and in your plan (per-layer skips, method, double quant, blocksize). The weights \
        are analysed in the background; the screen works while that runs. Press ? for every key.

        Examples:
          qtui ./all-MiniLM-L6-v2
          qtui model.safetensors --threshold 4.5 --blocksize 128
          NO_COLOR=1 qtui ./model --ascii
        """
    )

    @Argument(help: "A .safetensors file or a model folder (model.safetensors or sharded with an index).")
    var model: String

    @Option(help: "LLM.int8 outlier threshold to start with.")
    var threshold: Float = 6

    @Option(help: "4-bit blocksize to start with: 32, 64, 128, 256, 512, 1024, 2048 or 4096.")
    var blocksize: Int = 64

    @Option(help: "Worker threads for the analysis (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Draw with ASCII only (automatic when the locale is not UTF-8).")
    var ascii = false

    @Flag(help: "No colours (also when NO_COLOR is set).")
    var noColor = false

    func validate() throws {
        guard FourBitQuantized.blocksizes.contains(blocksize) else {
            throw ValidationError("--blocksize must be one of \(FourBitQuantized.blocksizes.map(String.init).joined(separator: ", "))")
        }
        guard ExplorerState.thresholdRange.contains(threshold) else { throw ValidationError("--threshold must be between 0 and 100") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let checkpoint = try Checkpoint(path: model)
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw InputError(description: "the explorer needs a terminal; for a report use: qtui scan \(model)")
        }
        let noColorEnvironment = !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        let terminal = Terminal(noColor: noColor || noColorEnvironment, asciiOnly: ascii)
        defer { terminal.end() }
        ExplorerApp(checkpoint: checkpoint, plan: LinearLayerPlan(checkpoint: checkpoint), threads: threads)
            .run(threshold: threshold, blocksize: blocksize, terminal: terminal)
    }
}
