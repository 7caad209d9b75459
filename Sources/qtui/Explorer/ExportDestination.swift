import Foundation
import QuantKit

/// Where the explorer proposes to write an export: beside what the user opened (beside the `.gguf`, not
/// inside the conversion cache), named for the method.
enum ExportDestination {
    /// `<input>-nf4-dq` (a file's extension dropped), or with -2, -3 … when that exists.
    static func freePath(for model: OpenedModel, plan: ExportPlan, fileManager: FileManager = .default) -> String {
        var base = URL(fileURLWithPath: model.sourcePath).standardizedFileURL.path
        var isFolder: ObjCBool = false
        if !(fileManager.fileExists(atPath: base, isDirectory: &isFolder) && isFolder.boolValue) {
            base = (base as NSString).deletingPathExtension
        }
        base += "-" + plan.method.rawValue + (plan.doubleQuant ? "-dq" : "")
        var candidate = base
        var counter = 2
        while fileManager.fileExists(atPath: candidate) {
            candidate = "\(base)-\(counter)"
            counter += 1
        }
        return candidate
    }
}
