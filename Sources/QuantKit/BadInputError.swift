/// An error caused by what the user gave (a file, a model, a value), whose description is one line that
/// names the file and what is wrong. The command line prints it and exits 2; conform a new error type
/// here rather than adding a case to qtui's error handling.
public protocol BadInputError: Error, CustomStringConvertible {}

extension CheckpointError: BadInputError {}
extension ModelError: BadInputError {}
extension TokenizerError: BadInputError {}
extension ExportError: BadInputError {}
