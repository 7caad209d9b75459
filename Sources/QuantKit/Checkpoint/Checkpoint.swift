import Foundation

/// A model checkpoint: one safetensors file, or a Hugging Face folder with `model.safetensors`, or
/// shards listed by `model.safetensors.index.json`; plus `config.json` when present. A GGUF cache entry
/// (GGUFInPlace: config.json, tokenizer.json, source.txt naming the .gguf) opens as the tensors of that
/// GGUF, read in place.
///
///     model.safetensors.index.json = {"metadata": {...}, "weight_map": {tensor name: shard file name}}
///
/// Every shard the index names must exist and hold the tensors the index places in it.
public final class Checkpoint: Sendable {
    /// What the user named: a file or a folder.
    public let path: String
    /// The folder the model lives in: `path` itself, or the folder of the file named.
    public let folder: String
    /// Whether the user named a folder (then its small files belong to the model).
    public let isFolder: Bool
    public let shards: [SafetensorsFile]
    /// The GGUF whose blocks the tensors are (a GGUF cache entry); nil for safetensors.
    public let gguf: GGUFFile?
    /// All tensors in a stable order: shard by shard, in data order within a shard.
    public let tensors: [TensorInfo]
    public let config: ModelConfig?
    /// `__metadata__` of the first shard (safetensors' free-form string map).
    public let metadata: [String: String]
    private let index: [String: Int]
    /// The name to show instead of the path's (a GGUF file opened through its cache folder).
    private let shownName: String?
    /// Whether `release` lets pages go: only for a model whose files are larger than `releaseAbove`.
    private let releasesPages: Bool

    /// Models up to this size stay resident between passes (re-reading them costs page faults and
    /// they fit the memory budget anyway); larger ones are streamed through a layer's worth.
    public static let defaultReleaseAbove = 2 << 30

    public init(path: String, shownName: String? = nil, releaseAbove: Int = Checkpoint.defaultReleaseAbove) throws {
        self.path = path
        self.shownName = shownName
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError(file: path, .cannotOpen(reason: "no such file or directory"))
        }
        isFolder = isDirectory.boolValue
        folder = isFolder ? path : (path as NSString).deletingLastPathComponent
        var inPlace: (file: GGUFFile, tensors: [TensorInfo])?
        if isFolder && GGUFInPlace.isEntry(path) {
            inPlace = try GGUFInPlace.open(entry: path)
            shards = []
        } else if isFolder {
            shards = try Self.openFolder(path)
        } else if path.hasSuffix(".safetensors") {
            shards = [try SafetensorsFile(path: path)]
        } else {
            throw CheckpointError(file: path, .unsupportedFormat("not a .safetensors file or model folder"))
        }
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        config = FileManager.default.fileExists(atPath: configPath) ? try ModelConfig(path: configPath) : nil
        gguf = inPlace?.file
        tensors = inPlace?.tensors ?? shards.flatMap(\.tensors)
        metadata = inPlace == nil ? shards.first?.metadata ?? [:] : GGUFInPlace.metadata
        var byName: [String: Int] = [:]
        for (position, tensor) in tensors.enumerated() { byName[tensor.name] = position }
        index = byName
        releasesPages = shards.reduce(inPlace?.file.mapped.bytes.count ?? 0) { $0 + $1.mapped.bytes.count } > releaseAbove
    }

    public var name: String {
        if let shownName { return shownName }
        let base = (path as NSString).lastPathComponent
        return base.hasSuffix(".safetensors") ? String(base.dropLast(".safetensors".count)) : base
    }

    /// Bytes on disk of all shards together (of the GGUF read in place).
    public var fileBytes: Int { shards.reduce(gguf?.mapped.bytes.count ?? 0) { $0 + $1.mapped.bytes.count } }

    public func tensor(named name: String) -> TensorInfo? { index[name].map { tensors[$0] } }

    /// A zero-copy view of a tensor's bytes in its shard's mapping (a GGUF tensor's stored blocks: decode
    /// them through TensorDecoder).
    public func bytes(of tensor: TensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file(of: tensor).bytes[tensor.dataOffset..<(tensor.dataOffset + tensor.byteCount)])
    }

    public func file(of tensor: TensorInfo) -> MappedFile { gguf?.mapped ?? shards[tensor.shardIndex].mapped }

    /// Done with a tensor's bytes for now: in a model larger than `releaseAbove`, its pages leave this
    /// process's resident set (they stay in the page cache, so reading again is cheap). Passes call it for
    /// each tensor they have finished, so a big model's file-backed memory is one layer's, not the model's.
    public func release(_ tensor: TensorInfo) {
        if releasesPages { file(of: tensor).release(offset: tensor.dataOffset, count: tensor.byteCount) }
    }

    private static func openFolder(_ folder: String) throws -> [SafetensorsFile] {
        let indexPath = (folder as NSString).appendingPathComponent("model.safetensors.index.json")
        if FileManager.default.fileExists(atPath: indexPath) { return try openSharded(indexPath: indexPath, folder: folder) }
        let single = (folder as NSString).appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: single) { return [try SafetensorsFile(path: single)] }
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasSuffix(".safetensors") }
        guard candidates.count == 1 else { throw CheckpointError(file: folder, .noSafetensors) }
        return [try SafetensorsFile(path: (folder as NSString).appendingPathComponent(candidates[0]))]
    }

    private static func openSharded(indexPath: String, folder: String) throws -> [SafetensorsFile] {
        guard let data = FileManager.default.contents(atPath: indexPath),
              let object = (try? JSONValue.parse(data))?.object
        else { throw CheckpointError(file: indexPath, .invalidJSON("index is not a JSON object")) }
        guard let entries = object["weight_map"]?.object else {
            throw CheckpointError(file: indexPath, .invalidJSON("weight_map is missing or not an object"))
        }
        var weightMap: [String: String] = [:]
        for (tensor, shard) in entries {
            guard let shardName = shard.string else {
                throw CheckpointError(file: indexPath, .invalidJSON("weight_map entry \(tensor) is not a file name"))
            }
            weightMap[tensor] = shardName
        }
        let shardNames = Array(Set(weightMap.values)).sorted()
        var shards: [SafetensorsFile] = []
        for (position, shardName) in shardNames.enumerated() {
            let shardPath = (folder as NSString).appendingPathComponent(shardName)
            guard !shardName.contains("/"), FileManager.default.fileExists(atPath: shardPath) else {
                throw CheckpointError(file: indexPath, .missingShard(shardName))
            }
            shards.append(try SafetensorsFile(path: shardPath, shardIndex: position))
        }
        let namesPerShard = shards.map { Set($0.tensors.map(\.name)) }
        for (tensorName, shardName) in weightMap.sorted(by: { $0.key < $1.key }) {
            guard namesPerShard[shardNames.firstIndex(of: shardName)!].contains(tensorName) else {
                throw CheckpointError(file: indexPath, .tensorMissingFromShard(tensor: tensorName, shard: shardName))
            }
        }
        return shards
    }
}
