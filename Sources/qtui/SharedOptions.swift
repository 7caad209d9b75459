import ArgumentParser
import Foundation
import QuantKit

// The options several commands share, declared once so that each reads, defaults and checks the same
// everywhere. Numeric options parse `.unconditional`ly: a negative number is then the value (and gets
// the range message) instead of being taken for a flag ("Missing value for --threshold").

/// The model every command but `synthesize` opens.
struct ModelArgument: ParsableArguments {
    @Argument(help: "A .safetensors file, a model folder (model.safetensors or sharded with an index) or a .gguf file of a llama, qwen2 or qwen3 model (converted once into ~/.cache/qtui/gguf).")
    var model: String
}

struct ThreadsOption: ParsableArguments {
    /// Optional so that help does not print this machine's core count as a fixed default.
    @Option(name: .customLong("threads"), parsing: .unconditional, help: "Worker threads (default: all cores).")
    var requested: Int?

    var count: Int { requested ?? ProcessInfo.processInfo.activeProcessorCount }

    func validate() throws {
        if let requested, requested < 1 { throw ValidationError("--threads must be at least 1") }
    }
}

struct BlocksizeOption: ParsableArguments {
    @Option(parsing: .unconditional, help: "4-bit blocksize: 32, 64, 128, 256, 512, 1024, 2048 or 4096.")
    var blocksize = 64

    func validate() throws {
        guard FourBitQuantized.blocksizes.contains(blocksize) else {
            throw ValidationError("--blocksize must be one of \(FourBitQuantized.blocksizes.map(String.init).joined(separator: ", "))")
        }
    }
}

struct ThresholdOption: ParsableArguments {
    @Option(parsing: .unconditional, help: "LLM.int8 outlier threshold: input columns with any |x| at or above it run in fp16 (0 to 100).")
    var threshold: Float = 6

    func validate() throws {
        let range = OutlierThreshold.range
        guard range.contains(threshold) else {
            throw ValidationError("--threshold must be between \(Int(range.lowerBound)) and \(Int(range.upperBound)), not \(String(format: "%g", threshold))")
        }
    }
}
