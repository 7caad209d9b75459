/// Why a model cannot be run, in one line that names the file concerned (`config.json` for
/// configuration problems, the checkpoint for tensors and inputs), like `CheckpointError`.
public struct ModelError: Error, Equatable, Sendable {
    public enum Problem: Equatable, Sendable {
        case noConfig
        case unsupportedArchitecture(String)
        case unsupportedFeature(String)
        case invalidConfig(String)
        case missingTensor(String)
        case wrongShape(tensor: String, expected: [Int], actual: [Int])
        case notFloat(tensor: String, dtype: DType)
        case tokenOutOfRange(position: Int, token: Int, vocabulary: Int)
        case noOutputHead(String)
        case tooFewTokens(Int)
    }

    public let file: String
    public let problem: Problem

    public init(file: String, _ problem: Problem) {
        self.file = file
        self.problem = problem
    }


    public var message: String {
        switch problem {
        case .noConfig:
            return "no config.json beside the checkpoint; the runtime needs it to know the architecture"
        case .unsupportedArchitecture(let name):
            return "unsupported architecture \(name) (the runtime runs \(ModelDescription.supportedTypes.joined(separator: ", ")))"
        case .unsupportedFeature(let detail):
            return "unsupported: \(detail)"
        case .invalidConfig(let detail):
            return "invalid config: \(detail)"
        case .missingTensor(let name):
            return "tensor \(name) is missing"
        case .wrongShape(let tensor, let expected, let actual):
            return "tensor \(tensor) has shape \(Self.shape(actual)), expected \(Self.shape(expected))"
        case .notFloat(let tensor, let dtype):
            return "tensor \(tensor) is \(dtype.rawValue), not F32/F16/BF16"
        case .tokenOutOfRange(let position, let token, let vocabulary):
            return "token \(token) at position \(position) is outside the vocabulary of \(vocabulary)"
        case .noOutputHead(let detail):
            return "no output head: \(detail)"
        case .tooFewTokens(let count):
            return "\(count) token\(count == 1 ? "" : "s") predict nothing; comparing next-token predictions needs at least 2"
        }
    }

    private static func shape(_ dimensions: [Int]) -> String { "[" + dimensions.map(String.init).joined(separator: ", ") + "]" }
}
