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

        public init(_ errors: ActivationErrors) {
            sampleRows = errors.sampleRows
            thresholds = errors.thresholds
            int8 = errors.int8
            int8Pure = errors.int8Pure
            nf4 = errors.fourBit[.nf4] ?? .nan
            nf4DoubleQuant = errors.fourBit[.nf4DoubleQuant] ?? .nan
            fp4 = errors.fourBit[.fp4] ?? .nan
            fp4DoubleQuant = errors.fourBit[.fp4DoubleQuant] ?? .nan
        }

        /// The int8 error at a threshold from the grid: exact on a grid point, else the nearest point
        /// below (not exact), with the threshold it was measured at.
        public func int8Error(at threshold: Float) -> (value: Double, exact: Bool, measuredAt: Float) {
            guard threshold > 0 else { return (int8Pure, true, 0) }
            guard let index = thresholds.lastIndex(where: { $0 <= threshold }) else { return (int8[0], false, thresholds[0]) }
            return (int8[index], thresholds[index] == threshold, thresholds[index])
        }
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
        outputErrors = errors.map(OutputErrors.init)
    }

    public func outlierColumns(at threshold: Float) -> Int? { outlierColumns.first { $0.threshold == threshold }?.columns }
}
