import ArgumentParser
import Foundation
import QuantKit

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a quantized checkpoint that transformers + bitsandbytes load with from_pretrained.",
        discussion: """
        The output folder holds bitsandbytes-format safetensors (bit-exact with what transformers' own \
        quantization saves), config.json with the full quantization_config, and the input's tokenizer \
        and other small files. It is written into a temporary folder beside OUT, verified against \
        checksums taken while writing, and only then moved into place; on any error, Ctrl-C or SIGTERM \
        nothing is left (a partial folder left by a killed export is removed by the next export to OUT).

        Examples:
          qtui export ./model --method nf4 --double-quant --out ./model-nf4
          qtui export ./model --method int8 --threshold 4.5 --skip lm_head --skip 'model.layers.0.mlp' --out ./model-int8
          qtui export ./model --method fp4 --blocksize 128 --compute-dtype bfloat16 --max-shard-size 2GB --out ./out --force
          qtui export model-q4_1.gguf --method int8 --dtype bfloat16 --out ./model-int8
        """
    )

    @OptionGroup var model: ModelArgument

    @Option(help: "int8 (LLM.int8), nf4 or fp4.")
    var method: ExportMethod

    @OptionGroup var threshold: ThresholdOption
    @OptionGroup var blocksize: BlocksizeOption

    @Flag(help: "4-bit: quantize the absmax values too (bnb_4bit_use_double_quant).")
    var doubleQuant = false

    @Option(help: "4-bit compute dtype: float16, bfloat16 or float32.")
    var computeDtype = "float16"

    @OptionGroup var dtype: KeptDTypeOption

    @Option(name: .customLong("skip"), help: "Module to keep unconverted (llm_int8_skip_modules); repeatable; must match a Linear layer.")
    var skipModules: [String] = []

    @Option(help: "Largest shard, e.g. 5GB (10⁹ bytes), 500MB, 2GiB.")
    var maxShardSize = "5GB"

    @Option(help: "Output folder (must not exist or be empty, unless --force).")
    var out: String

    @Flag(help: "Replace a non-empty output folder.")
    var force = false

    @OptionGroup var threads: ThreadsOption

    func validate() throws {
        guard ExportPlan.computeDTypes.contains(computeDtype) else {
            throw ValidationError("--compute-dtype must be one of \(ExportPlan.computeDTypes.joined(separator: ", "))")
        }
        guard ByteSize.parse(maxShardSize) != nil else { throw ValidationError("--max-shard-size: not a size like 5GB, 500MB or 2GiB") }
        if method == .int8 && doubleQuant { throw ValidationError("--double-quant applies to nf4 and fp4 only") }
    }

    func run() throws {
        let checkpoint = try OpenModel.checkpoint(model.model)
        Interruption.install()
        let exporter = Exporter(checkpoint: checkpoint, plan: plan(), threads: threads.count)
        let layout = try withFlagNames { try exporter.layout() }
        let bar = ProgressBar(label: "exporting")
        let started = Date()
        let result = try withFlagNames {
            try exporter.write(layout, to: out, force: force, progress: { progress in
                bar.update(done: Double(progress.done), total: Double(progress.total), unit: "B")
            }, isCancelled: Interruption.requested)
        }
        bar.finish()
        let seconds = Date().timeIntervalSince(started)
        print("wrote \(result.directory): \(result.files.joined(separator: ", "))")
        print("  \(layout.converted.count) Linear layers → \(exporter.plan.quantMethod.rawValue), \(result.tensorCount) tensors, "
              + "\(ReportFormatter.formatBytes(result.weightBytes)) of weights (as predicted), verified, "
              + String(format: "%.1f s", seconds))
        if !result.copiedFiles.isEmpty { print("  copied: \(result.copiedFiles.joined(separator: ", "))") }
        for warning in result.warnings { print("  warning: \(warning)") }
    }

    private func plan() -> ExportPlan {
        var plan = ExportPlan(method: method)
        plan.threshold = OutlierThreshold.decimal(threshold.threshold)
        plan.blocksize = blocksize.blocksize
        plan.doubleQuant = doubleQuant
        plan.computeDType = computeDtype
        plan.skipModules = skipModules
        plan.maxShardSize = ByteSize.parse(maxShardSize)!
        plan.keptDType = dtype.dtype(for: model.model)
        return plan
    }

    /// The library's export errors in this command's terms: the flag that would change the outcome.
    private func withFlagNames<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ExportError {
            switch error.problem {
            case .targetNotEmpty:
                throw InputError(file: error.file, message: "exists and is not empty (use --force to replace it)")
            case .skipMatchesNothing(let key):
                throw InputError(file: model.model, message: "--skip \(key) matches no Linear layer (qtui scan lists them)")
            case .failed:
                throw error
            }
        }
    }
}

extension ExportMethod: ExpressibleByArgument {}

/// Sizes as transformers reads them: "5GB" = 5·10⁹, "5GiB" = 5·2³⁰, plain numbers are bytes.
enum ByteSize {
    static func parse(_ text: String) -> Int? {
        let units: [(String, Double)] = [("GIB", 1_073_741_824), ("MIB", 1_048_576), ("KIB", 1024), ("GB", 1e9), ("MB", 1e6),
                                         ("KB", 1e3), ("B", 1)]
        let upper = text.uppercased().trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where upper.hasSuffix(suffix) {
            guard let number = Double(upper.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), number > 0 else { return nil }
            return Int(number * factor)
        }
        return Int(upper).flatMap { $0 > 0 ? $0 : nil }
    }
}
