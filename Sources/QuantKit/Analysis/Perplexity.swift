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
    /// int8 perplexity and KL at the grid thresholds measured, ascending: from the top of the grid down to
    /// the suggestion (every grid threshold when none qualifies, or when measured with `fullCurve`), and
    /// the report's threshold when it is on the grid.
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

    /// Runs 7 forward passes over `tokens` (at least 2) — fp32, int8 at `threshold`, pure int8, nf4 and
    /// fp4 with and without double quant — then int8 at the grid thresholds from the highest down, until
    /// one keeps the KL within the bound: that one is the suggestion, the highest such threshold of the
    /// grid, exactly as if every grid point had been measured (the points below it would not change it).
    /// `fullCurve` measures every grid point. A grid point equal to `threshold` shares its pass; a `known`
    /// reference pass (calibration's, on the same tokens) is the fp32 pass.
    /// `skipModules` stay unquantized in every method. Memory beyond one pass: the fp32 pass's next-token
    /// distributions, (tokens − 1) × vocabulary floats.
    public static func measure(_ runtime: ModelRuntime, tokens: [Int], threshold: Float, blocksize: Int, skipModules: [String] = [],
                               tolerance: Double = 0.01, fullCurve: Bool = false, reference known: ReferencePass? = nil,
                               progress: (Int, Int) -> Void = { _, _ in },
                               isCancelled: () -> Bool = { false }) throws -> PerplexityReport {
        func plan(_ method: ExportMethod, doubleQuant: Bool = false, threshold: Float = 6) -> ExportPlan {
            var plan = ExportPlan(method: method)
            plan.doubleQuant = doubleQuant
            plan.blocksize = blocksize
            plan.threshold = Double(threshold)
            plan.skipModules = skipModules
            return plan
        }
        let bound = log1p(tolerance)
        let methods = [plan(.int8, threshold: threshold), plan(.int8, threshold: 0), plan(.nf4), plan(.nf4, doubleQuant: true),
                       plan(.fp4), plan(.fp4, doubleQuant: true)]
        // The most passes it can take; a search that stops early jumps to the end.
        let passes = 1 + methods.count + searchGrid.filter { $0 != threshold }.count
        var done = 0
        func advance() {
            done += 1
            progress(done, passes)
        }
        progress(0, passes)
        precondition(known.map { $0.tokens == tokens } ?? true, "the reference ran on other tokens")
        let reference = try known ?? runtime.referencePass(tokens: tokens)
        advance()
        func measured(_ plan: ExportPlan) throws -> NextTokenComparison {
            if isCancelled() { throw CancellationError() }
            defer { advance() }
            return try runtime.compare(plan: plan, against: reference)
        }
        // r: int8 at `threshold`, int8 pure, nf4, nf4+dq, fp4, fp4+dq.
        let r = try methods.map(measured)
        var grid: [Float: NextTokenComparison] = searchGrid.contains(threshold) ? [threshold: r[0]] : [:]
        for gridThreshold in searchGrid.reversed() {
            let point = try grid[gridThreshold] ?? measured(plan(.int8, threshold: gridThreshold))
            grid[gridThreshold] = point
            if !fullCurve && point.meanKLDivergence <= bound { break }
        }
        progress(passes, passes)
        let curve = searchGrid.compactMap { t in grid[t].map { Point(threshold: t, perplexity: $0.perplexity, klDivergence: $0.meanKLDivergence) } }
        let divergences = Divergences(int8: r[0].meanKLDivergence, int8Pure: r[1].meanKLDivergence, nf4: r[2].meanKLDivergence,
                                      nf4DoubleQuant: r[3].meanKLDivergence, fp4: r[4].meanKLDivergence,
                                      fp4DoubleQuant: r[5].meanKLDivergence)
        return PerplexityReport(tokens: tokens.count, fp32: reference.perplexity, int8: r[0].perplexity, int8Pure: r[1].perplexity,
                                nf4: r[2].perplexity, nf4DoubleQuant: r[3].perplexity, fp4: r[4].perplexity,
                                fp4DoubleQuant: r[5].perplexity, klDivergence: divergences, int8Curve: curve,
                                suggestedThreshold: curve.last { $0.klDivergence <= bound }?.threshold, tolerance: tolerance)
    }
}
