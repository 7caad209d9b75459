import Foundation
import QuantKit

/// The commands' front door to a model: a safetensors file or folder opens directly; a `.gguf` file gets
/// a small transformers folder in the cache (config.json, tokenizer.json; reused on later runs), and
/// that folder opens with its weights read in place from the GGUF.
enum OpenModel {
    static func isGGUF(_ path: String) -> Bool { path.lowercased().hasSuffix(".gguf") }
    /// The model as every command analyses it, remembering the path the user gave; kept tensors counted
    /// in `keptDType` (nil: as stored).
    static func opened(_ path: String, keptDType: DType?) throws -> OpenedModel {
        OpenedModel(try checkpoint(path), sourcePath: path, keptDType: keptDType)
    }

    static func checkpoint(_ path: String) throws -> Checkpoint {
        guard isGGUF(path) else { return try Checkpoint(path: path) }
        let result = try GGUFConversion(path: path).run()
        let verb = result.converted ? "converted to" : "using the earlier conversion in"
        note("\(path): GGUF, read in place (config and tokenizer \(verb) \(result.folder))")
        if let reason = result.tokenizerNote { note("\(path): \(reason)") }
        if let reason = result.weightOnlyReason { note("\(path): \(reason)") }
        return try Checkpoint(path: result.folder, shownName: (path as NSString).lastPathComponent)
    }

    private static func note(_ line: String) {
        FileHandle.standardError.write(Data("qtui: \(line)\n".utf8))
    }
}
