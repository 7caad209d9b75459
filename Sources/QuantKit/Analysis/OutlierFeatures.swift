/// Systematic outlier features as Dettmers et al. 2022 (LLM.int8(), section 4.1) define them: a hidden
/// dimension whose magnitude reaches the threshold (6) in at least 25 % of the layers and at least 6 % of
/// the sequence positions, looking only at the hidden states entering the attention projections and the
/// MLP's first projection (`HiddenStateInputs`).
///
/// How the paper's words are counted here (and by scripts/tools/outlier_features_reference.py):
/// - "reaches": |fp16(x)| ≥ fp16(threshold), the rule bitsandbytes applies to its fp16 activations
///   (the same rule as the explorer's outlier columns).
/// - "layers" are transformer blocks. A dimension appears in a block when it reaches the threshold for at
///   least one token at either of the block's counted inputs. layer share = blocks where it appears ÷
///   blocks with a counted input.
/// - "sequence positions" are pooled over every counted input: token share = (input, token) pairs where
///   the dimension reaches the threshold ÷ (counted inputs × calibration tokens).
/// - A dimension qualifies when layer share ≥ 25 % and token share ≥ 6 % (both inclusive).
public struct OutlierFeatures: Sendable, Codable, Equatable {
    public struct Feature: Sendable, Codable, Equatable {
        /// The hidden dimension (input column).
        public let dimension: Int
        /// Its largest |x| over every counted input.
        public let maxAbs: Float
        public let layerShare: Double
        public let tokenShare: Double
        /// The blocks where it reaches the threshold, ascending.
        public let layers: [Int]
        /// The (input, token) pairs where it reaches the threshold: the token share's numerator.
        public let tokenHits: Int
    }

    /// The threshold the counts are at: a counted one (the report's threshold in `qtui scan`; in the
    /// explorer, the grid point at or below its threshold).
    public let threshold: Float
    public let minimumLayerShare: Double
    public let minimumTokenShare: Double
    public let hiddenSize: Int
    /// Blocks with a counted input (the layer share's denominator).
    public let blocks: Int
    /// The inputs counted (two a block in most models): those with statistics.
    public let countedInputs: [HiddenStateInputs.Input]
    /// Calibration tokens over all counted inputs (the token share's denominator).
    public let positions: Int
    /// The qualifying dimensions, ascending.
    public let features: [Feature]

    public static let paperThreshold: Float = 6
    public static let paperLayerShare = 0.25
    public static let paperTokenShare = 0.06

    /// Nil when no counted input has statistics or `threshold` is below every counted threshold.
    public init?(inputs: HiddenStateInputs, statistics: (String) -> ActivationStatistics?, threshold: Float = paperThreshold,
                 minimumLayerShare: Double = paperLayerShare, minimumTokenShare: Double = paperTokenShare) {
        let seen = inputs.inputs.compactMap { input -> (input: HiddenStateInputs.Input, statistics: ActivationStatistics)? in
            guard let first = input.layers.lazy.compactMap(statistics).first, first.features == inputs.hiddenSize else { return nil }
            return (input, first)
        }
        guard threshold > 0, let counted = seen.first?.statistics.countedThreshold(atMost: threshold) else { return nil }
        let blocks = Array(Set(seen.map(\.input.block))).sorted()
        var hits = [Int](repeating: 0, count: inputs.hiddenSize)
        var maxima = [Float](repeating: 0, count: inputs.hiddenSize)
        // Inputs come in block order, so a block is new to a dimension when it differs from its last one.
        var appearsIn = [[Int]](repeating: [], count: inputs.hiddenSize)
        for (input, statistics) in seen {
            guard let counts = statistics.tokenCounts(atLeast: counted) else { continue }
            for dimension in 0..<inputs.hiddenSize {
                let count = Int(counts[counts.startIndex + dimension])
                hits[dimension] += count
                if count > 0 && appearsIn[dimension].last != input.block { appearsIn[dimension].append(input.block) }
                maxima[dimension] = max(maxima[dimension], statistics.columnMax[dimension])
            }
        }
        let positions = seen.reduce(0) { $0 + $1.statistics.tokens }
        self.threshold = counted
        self.minimumLayerShare = minimumLayerShare
        self.minimumTokenShare = minimumTokenShare
        hiddenSize = inputs.hiddenSize
        self.blocks = blocks.count
        countedInputs = seen.map(\.input)
        self.positions = positions
        features = (0..<inputs.hiddenSize).compactMap { dimension in
            let layerShare = Double(appearsIn[dimension].count) / Double(max(blocks.count, 1))
            let tokenShare = Double(hits[dimension]) / Double(max(positions, 1))
            guard hits[dimension] > 0, layerShare >= minimumLayerShare, tokenShare >= minimumTokenShare else { return nil }
            return Feature(dimension: dimension, maxAbs: maxima[dimension], layerShare: layerShare, tokenShare: tokenShare,
                           layers: appearsIn[dimension], tokenHits: hits[dimension])
        }
    }
}
