import Foundation
import QuantKit

/// The commands' front door to a model: a safetensors file or folder opens directly; a `.gguf` file is
/// first converted into a transformers folder in the cache (reused on later runs), with a progress
/// bar on stderr, and that folder is opened.
enum OpenModel {
    static func isGGUF(_ path: String) -> Bool { path.lowercased().hasSuffix(".gguf") }
    /// The model as every command analyses it, remembering the path the user gave; kept tensors counted
    /// in `keptDType` (nil: as stored).
    static func opened(_ path: String, keptDType: DType?) throws -> OpenedModel {
        OpenedModel(try checkpoint(path), sourcePath: path, keptDType: keptDType)
    }

    static func checkpoint(_ path: String) throws -> Checkpoint {
        guard isGGUF(path) else { return try Checkpoint(path: path) }
        let conversion = GGUFConversion(path: path)
        let bar = ProgressBar(label: "converting GGUF")
        let result = try conversion.run { progress in
            bar.update(done: Double(progress.bytesWritten), total: Double(progress.bytesTotal), unit: "B", detail: progress.tensorName)
        }
        bar.finish()
        let verb = result.converted ? "converted" : "using the earlier conversion"
        note("\(path): GGUF, \(verb) to \(result.folder)")
        if let reason = result.tokenizerNote { note("\(path): \(reason)") }
        if let reason = result.weightOnlyReason { note("\(path): \(reason)") }
        return try Checkpoint(path: result.folder, shownName: (path as NSString).lastPathComponent)
    }

    private static func note(_ line: String) {
        FileHandle.standardError.write(Data("qtui: \(line)\n".utf8))
    }
}
