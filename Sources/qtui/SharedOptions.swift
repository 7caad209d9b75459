import ArgumentParser
import Foundation
import QuantKit

// The options several commands share, declared once so that each reads, defaults and checks the same
// everywhere. Numeric options parse `.unconditional`ly: a negative number is then the value (and gets
// the range message) instead of being taken for a flag ("Missing value for --threshold").

/// The model every command but `synthesize` opens.
struct ModelArgument: ParsableArguments {
    @Argument(help: "A .safetensors file, a model folder (model.safetensors or sharded with an index) or a .gguf file (converted once into ~/.cache/qtui/gguf). Runs llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, qwen3_moe, olmoe, gemma, gemma2, gemma3, phi3, gpt_neox, opt, falcon, gpt2 and bert; GGUF: llama, qwen2, qwen3, gemma2, gemma3, phi3, falcon. Any other architecture opens weight-only (no forward pass for it; a GGUF's weights keep their GGUF names).")
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

/// The dtype of everything an export does not quantize, as users pass `torch_dtype`.
struct KeptDTypeOption: ParsableArguments {
    enum Name: String, ExpressibleByArgument, CaseIterable {
        case float16, bfloat16, float32
    }

    @Option(name: .customLong("dtype"), help: "dtype of everything not quantized (embeddings, norms, head, skipped layers), as torch_dtype: float16, bfloat16 or float32 (default: as stored; float16 for a .gguf).")
    var requested: Name?

    /// The dtype for `model`, nil for as stored. A GGUF defaults to float16: it is read as the dequantized
    /// tensors in F32, which is not what anyone loads.
    func dtype(for model: String) -> DType? {
        switch requested ?? (OpenModel.isGGUF(model) ? .float16 : nil) {
        case .float16: return .f16
        case .bfloat16: return .bf16
        case .float32: return .f32
        case nil: return nil
        }
    }
}
