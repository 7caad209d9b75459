/// Everything that can be wrong with a `tokenizer.json`. Like `CheckpointError`, each case knows the
/// file, so the command line can print one line — `FILE: what is wrong` — and exit 2.
public struct TokenizerError: Error, Equatable, Sendable {
    public enum Problem: Equatable, Sendable {
        case cannotOpen(reason: String)
        case invalidJSON(String)
        /// A component type (or option) this implementation does not reproduce, e.g.
        /// `("model", "Unigram")` or `("pre_tokenizer", "UnicodeScripts")`.
        case unsupported(component: String, type: String)
        /// A component whose fields are missing, mistyped or inconsistent.
        case invalidComponent(component: String, reason: String)
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
        case .invalidJSON(let detail):
            return "invalid JSON: \(detail)"
        case .unsupported(let component, let type):
            return "unsupported \(component) \(type)"
        case .invalidComponent(let component, let reason):
            return "\(component): \(reason)"
        }
    }
}
