/// The activation side of one layer's report: what calibration saw at its input and what each method
/// does to its output there.
public struct LayerActivationReport: Sendable, Codable, Equatable {
    public struct OutlierCount: Sendable, Codable, Equatable {
        public let threshold: Float
        public let columns: Int
    }

    public struct Column: Sendable, Codable, Equatable {
        public let column: Int
        public let max: Float
    }

    public struct OutputErrors: Sendable, Codable, Equatable {
        public let sampleRows: Int
        /// int8 with the LLM.int8 decomposition at each threshold.
        public let thresholds: [Float]
        public let int8: [Double]
        public let int8Pure: Double
        public let nf4: Double
        public let nf4DoubleQuant: Double
        public let fp4: Double
        public let fp4DoubleQuant: Double
    }

    public let tokens: Int
    public let maxAbs: Float
    /// Outlier columns (any |fp16(x)| ≥ t) at a few thresholds, the report's threshold included.
    public let outlierColumns: [OutlierCount]
    /// The columns with the largest |x|, largest first.
    public let topColumns: [Column]
    public let rowAbsmaxMedian: Float
    public let rowAbsmaxMax: Float
    public let histogramFirstBin: Int
    public let histogram: [UInt64]
    public let outputErrors: OutputErrors?

    public static let reportedThresholds: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20]

    public init(_ statistics: ActivationStatistics, errors: ActivationErrors?, threshold: Float) {
        tokens = statistics.tokens
        maxAbs = statistics.columnMax.max() ?? 0
        let thresholds = (Self.reportedThresholds + [threshold]).reduce(into: [Float]()) { if !$0.contains($1) { $0.append($1) } }.sorted()
        outlierColumns = thresholds.map { OutlierCount(threshold: $0, columns: statistics.outlierColumns(atLeast: $0)) }
        topColumns = statistics.topColumns(16).map { Column(column: $0.column, max: $0.max) }
        let rows = statistics.rowMax.sorted()
        rowAbsmaxMedian = rows.isEmpty ? 0 : rows[rows.count / 2]
        rowAbsmaxMax = rows.last ?? 0
        let span = statistics.histogram.span
        histogramFirstBin = span.firstBin
        histogram = span.counts
        outputErrors = errors.map {
            OutputErrors(sampleRows: $0.sampleRows, thresholds: $0.thresholds, int8: $0.int8, int8Pure: $0.int8Pure,
                         nf4: $0.fourBit[.nf4] ?? .nan, nf4DoubleQuant: $0.fourBit[.nf4DoubleQuant] ?? .nan,
                         fp4: $0.fourBit[.fp4] ?? .nan, fp4DoubleQuant: $0.fourBit[.fp4DoubleQuant] ?? .nan)
        }
    }

    public func outlierColumns(at threshold: Float) -> Int? { outlierColumns.first { $0.threshold == threshold }?.columns }
}
