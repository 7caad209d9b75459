/// Summary statistics of one weight (as Float, NaNs excluded from sums, min and max).
public struct WeightStatistics: Sendable, Codable, Equatable {
    public let count: Int
    public let min: Float
    public let max: Float
    public let mean: Double
    public let std: Double
    /// Σ w² (NaNs excluded): combines relative errors of several layers into one.
    public let sumOfSquares: Double
    public let nanCount: Int
    public let infCount: Int
    /// Spread of int8's per-row scale (max |w| of each output row): a wide spread costs int8 precision.
    public let rowAbsmaxMin: Float
    public let rowAbsmaxMedian: Float
    public let rowAbsmaxMax: Float
}

/// What one storage method does to one weight: error against the original values and exact bytes.
public struct MethodResult: Sendable, Codable, Equatable {
    public let method: QuantMethod
    public let bytes: Int
    /// ‖D − W‖_F / ‖W‖_F with D the dequantized weight.
    public let relativeError: Double
    public let rmse: Double
    public let maxAbsError: Double
    /// 10·log10(ΣW² / Σ(D − W)²); infinite when the method is exact.
    public let snrDB: Double
}

/// The weight-only analysis of one Linear layer.
public struct LayerReport: Sendable, Codable, Equatable {
    public let name: String
    public let tensor: String
    public let outFeatures: Int
    public let inFeatures: Int
    public let dtype: DType
    public let transposedInFile: Bool
    public let bytes: Int
    public let statistics: WeightStatistics
    public let methods: [MethodResult]
    /// The double-quant offset (torch's float32 mean of the 4-bit absmax) at the report's blocksize:
    /// its digits set the length of the quant_state JSON an export writes.
    public let nestedOffset: Float
    public let histogramFirstBin: Int
    public let histogram: [UInt64]
    /// What calibration saw at this layer's input; nil in a weight-only report.
    public var activations: LayerActivationReport?

    public func result(for method: QuantMethod) -> MethodResult? { methods.first { $0.method == method } }

    /// The full-range histogram back from its stored span.
    public var fullHistogram: LogHistogram {
        var counts = [UInt64](repeating: 0, count: LogHistogram.binCount)
        for (offset, count) in histogram.enumerated() { counts[histogramFirstBin + offset] = count }
        return LogHistogram(counts: counts)
    }
}
