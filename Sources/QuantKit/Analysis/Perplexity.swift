/// Perplexity on the calibration tokens for the fp32 model and for each bitsandbytes method, simulated
/// in the forward pass (ModelRuntime.perplexity), and the threshold it suggests.
public struct PerplexityReport: Sendable, Codable, Equatable {
    public struct Point: Sendable, Codable, Equatable {
        public let threshold: Float
        public let perplexity: Double
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
    /// int8 perplexity at each threshold of the search grid.
    public let int8Curve: [Point]
    /// The highest grid threshold whose int8 perplexity stays within `tolerance` of fp32 (nil: none).
    public let suggestedThreshold: Float?
    public let tolerance: Double
    /// The share of all converted layers' input columns that run in fp16 at the suggested threshold:
    /// what it costs in LLM.int8 inference speed (set by the caller, who has the calibration).
    public var suggestedFp16ColumnShare: Double?

    public static let searchGrid: [Float] = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20]

    /// Runs 7 + grid forward passes; `skipModules` stay unquantized in every method.
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
        let plans: [ExportPlan?] = [nil, plan(.int8, threshold: threshold), plan(.int8, threshold: 0), plan(.nf4),
                                    plan(.nf4, doubleQuant: true), plan(.fp4), plan(.fp4, doubleQuant: true)]
            + searchGrid.map { plan(.int8, threshold: $0) }
        var results: [Double] = []
        for (index, plan) in plans.enumerated() {
            if isCancelled() { throw CancellationError() }
            progress(index, plans.count)
            results.append(try runtime.perplexity(tokens: tokens, plan: plan))
        }
        progress(plans.count, plans.count)
        let curve = zip(searchGrid, results[7...]).map { Point(threshold: $0, perplexity: $1) }
        let bound = results[0] * (1 + tolerance)
        return PerplexityReport(tokens: tokens.count, fp32: results[0], int8: results[1], int8Pure: results[2], nf4: results[3],
                                nf4DoubleQuant: results[4], fp4: results[5], fp4DoubleQuant: results[6], int8Curve: curve,
                                suggestedThreshold: curve.last { $0.perplexity <= bound }?.threshold, tolerance: tolerance)
    }
}
