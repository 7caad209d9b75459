import Foundation

/// What to calibrate on and what to measure there: the text, how many tokens, the threshold the report's
/// counts are at, and whether to measure perplexity per method.
public struct CalibrationRequest: Sendable {
    public var text: String
    /// "built-in text" or a file name, for the report.
    public var source: String
    public var calibration = Calibration()
    public var threshold: Float = 6
    /// Also measure perplexity per method (a forward pass each) and suggest a threshold.
    public var perplexity = false
    public var perplexityTolerance = 0.01
    /// Measure int8 at every threshold of the perplexity grid, not only down to the suggestion.
    public var perplexityFullCurve = false

    /// Fewer tokens say nothing about a layer's activations: a handful shows few of the outlier
    /// dimensions a real text brings out (and an empty file still gives the tokenizer's special tokens).
    public static let minimumTokens = 16

    public init(text: String, source: String) {
        self.text = text
        self.source = source
    }

    /// The model made runnable and the text tokenized, or why the model cannot run (weight-only). A
    /// tokenizer that fails on the text (a normalizer chain growing it without bound) is bad input: thrown.
    public func prepare(_ model: OpenedModel) throws -> Result<CalibrationSession, CalibrationUnavailable> {
        let runtime: ModelRuntime
        let tokenizer: Tokenizer
        do {
            runtime = try ModelRuntime(checkpoint: model.checkpoint, plan: model.plan)
            tokenizer = try Calibration.tokenizer(for: model.checkpoint)
        } catch {
            return .failure(CalibrationUnavailable(reason: "\(error)"))
        }
        let tokens = try calibration.tokens(of: text, tokenizer: tokenizer)
        guard tokens.count >= Self.minimumTokens else {
            return .failure(CalibrationUnavailable(
                reason: "\(source): \(tokens.count) calibration token\(tokens.count == 1 ? "" : "s"); at least \(Self.minimumTokens) are needed"))
        }
        return .success(CalibrationSession(runtime: runtime, tokens: tokens))
    }
}

/// A runnable model and the calibration tokens.
public struct CalibrationSession {
    public let runtime: ModelRuntime
    public let tokens: [Int]
}

/// Why activations cannot be seen for this model (it is then analysed weight-only).
public struct CalibrationUnavailable: Error, Sendable {
    public let reason: String
}
