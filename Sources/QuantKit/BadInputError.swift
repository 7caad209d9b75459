/// An error caused by what the user gave (a file, a model, a value), whose description is one line that
/// names the file and what is wrong. The command line prints it and exits 2; conform a new error type
/// here rather than adding a case to qtui's error handling.
public protocol BadInputError: Error, CustomStringConvertible {
    /// The file (or folder) the problem is in.
    var file: String { get }
    /// What is wrong, without the file name.
    var message: String { get }
}

extension BadInputError {
    public var description: String { singleLine("\(file): \(message)") }
}

extension CheckpointError: BadInputError {}
extension ModelError: BadInputError {}
extension TokenizerError: BadInputError {}
extension ExportError: BadInputError {}

/// `text` with control characters (newlines, tabs, escapes — a damaged file's names can hold any) written
/// as `\u{…}`, so an error stays one line and cannot drive the terminal.
func singleLine(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        if scalar.properties.generalCategory == .control {
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}
