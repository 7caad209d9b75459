import Foundation

/// The fp32 model's pass over a token sequence, kept so that quantized passes can be compared with its
/// next-token distributions (`ModelRuntime.compare(plan:against:)`).
///
/// It holds the final hidden states of the positions that predict a next token — (tokens − 1) × hidden
/// floats (SmolLM2, 512 tokens: 1.2 MB) — not the distributions themselves: the output head recomputes
/// the fp32 logits a slab at a time next to the quantized ones, so a 128k vocabulary costs a second
/// product with each head slab instead of (tokens − 1) × vocabulary floats (262 MB at 512 tokens).
public struct ReferencePass: Sendable {
    public let tokens: [Int]
    /// The runtime's window when the pass ran; comparisons need the same chunks.
    public let window: Int
    let hidden: [Float]
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
