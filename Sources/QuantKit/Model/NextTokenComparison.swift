import Foundation

/// The fp32 model's pass over a token sequence, kept so that quantized passes can be compared with its
/// next-token distributions (`ModelRuntime.compare(plan:against:)`).
///
/// It holds the distributions of the positions that predict a next token as Float probabilities:
/// (tokens − 1) × vocabulary × 4 bytes — SmolLM2 (49,152) at 512 tokens 100 MB, a 128k vocabulary 262 MB,
/// at 2,048 tokens 1 GB. Recomputing them in every pass from the fp32 hidden states instead would cost
/// a second output-head product per pass (on SmolLM2 +16–18% of the time of `scan --perplexity`; on an 8B
/// model minutes), for memory that is a quarter of an fp16 head's at 512 tokens and hidden size 4,096.
public struct ReferencePass: Sendable {
    public let tokens: [Int]
    /// The runtime's window when the pass ran; comparisons need the same chunks.
    public let window: Int
    let distributions: NextTokenDistributions
    public let perplexity: Double
}

/// How a pass predicts the next tokens, next to a reference pass: means over the positions that
/// predict a next token (tokens − 1), the positions perplexity averages over.
public struct NextTokenComparison: Sendable, Equatable {
    public let perplexity: Double
    /// Mean KL(p_reference ‖ p_pass) of the next-token distributions, in nats (0 for the reference itself).
    public let meanKLDivergence: Double

    init(_ scores: [NextTokenScore]) {
        let count = Double(max(scores.count, 1))
        perplexity = exp(scores.reduce(0.0) { $0 + Double($1.negativeLogLikelihood) } / count)
        meanKLDivergence = scores.reduce(0.0) { $0 + $1.divergence } / count
    }
}
