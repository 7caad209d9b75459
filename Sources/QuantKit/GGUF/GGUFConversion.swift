import Foundation

/// Turns a GGUF file of a supported architecture (GGUFArchitecture: llama, qwen2, qwen3) into the
/// transformers folder the rest of QuantKit reads, so weight analysis, calibration, perplexity and
/// export work on it unchanged:
///
///     <cache>/<file name>-<file size>-<mtime>/
///         model.safetensors   every tensor dequantized to F32 (exact for the block types), transformers'
///                             names (GGUFArchitecture.transformersName), q/k rows un-permuted where the
///                             architecture's converter permuted them (llama)
///         config.json         the architecture's config as transformers 5.24 writes it from <arch>.* keys
///                             (GGUFModelConfig)
///         tokenizer.json      from tokenizer.ggml.*: byte-level BPE ("gpt2" tokenizer model,
///                             GGUFByteLevelTokenizerJSON) or SentencePiece BPE ("llama",
///                             GGUFSentencePieceTokenizerJSON); none for other tokenizer models
///
/// The folder is built under a temporary name and renamed when complete, so an existing folder is
/// always a finished conversion and is reused (given the tokenizer.json an older conversion could
/// not write yet). Memory: one tensor at a time (the largest, the embedding, dequantized), never the
/// model.
public struct GGUFConversion {
    public struct Progress: Sendable {
        public let bytesWritten: Int
        public let bytesTotal: Int
        public let tensorName: String
    }

    public struct Result: Sendable {
        /// The converted folder, to open with `Checkpoint(path:)`.
        public let folder: String
        /// False when an earlier conversion was reused.
        public let converted: Bool
        /// Why there is no tokenizer.json (a tokenizer model other than "gpt2" and "llama").
        public let tokenizerNote: String?
    }

    /// `~/.cache/qtui/gguf`, or `$QTUI_CACHE/gguf` when set.
    public static var defaultCacheFolder: String {
        let environment = ProcessInfo.processInfo.environment
        let root = environment["QTUI_CACHE"] ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/qtui")
        return (root as NSString).appendingPathComponent("gguf")
    }

    public let path: String
    public let cacheFolder: String

    public init(path: String, cacheFolder: String = GGUFConversion.defaultCacheFolder) {
        self.path = path
        self.cacheFolder = cacheFolder
    }

    /// Which converter wrote a cached folder. Bump it whenever the same GGUF would convert to different
    /// files (a tokenizer rule, a config key), so folders an older qtui wrote are not reused.
    /// 3: tensors are checked against the metadata's geometry (a version-2 folder may hold a tensor
    /// with a zero dimension that no reader should see).
    static let converterVersion = 3

    /// The folder this file converts into: name, size and modification time identify the input, the
    /// converter version the output.
    public func destination() throws -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = (attributes[.size] as? NSNumber)?.intValue,
              let modified = attributes[.modificationDate] as? Date else {
            throw CheckpointError(file: path, .cannotOpen(reason: "no such file"))
        }
        let name = (path as NSString).lastPathComponent
        return (cacheFolder as NSString).appendingPathComponent("\(name)-\(size)-\(Int(modified.timeIntervalSince1970))-c\(Self.converterVersion)")
    }

    /// Converts, or reuses the finished folder of an earlier run. `progress` is called from this thread.
    public func run(progress: (Progress) -> Void = { _ in }) throws -> Result {
        let folder = try destination()
        let file = try GGUFFile(path: path)
        let tokenizer = Self.tokenizerBuilder(file)
        let tokenizerNote = tokenizer == nil ? Self.unsupportedTokenizerNote(file) : Self.unknownPreTokenizerNote(file)
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("model.safetensors")) {
            return Result(folder: folder, converted: false, tokenizerNote: tokenizerNote)
        }
        let architecture = try GGUFArchitecture.of(file)
        // Everything about the input is checked before the first byte is written.
        let config = try GGUFModelConfig(file: file, architecture: architecture)
        let tensors = try Self.mappedTensors(file, architecture: architecture, config: config)
        GGUFPartialFolders.removeStale(in: cacheFolder)
        let temporary = folder + GGUFPartialFolders.suffix(for: getpid())
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            // The cache holds 4 bytes a parameter (a Q4 file grows about 7×): fail now, not when the disk fills.
            if let shortfall = FreeSpace.shortfall(tensors.reduce(0) { $0 + 4 * $1.0.elementCount }, at: temporary) {
                throw CheckpointError(file: path, .cannotOpen(reason: "converting it into \(cacheFolder): \(shortfall)"))
            }
            try write(config.configJSON(), to: temporary, name: "config.json")
            if let tokenizer { try write(try tokenizer(file), to: temporary, name: "tokenizer.json") }
            try writeWeights(file, tensors, config: config, to: (temporary as NSString).appendingPathComponent("model.safetensors"),
                             progress: progress)
            try FileManager.default.moveItem(atPath: temporary, toPath: folder)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            // Another process finished the same conversion first: use its folder.
            if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("model.safetensors")) {
                return Result(folder: folder, converted: false, tokenizerNote: tokenizerNote)
            }
            if let error = error as? CheckpointError { throw error }
            throw CheckpointError(file: folder, .cannotOpen(reason: "cannot write the converted model: \(error.localizedDescription)"))
        }
        return Result(folder: folder, converted: true, tokenizerNote: tokenizerNote)
    }

    /// The tokenizer.json builder for the file's tokenizer.ggml.model; nil when there is none.
    static func tokenizerBuilder(_ file: GGUFFile) -> ((GGUFFile) throws -> String)? {
        switch file["tokenizer.ggml.model"]?.string {
        case "gpt2": return GGUFByteLevelTokenizerJSON.build
        case "llama": return GGUFSentencePieceTokenizerJSON.build
        default: return nil
        }
    }

    /// A byte-level file naming a pre-tokenizer transformers has no regex for gets GPT-2's split, as in
    /// transformers; llama.cpp may split it otherwise (its "smollm" splits digits one by one), so say so.
    static func unknownPreTokenizerNote(_ file: GGUFFile) -> String? {
        guard file["tokenizer.ggml.model"]?.string == "gpt2", let pre = file["tokenizer.ggml.pre"]?.string,
              !["default", "gpt2", "gpt-2"].contains(pre), GGUFPreTokenizerSplits.byName[pre] == nil else { return nil }
        return "tokenizer.ggml.pre \"\(pre)\" is not one transformers maps: GPT-2's split is used, as transformers does (llama.cpp may split text differently)"
    }

    static func unsupportedTokenizerNote(_ file: GGUFFile) -> String {
        "tokenizer model \"\(file["tokenizer.ggml.model"]?.string ?? "none")\" is not supported yet (no tokenizer.json, weights only)"
    }

    private func write(_ text: String, to folder: String, name: String) throws {
        let target = (folder as NSString).appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: target, contents: Data(text.utf8)) else {
            throw CheckpointError(file: target, .cannotOpen(reason: "cannot create"))
        }
    }

    /// The tensors that have a transformers name, in file order, with their transformers names; each
    /// decodable and of the shape the config gives it.
    static func mappedTensors(_ file: GGUFFile, architecture: GGUFArchitecture, config: GGUFModelConfig) throws -> [(GGUFTensor, String)] {
        try file.tensors.compactMap { tensor in
            guard let name = architecture.transformersName(tensor.name) else { return nil }
            guard tensor.type.isDequantizable else {
                throw CheckpointError(file: file.path, .unsupportedGGMLType(tensor.type.description, known: tensor.type.isKnown, tensor: tensor.name))
            }
            try config.checkShape(of: tensor, as: name, in: file)
            return (tensor, name)
        }
    }

    /// Header first (every size is known: F32 × shape), then each tensor dequantized and appended.
    private func writeWeights(_ file: GGUFFile, _ tensors: [(GGUFTensor, String)], config: GGUFModelConfig, to target: String,
                              progress: (Progress) -> Void) throws {
        var writer = SafetensorsWriter(metadata: ["format": "pt", "source": "gguf"])
        for (tensor, name) in tensors { writer.reserve(name: name, dtype: .f32, shape: tensor.shape) }
        let total = tensors.reduce(0) { $0 + $1.0.elementCount * 4 }
        guard FileManager.default.createFile(atPath: target, contents: nil), let handle = FileHandle(forWritingAtPath: target) else {
            throw CheckpointError(file: target, .cannotOpen(reason: "cannot create"))
        }
        defer { try? handle.close() }
        let header = writer.header()
        var length = UInt64(header.count).littleEndian
        try handle.write(contentsOf: Data(bytes: &length, count: 8))
        try handle.write(contentsOf: header)
        var written = 0
        for (tensor, name) in tensors {
            progress(Progress(bytesWritten: written, bytesTotal: total, tensorName: name))
            var values = try file.dequantize(tensor)
            if let heads = config.ropeHeads(forTransformersName: name), tensor.shape.count == 2 {
                values = GGUFRoPEPermutation.unpermuteRows(values, rows: tensor.shape[0], columns: tensor.shape[1], heads: heads)
            }
            try values.withUnsafeBytes { try handle.write(contentsOf: $0) }
            written += values.count * 4
        }
        try handle.synchronize()
        progress(Progress(bytesWritten: written, bytesTotal: total, tensorName: ""))
    }
}
