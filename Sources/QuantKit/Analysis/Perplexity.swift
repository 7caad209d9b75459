import Foundation

/// Perplexity and next-token divergence from fp32 on the calibration tokens for each bitsandbytes method,
/// simulated in the forward pass (ModelRuntime.compare), and the threshold they suggest.
///
/// The suggestion rests on the mean KL divergence KL(p_fp32 ‖ p_int8) of the next-token distributions,
/// not on perplexity: on a real model a last-bit change of the activations moves int8 perplexity by
/// 1–2% (scripts/tools/int8_sensitivity.py), as much as neighbouring thresholds differ, while the KL moves less
/// than the gap between neighbouring thresholds (SmolLM2, thresholds 0–8: docs/BENCHMARKS.md). KL also
/// measures what quantization changes, the whole distribution against fp32's, where perplexity sees only
/// the probability of the text's next token, whose errors partly cancel.
public struct PerplexityReport: Sendable, Codable, Equatable {
    public struct Point: Sendable, Codable, Equatable {
        public let threshold: Float
        public let perplexity: Double
        /// Mean KL(p_fp32 ‖ p_int8) over the positions, in nats.
        public let klDivergence: Double
    }

    /// Mean KL(p_fp32 ‖ p_method) of the next-token distributions over the calibration positions, in nats.
    public struct Divergences: Sendable, Codable, Equatable {
        public let int8: Double
        public let int8Pure: Double
        public let nf4: Double
        public let nf4DoubleQuant: Double
        public let fp4: Double
        public let fp4DoubleQuant: Double
    }

    public let tokens: Int
    public let fp32: Double
    /// int8 with the LLM.int8 decomposition at the report's threshold.
    public let int8: Double
    /// int8 without decomposition (threshold 0).
    public let int8Pure: Double
    public let nf4: Double
    public let nf4DoubleQuant: Double
    public let fp4: Double
    public let fp4DoubleQuant: Double
    public let klDivergence: Divergences
    /// int8 perplexity and KL at each threshold of the search grid.
    public let int8Curve: [Point]
    /// The highest grid threshold whose int8 KL from fp32 is at most `maximumKLDivergence` (nil: none).
    public let suggestedThreshold: Float?
    /// The tolerated rise of perplexity on text the fp32 model would write itself: int8's expected
    /// perplexity there is e^KL times fp32's, so the bound on the KL is ln(1 + tolerance).
    public let tolerance: Double
    /// The share of all converted layers' input columns that run in fp16 at the suggested threshold:
    /// what it costs in LLM.int8 inference speed (set by the caller, who has the calibration).
    public var suggestedFp16ColumnShare: Double?

    public var maximumKLDivergence: Double { log1p(tolerance) }

    public static let searchGrid: [Float] = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20]

    /// Runs 7 + grid forward passes over `tokens` (at least 2; one fewer when `threshold` is on the grid,
    /// whose pass it shares); `skipModules` stay unquantized in every method. Memory beyond one pass: the
    /// fp32 pass's next-token distributions, (tokens − 1) × vocabulary floats.
    public static func measure(_ runtime: ModelRuntime, tokens: [Int], threshold: Float, blocksize: Int, skipModules: [String] = [],
                               tolerance: Double = 0.01, progress: (Int, Int) -> Void = { _, _ in },
                               isCancelled: () -> Bool = { false }) throws -> PerplexityReport {
        func plan(_ method: ExportMethod, doubleQuant: Bool = false, threshold: Float = 6) -> ExportPlan {
            var plan = ExportPlan(method: method)
            plan.doubleQuant = doubleQuant
            plan.blocksize = blocksize
            plan.threshold = Double(threshold)
            plan.skipModules = skipModules
            return plan
        }
        let onGrid = searchGrid.firstIndex(of: threshold)
        let plans = [plan(.int8, threshold: 0), plan(.nf4), plan(.nf4, doubleQuant: true), plan(.fp4), plan(.fp4, doubleQuant: true)]
            + searchGrid.map { plan(.int8, threshold: $0) } + (onGrid == nil ? [plan(.int8, threshold: threshold)] : [])
        let passes = plans.count + 1
        progress(0, passes)
        let reference = try runtime.referencePass(tokens: tokens)
        var measured: [NextTokenComparison] = []
        for (index, plan) in plans.enumerated() {
            if isCancelled() { throw CancellationError() }
            progress(index + 1, passes)
            measured.append(try runtime.compare(plan: plan, against: reference))
        }
        progress(passes, passes)
        // r: int8 at `threshold`, int8 pure, nf4, nf4+dq, fp4, fp4+dq, then the grid.
        let r = [measured[5 + (onGrid ?? searchGrid.count)]] + measured
        let curve = zip(searchGrid, r[6...]).map { Point(threshold: $0, perplexity: $1.perplexity, klDivergence: $1.meanKLDivergence) }
        let bound = log1p(tolerance)
        let divergences = Divergences(int8: r[0].meanKLDivergence, int8Pure: r[1].meanKLDivergence, nf4: r[2].meanKLDivergence,
                                      nf4DoubleQuant: r[3].meanKLDivergence, fp4: r[4].meanKLDivergence,
                                      fp4DoubleQuant: r[5].meanKLDivergence)
        return PerplexityReport(tokens: tokens.count, fp32: reference.perplexity, int8: r[0].perplexity, int8Pure: r[1].perplexity,
                                nf4: r[2].perplexity, nf4DoubleQuant: r[3].perplexity, fp4: r[4].perplexity,
                                fp4DoubleQuant: r[5].perplexity, klDivergence: divergences, int8Curve: curve,
                                suggestedThreshold: curve.last { $0.klDivergence <= bound }?.threshold, tolerance: tolerance)
    }
}
