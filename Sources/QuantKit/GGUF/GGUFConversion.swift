import Foundation

/// Turns a GGUF file of a supported architecture (GGUFArchitecture: llama, qwen2, qwen3, phi3, falcon,
/// gemma2, gemma3) into the transformers folder the rest of QuantKit reads, so weight analysis,
/// calibration, perplexity and export work on it unchanged — with the weights read in place from the
/// GGUF (GGUFInPlace), not copied:
///
///     <cache>/<content fingerprint>-c<converter version>/   (GGUFCache)
///         config.json         the architecture's config as transformers 5.24 writes it from <arch>.* keys
///                             (GGUFModelConfig)
///         tokenizer.json      from tokenizer.ggml.*: byte-level BPE ("gpt2" tokenizer model,
///                             GGUFByteLevelTokenizerJSON) or SentencePiece BPE ("llama",
///                             GGUFSentencePieceTokenizerJSON); none for other tokenizer models
///         source.txt          the .gguf's path: `Checkpoint(path:)` on the folder lists the tensors
///                             transformers loads (its names, F32, q/k rows un-permuted where the
///                             architecture's converter permuted them) and decodes them from the GGUF's
///                             blocks where they are read (GGUFTransform)
///
/// The folder is built under a temporary name and renamed when complete, so an existing folder is
/// always a finished conversion and is reused. It takes a few small files whatever the model's size.
public struct GGUFConversion {
    /// One report per tensor of the table checked (type, shape against the config, RoPE geometry).
    public struct Progress: Sendable {
        public let tensorsChecked: Int
        public let tensorCount: Int
        public let tensorName: String
    }

    public struct Result: Sendable {
        /// The converted folder, to open with `Checkpoint(path:)`.
        public let folder: String
        /// False when an earlier conversion was reused.
        public let converted: Bool
        /// Why there is no tokenizer.json (a tokenizer model other than "gpt2" and "llama").
        public let tokenizerNote: String?
        /// Why the model opens weight-only (an architecture the runtime has no forward pass for); nil when it runs.
        public let weightOnlyReason: String?
    }

    public static var defaultCacheFolder: String { GGUFCache.defaultFolder }

    public let path: String
    public let cacheFolder: String

    public init(path: String, cacheFolder: String = GGUFConversion.defaultCacheFolder) {
        self.path = path
        self.cacheFolder = cacheFolder
    }

    /// Which converter wrote a cached folder. Bump it whenever the same GGUF would convert to different
    /// files (a tokenizer rule, a config key), so folders an older qtui wrote are not reused.
    /// 3: tensors are checked against the metadata's geometry (a version-2 folder may hold a tensor
    /// with a zero dimension that no reader should see). 4: no model.safetensors, the GGUF is read in
    /// place (folders of versions up to 3 hold 4 bytes a parameter; GGUFCache lists them as stale).
    static let converterVersion = 4

    /// The folder this file converts into: its content identifies the input (the same model under
    /// another path or name converts once), the converter version the output.
    public func destination() throws -> String {
        (cacheFolder as NSString).appendingPathComponent("\(try ContentFingerprint.of(path))-c\(Self.converterVersion)")
    }

    /// Converts, or reuses the finished folder of an earlier run. `progress` is called from this thread.
    /// A file of an architecture without a table entry converts weight-only (GGUFWeightOnly).
    public func run(progress: (Progress) -> Void = { _ in }) throws -> Result {
        let folder = try destination()
        let file = try GGUFFile(path: path)
        let architecture = GGUFArchitecture.of(file)
        // A weight-only model never runs, so it needs no tokenizer (and a strange one cannot stop it opening).
        let tokenizer = architecture == nil ? nil : Self.tokenizerBuilder(file)
        let tokenizerNote = architecture == nil ? nil
            : tokenizer == nil ? Self.unsupportedTokenizerNote(file) : Self.unknownPreTokenizerNote(file)
        let weightOnly = architecture == nil ? GGUFWeightOnly.reason(file) : nil
        func result(converted: Bool) -> Result {
            Result(folder: folder, converted: converted, tokenizerNote: tokenizerNote, weightOnlyReason: weightOnly)
        }
        let marker = (folder as NSString).appendingPathComponent("config.json")
        if FileManager.default.fileExists(atPath: marker) {
            GGUFCache(folder: cacheFolder).touch(folder, source: path)
            return result(converted: false)
        }
        // Everything about the input is checked before the first byte is written.
        let config = try architecture.map { try GGUFModelConfig(file: file, architecture: $0) }
        let tensors = try GGUFInPlace.tensors(file)
        for (index, tensor) in tensors.enumerated() {
            progress(Progress(tensorsChecked: index, tensorCount: tensors.count, tensorName: tensor.name))
        }
        progress(Progress(tensorsChecked: tensors.count, tensorCount: tensors.count, tensorName: ""))
        GGUFPartialFolders.removeStale(in: cacheFolder)
        let temporary = folder + GGUFPartialFolders.suffix(for: getpid())
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            try write(config?.configJSON() ?? GGUFWeightOnly.configJSON(file), to: temporary, name: "config.json")
            if let tokenizer { try write(try tokenizer(file), to: temporary, name: "tokenizer.json") }
            try write(GGUFCache.sourceLine(path), to: temporary, name: GGUFCache.sourceFile)
            try FileManager.default.moveItem(atPath: temporary, toPath: folder)
            GGUFCache(folder: cacheFolder).touch(folder, source: path)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            // Another process finished the same conversion first: use its folder.
            if FileManager.default.fileExists(atPath: marker) {
                GGUFCache(folder: cacheFolder).touch(folder, source: path)
                return result(converted: false)
            }
            if let error = error as? CheckpointError { throw error }
            throw CheckpointError(file: folder, .cannotOpen(reason: "cannot write the converted model: \(error.localizedDescription)"))
        }
        return result(converted: true)
    }

    /// The tokenizer.json builder for the file's tokenizer.ggml.model; nil when there is none.
    static func tokenizerBuilder(_ file: GGUFFile) -> ((GGUFFile) throws -> String)? {
        switch file["tokenizer.ggml.model"]?.string {
        case "gpt2": return GGUFByteLevelTokenizerJSON.build
        case "llama" where ["gemma2", "gemma3"].contains(file["general.architecture"]?.string ?? ""):
            return GGUFGemmaTokenizerJSON.build
        case "llama":
            return file["general.architecture"]?.string == "phi3" ? GGUFSentencePieceTokenizerJSON.buildPhi3 : GGUFSentencePieceTokenizerJSON.build
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
}
