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

    @Argument(help: "A .safetensors file, a model folder (model.safetensors or sharded with an index) or a .gguf file of a llama, qwen2 or qwen3 model (converted once into ~/.cache/qtui/gguf).")
    var model: String

    @Option(help: "LLM.int8 outlier threshold to start with.")
    var threshold: Float = 6

    @Option(help: "4-bit blocksize to start with: 32, 64, 128, 256, 512, 1024, 2048 or 4096.")
    var blocksize: Int = 64

    @Option(help: "Worker threads for the analysis (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var calibration: CalibrationOptions

    @Flag(help: "Draw with ASCII only (automatic when the locale is not UTF-8).")
    var ascii = false

    @Flag(help: "No colours (also when NO_COLOR is set).")
    var noColor = false

    func validate() throws {
        try OptionChecks.blocksize(blocksize)
        try OptionChecks.threshold(threshold)
        try OptionChecks.threads(threads)
    }

    func run() throws {
        let opened = try OpenModel.opened(model)
        let request = try calibrationRequest()
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw InputError(file: model, message: "the explorer needs a terminal; for a report use: qtui scan \(model)")
        }
        let noColorEnvironment = !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        let terminal = Terminal(noColor: noColor || noColorEnvironment, asciiOnly: ascii)
        let reason = ExplorerApp(model: opened, threads: threads, calibration: request)
            .run(threshold: threshold, blocksize: blocksize, terminal: terminal)
        terminal.end()
        switch reason {
        case .quit: return
        case .interrupted: throw CancellationError()
        case .terminated(let signal): Main.fail("ended by signal \(signal)", code: 128 + signal)
        }
    }

    private func calibrationRequest() throws -> CalibrationRequest? {
        guard let (text, source) = try calibration.text() else { return nil }
        var request = CalibrationRequest(text: text, source: source)
        request.calibration.tokenLimit = calibration.tokens
        request.threshold = threshold
        return request
    }
}
