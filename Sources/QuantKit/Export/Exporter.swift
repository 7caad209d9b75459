import Foundation

public struct ExportProgress: Sendable {
    public let phase: String
    public let done: Int
    public let total: Int
}

public struct ExportResult: Sendable {
    public let directory: String
    public let files: [String]
    /// Bytes of the safetensors files (headers included), equal to the layout's prediction.
    public let weightBytes: Int
    public let tensorCount: Int
    public let copiedFiles: [String]
    public let warnings: [String]
}

/// Writes a checkpoint that transformers + bitsandbytes load with a plain `from_pretrained(dir)`.
///
/// Safe by construction: everything is written into a temporary folder beside the target, synced,
/// verified (re-opened, every tensor checked against a checksum taken while writing, sizes against the
/// prediction) and only then renamed into place; on any failure or cancellation the temporary folder is
/// removed, and one left by a killed process is removed by the next export to the same target. The
/// input is never touched. Files are laid out from `ExportLayout` first and filled in place, so
/// layers are quantized one at a time (two at once on two threads) and memory stays bounded.
public struct Exporter: Sendable {
    public let checkpoint: Checkpoint
    public let plan: ExportPlan
    public var threads: Int

    public init(checkpoint: Checkpoint, plan: ExportPlan, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.checkpoint = checkpoint
        self.plan = plan
        self.threads = max(1, threads)
    }

    /// The layout, measuring double-quant offsets first when the plan needs them (`known` offsets,
    /// e.g. from the analysis at the same blocksize, are used instead of reading the weights again,
    /// unless the plan's dtype rounds the weights differently from the analysis).
    public func layout(knownOffsets known: [String: Float] = [:]) throws -> ExportLayout {
        try ExportLayout(checkpoint: checkpoint, plan: plan) {
            (plan.dtype(for: $0.weight.dtype) == $0.weight.dtype ? known[$0.name] : nil)
                ?? QuantizedLayer.nestedOffset($0, in: checkpoint, plan: plan)
        }
    }

    public func write(_ layout: ExportLayout, to output: String, force: Bool,
                      progress: @escaping (ExportProgress) -> Void = { _ in },
                      isCancelled: @escaping () -> Bool = { false }) throws -> ExportResult {
        let target = URL(fileURLWithPath: output).standardizedFileURL.path
        try checkTarget(target, force: force)
        let parent = (target as NSString).deletingLastPathComponent
        let temporary = (parent as NSString).appendingPathComponent(PartialFolder.name(for: target, pid: getpid()))
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw ExportError(file: parent, message: "cannot create the output folder: \(error.localizedDescription)")
        }
        if let shortfall = FreeSpace.shortfall(layout.totalBytes, at: parent) { throw ExportError(file: target, message: shortfall) }
        PartialFolder.removeStale(for: target)
        do {
            try? FileManager.default.removeItem(atPath: temporary)
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        } catch {
            throw ExportError(file: parent, message: "cannot create the output folder: \(error.localizedDescription)")
        }
        do {
            let writer = try ShardWriter(layout: layout, folder: temporary, checkpoint: checkpoint, plan: plan, threads: threads)
            try writer.fill(progress: progress, isCancelled: isCancelled)
            let extra = try writeSideFiles(layout, into: temporary)
            try writer.verify()
            // The last moment a cancellation can still leave the target as it was.
            if isCancelled() { throw CancellationError() }
            try replace(target, with: temporary, force: force)
            return ExportResult(directory: target, files: layout.shards.map(\.fileName) + extra.written, weightBytes: layout.totalBytes,
                                tensorCount: layout.shards.reduce(0) { $0 + $1.tensors.count }, copiedFiles: extra.copied,
                                warnings: extra.warnings)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Refuses to write over a non-empty folder without --force, into the input, or over it.
    private func checkTarget(_ target: String, force: Bool) throws {
        var isDirectory: ObjCBool = false
        let inputFolder = URL(fileURLWithPath: checkpoint.folder).standardizedFileURL.path
        if target == inputFolder || target.hasPrefix(inputFolder + "/") {
            throw ExportError(file: target, message: "refusing to write inside the input folder \(inputFolder)")
        }
        if inputFolder.hasPrefix(target + "/") {
            throw ExportError(file: target, message: "refusing to replace a folder that contains the input")
        }
        guard FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw ExportError(file: target, message: "exists and is not a folder") }
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
        if !contents.isEmpty && !force {
            throw ExportError(file: target, .targetNotEmpty)
        }
    }

    /// config.json with quantization_config, the shard index, and the model folder's small files.
    private func writeSideFiles(_ layout: ExportLayout, into folder: String) throws -> (written: [String], copied: [String], warnings: [String]) {
        var written: [String] = []
        var warnings: [String] = []
        if layout.shards.count > 1 {
            try writeText(ShardIndex.json(layout), to: folder + "/model.safetensors.index.json")
            written.append("model.safetensors.index.json")
        }
        if let config = checkpoint.config {
            try writeText(QuantizationConfig.configJSON(config, layout: layout), to: folder + "/config.json")
            written.append("config.json")
        } else {
            warnings.append("the input has no config.json, so from_pretrained cannot load the output until one is added")
        }
        let copied = try copySmallFiles(into: folder)
        return (written, copied, warnings)
    }

    /// Tokenizer files, generation config, chat template and other small files beside the weights.
    private func copySmallFiles(into folder: String) throws -> [String] {
        guard checkpoint.isFolder else { return [] }
        let skipped: Set<String> = ["config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json"]
        let weightSuffixes = [".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack", ".ckpt", ".onnx"]
        var copied: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: checkpoint.path))?.sorted() ?? [] {
            let source = (checkpoint.path as NSString).appendingPathComponent(name)
            guard !name.hasPrefix("."), !skipped.contains(name), !weightSuffixes.contains(where: { name.hasSuffix($0) }),
                  let attributes = try? FileManager.default.attributesOfItem(atPath: source),
                  attributes[.type] as? FileAttributeType == .typeRegular,
                  (attributes[.size] as? Int ?? 0) <= 64_000_000 else { continue }
            do {
                try FileManager.default.copyItem(atPath: source, toPath: (folder as NSString).appendingPathComponent(name))
            } catch {
                throw ExportError(file: source, message: "cannot copy: \(error.localizedDescription)")
            }
            copied.append(name)
        }
        return copied
    }

    private func writeText(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw ExportError(file: path, message: "cannot write (disk full or no permission?)")
        }
    }

    private func replace(_ target: String, with temporary: String, force: Bool) throws {
        do {
            if FileManager.default.fileExists(atPath: target) {
                precondition(force || ((try? FileManager.default.contentsOfDirectory(atPath: target))?.isEmpty ?? true))
                try FileManager.default.removeItem(atPath: target)
            }
            try FileManager.default.moveItem(atPath: temporary, toPath: target)
        } catch {
            throw ExportError(file: target, message: "cannot move the finished export into place: \(error.localizedDescription)")
        }
    }
}
