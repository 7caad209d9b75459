/// A problem planning or writing an export, naming the file or folder concerned. The cases a front end
/// may word in its own terms (a command line names its flags, the explorer its keys) carry their data;
/// the rest are described where they happen.
public struct ExportError: Error, Equatable, Sendable {
    public enum Problem: Equatable, Sendable {
        /// The output folder holds files and replacing it was not asked for.
        case targetNotEmpty
        /// A skip key that matches no Linear layer and no output head, so it would change nothing.
        case skipMatchesNothing(key: String)
        /// Any other failure (I/O, unsafe target, verification), described.
        case failed(String)
    }

    public let file: String
    public let problem: Problem

    public init(file: String, _ problem: Problem) {
        self.file = file
        self.problem = problem
    }

    init(file: String, message: String) { self.init(file: file, .failed(message)) }

    public var message: String {
        switch problem {
        case .targetNotEmpty: return "exists and is not empty"
        case .skipMatchesNothing(let key): return "skip key \(key) matches no Linear layer of this model"
        case .failed(let description): return description
        }
    }
}
