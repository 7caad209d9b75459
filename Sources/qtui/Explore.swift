import ArgumentParser
import Foundation
import QuantKit

struct Explore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the interactive explorer (the default command: `qtui MODEL`).",
        discussion: """
        Lists every Linear layer transformers would convert. The model runs on calibration text on the \
        CPU (the built-in text or --calib FILE) to see the activations entering each layer: outlier \
        columns at the threshold, int8 (with LLM.int8's decomposition) and NF4/FP4 errors on the \
        layer's output, a log-binned |x| histogram with the threshold marked. Sizes are exact, for every \
        method and for your plan (per-layer skips, method, double quant, blocksize). Architectures qtui \
        cannot run show weight statistics instead, saying so. Work runs in the background; press ? for \
        every key.

        Examples:
          qtui ./all-MiniLM-L6-v2
          qtui model.safetensors --threshold 4.5 --blocksize 128
          qtui ./model --calib my-domain.txt --tokens 1024
          NO_COLOR=1 qtui ./model --ascii
        """
    )

    @OptionGroup var model: ModelArgument
    @OptionGroup var threshold: ThresholdOption
    @OptionGroup var blocksize: BlocksizeOption
    @OptionGroup var threads: ThreadsOption
    @OptionGroup var calibration: CalibrationOptions
    @OptionGroup var dtype: KeptDTypeOption

    @Flag(help: "Draw with ASCII only (automatic when the locale is not UTF-8).")
    var ascii = false

    @Flag(help: "No colours (also when NO_COLOR is set).")
    var noColor = false

    func run() throws {
        let opened = try OpenModel.opened(model.model, keptDType: dtype.dtype(for: model.model))
        var request = try calibration.request(for: opened.checkpoint)
        request?.threshold = threshold.threshold
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw InputError(file: model.model, message: "the explorer needs a terminal; for a report use: qtui scan \(model.model)")
        }
        let noColorEnvironment = !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        let terminal = Terminal(noColor: noColor || noColorEnvironment, asciiOnly: ascii)
        let reason = ExplorerApp(model: opened, threads: threads.count, calibration: request)
            .run(threshold: threshold.threshold, blocksize: blocksize.blocksize, terminal: terminal)
        terminal.end()
        switch reason {
        case .quit: return
        case .interrupted: throw CancellationError()
        case .terminated(let signal): Main.fail("ended by signal \(signal)", code: 128 + signal)
        }
    }
}
