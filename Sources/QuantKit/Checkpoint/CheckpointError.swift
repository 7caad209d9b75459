/// Everything that can be wrong with a checkpoint on disk. Each case knows the file it concerns, so the
/// command line can print one line — `FILE: what is wrong` — and exit 2.
public struct CheckpointError: Error, Equatable, Sendable {
    public enum Problem: Equatable, Sendable {
        case cannotOpen(reason: String)
        case truncated(offset: Int, needed: Int, available: Int)
        case headerTooLarge(bytes: UInt64, limit: Int)
        case headerNotUTF8
        case invalidJSON(String)
        case invalidEntry(tensor: String, reason: String)
        case unsupportedDType(String, tensor: String)
        case sizeMismatch(tensor: String, expectedBytes: Int, actualBytes: Int)
        case offsetsOutsideData(tensor: String, end: Int, dataSize: Int)
        case overlapping(tensor: String, other: String)
        case missingShard(String)
        case tensorMissingFromShard(tensor: String, shard: String)
        case noSafetensors
        case unsupportedFormat(String)
        case notGGUF(magic: [UInt8])
        case unsupportedGGUFVersion(UInt32)
        case absurdCount(what: String, count: UInt64, offset: Int, limit: Int)
        case stringTooLong(length: UInt64, offset: Int, available: Int)
        case invalidMetadata(key: String, reason: String)
        case unsupportedGGMLType(String, known: Bool, tensor: String)
    }

    public let file: String
    public let problem: Problem

    public init(file: String, _ problem: Problem) {
        self.file = file
        self.problem = problem
    }


    public var message: String {
        switch problem {
        case .cannotOpen(let reason):
            return "cannot open: \(reason)"
        case .truncated(let offset, let needed, let available):
            return "truncated: needs \(needed) bytes at offset \(offset), file has \(available)"
        case .headerTooLarge(let bytes, let limit):
            return "header length \(bytes) bytes is above the \(limit / 1_000_000) MB limit"
        case .headerNotUTF8:
            return "header is not valid UTF-8"
        case .invalidJSON(let detail):
            return "invalid JSON: \(detail)"
        case .invalidEntry(let tensor, let reason):
            return "tensor \(tensor): \(reason)"
        case .unsupportedDType(let dtype, let tensor):
            return "tensor \(tensor): unknown dtype \(dtype)"
        case .sizeMismatch(let tensor, let expected, let actual):
            return "tensor \(tensor): shape × dtype size is \(expected) bytes but its byte range holds \(actual)"
        case .offsetsOutsideData(let tensor, let end, let dataSize):
            return "tensor \(tensor): data ends at \(end), past the \(dataSize) data bytes"
        case .overlapping(let tensor, let other):
            return "tensor \(tensor) overlaps tensor \(other)"
        case .missingShard(let shard):
            return "index names shard \(shard), which does not exist"
        case .tensorMissingFromShard(let tensor, let shard):
            return "index places tensor \(tensor) in \(shard), which does not contain it"
        case .noSafetensors:
            return "no model.safetensors, model.safetensors.index.json or single .safetensors file here"
        case .unsupportedFormat(let detail):
            return detail
        case .notGGUF(let magic):
            let hex = magic.map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined(separator: " ")
            return "not a GGUF file: starts with bytes \(hex), not \"GGUF\""
        case .unsupportedGGUFVersion(let version):
            return "GGUF version \(version) is not supported (only 2 and 3)"
        case .absurdCount(let what, let count, let offset, let limit):
            return "\(what) \(count) at offset \(offset) is more than the remaining bytes could hold (at most \(limit))"
        case .stringTooLong(let length, let offset, let available):
            return "string length \(length) at offset \(offset) runs past the end of the file (\(available) bytes)"
        case .invalidMetadata(let key, let reason):
            return "metadata \(key): \(reason)"
        case .unsupportedGGMLType(let type, let known, let tensor):
            return known ? "tensor \(tensor): ggml type \(type) cannot be decoded yet"
                         : "tensor \(tensor): unknown ggml type \(type)"
        }
    }
}
