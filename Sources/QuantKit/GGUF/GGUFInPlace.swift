import Foundation

/// A GGUF read in place. Its cache entry (GGUFConversion) holds only small files; the checkpoint opened
/// from the entry lists the tensors transformers would load — its names, its shapes, F32 — each backed by
/// the GGUF's own blocks and the GGUFTransform that decodes them, so no tensor data is written anywhere:
///
///     <cache>/<content fingerprint>-c<converter version>/
///         config.json, tokenizer.json   (GGUFConversion)
///         source.txt                    the .gguf's absolute path: where the weights are read from
///
/// The entry is keyed by the GGUF's content, so a source.txt naming a file whose content has changed since
/// (or is gone) is refused with one line rather than read as the model the config describes.
enum GGUFInPlace {
    /// The safetensors metadata a converted model.safetensors carried (reports show it).
    static let metadata = ["format": "pt", "source": "gguf"]

    /// The tensors a conversion would write, in file order: with transformers' names for a supported
    /// architecture (each checked against the config's geometry), else the weight-only ones under their
    /// GGUF names (GGUFWeightOnly).
    static func tensors(_ file: GGUFFile) throws -> [TensorInfo] {
        guard let architecture = GGUFArchitecture.of(file) else {
            return try GGUFWeightOnly.tensors(file).map { tensor, name in
                try info(tensor, name: name, GGUFTransform(tensor, ropeHeads: nil, subtractsOne: false, file: file))
            }
        }
        let config = try GGUFModelConfig(file: file, architecture: architecture)
        return try GGUFConversion.mappedTensors(file, architecture: architecture, config: config).map { tensor, name in
            let plusOne = architecture.normsStoredPlusOne && tensor.name.contains("norm.weight")
            return try info(tensor, name: name, GGUFTransform(tensor, ropeHeads: config.ropeHeads(forTransformersName: name),
                                                              subtractsOne: plusOne, file: file))
        }
    }

    private static func info(_ tensor: GGUFTensor, name: String, _ transform: GGUFTransform) -> TensorInfo {
        TensorInfo(name: name, dtype: .f32, shape: tensor.shape, shardIndex: 0, dataOffset: tensor.dataOffset,
                   byteCount: tensor.byteCount ?? 0, gguf: transform)
    }

    /// Whether `folder` is a cache entry to read in place: it names its GGUF and holds no safetensors
    /// (a folder an older qtui converted holds model.safetensors and opens as the safetensors it is).
    static func isEntry(_ folder: String) -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.contains(GGUFCache.sourceFile) && !names.contains { $0.hasSuffix(".safetensors") || $0.hasSuffix(".safetensors.index.json") }
    }

    /// The GGUF an entry reads (checked against the fingerprint in the entry's name when it has one) and
    /// its tensors.
    static func open(entry folder: String) throws -> (file: GGUFFile, tensors: [TensorInfo]) {
        let link = (folder as NSString).appendingPathComponent(GGUFCache.sourceFile)
        guard let text = try? String(contentsOfFile: link, encoding: .utf8) else {
            throw CheckpointError(file: link, .cannotOpen(reason: "cannot read the GGUF's path"))
        }
        let source = text.trimmingCharacters(in: .newlines)
        guard FileManager.default.fileExists(atPath: source) else {
            throw CheckpointError(file: folder, .cannotOpen(reason: "the GGUF it reads in place, \(source), is gone: open the .gguf itself"))
        }
        let name = (folder as NSString).lastPathComponent
        if let dash = name.firstIndex(of: "-"), name.distance(from: name.startIndex, to: dash) == 16,
           try ContentFingerprint.of(source) != name[..<dash] {
            throw CheckpointError(file: folder, .cannotOpen(reason: "\(source) has changed since this entry was made: open the .gguf itself"))
        }
        let file = try GGUFFile(path: source)
        return (file, try tensors(file))
    }
}
