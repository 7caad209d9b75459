/// What the calibration pass saw entering one Linear layer: per input column the largest |x| over all
/// tokens and how many tokens reach each threshold of a small grid, a log-binned |x| histogram, per token
/// the largest |x|, and a few whole rows kept for error estimates. Outlier columns at any threshold come
/// from the sorted column maxima by binary search; the per-column token counts are what the LLM.int8
/// paper's outlier features need (`OutlierFeatures`) — a count per column per grid threshold, so memory
/// does not grow with the calibration text.
///
/// The LLM.int8 definition, as bitsandbytes applies it to fp16 activations: a column is an outlier
/// column when any of its values has |fp16(x)| ≥ fp16(threshold).
public struct ActivationStatistics: Sendable, Equatable {
    public let name: String
    public let features: Int
    public private(set) var tokens = 0
    /// max |x| per input column (Float32 as computed).
    public private(set) var columnMax: [Float]
    public private(set) var histogram = LogHistogram()
    /// max |x| per token, in token order.
    public private(set) var rowMax: [Float] = []
    /// Input rows kept for error estimates (every `sampleStride`-th token), row-major.
    public private(set) var sample: [Float] = []
    public private(set) var sampleRows = 0
    /// Column maxima rounded to fp16 and sorted ascending (set by `finish`).
    public private(set) var sortedColumnMax: [Float] = []
    /// The thresholds tokens are counted at, ascending.
    public let countedThresholds: [Float]
    /// Tokens per column with |fp16(x)| ≥ fp16(countedThresholds[k]), at `k * features + column`. While
    /// adding, a token is counted only at the highest threshold it reaches; `finish` accumulates.
    private var thresholdCounts: [UInt32]
    private let countLimits: [Float]

    /// The grid tokens are counted at unless a caller asks for another: the report's thresholds.
    public static let defaultCountedThresholds = LayerActivationReport.reportedThresholds

    public init(name: String, features: Int, countedThresholds: [Float] = defaultCountedThresholds) {
        self.name = name
        self.features = features
        columnMax = [Float](repeating: 0, count: features)
        self.countedThresholds = Array(Set(countedThresholds.filter { $0 > 0 })).sorted()
        countLimits = self.countedThresholds.map { Float(Float16($0)) }
        thresholdCounts = [UInt32](repeating: 0, count: features * self.countedThresholds.count)
    }

    /// Adds the rows of one forward-pass chunk; rows whose token index is a multiple of `sampleStride`
    /// are kept, up to `sampleLimit` rows.
    public mutating func add(rows: UnsafeBufferPointer<Float>, count: Int, firstToken: Int, sampleStride: Int, sampleLimit: Int) {
        precondition(rows.count == count * features)
        // fp16 rounding never lifts a value by more than a part in 2048: below this it cannot reach a limit.
        let lowest = (countLimits.first ?? .infinity) * (1 - 1.0 / 1024)
        let limits = countLimits
        columnMax.withUnsafeMutableBufferPointer { columnMax in
            thresholdCounts.withUnsafeMutableBufferPointer { counts in
                for row in 0..<count {
                    var largest: Float = 0
                    let base = row * features
                    for column in 0..<features {
                        let magnitude = abs(rows[base + column])
                        if magnitude > columnMax[column] { columnMax[column] = magnitude }
                        if magnitude > largest { largest = magnitude }
                        histogram.add(rows[base + column])
                        if magnitude >= lowest {
                            let rounded = Float(Float16(magnitude))
                            var reached = 0
                            while reached < limits.count && rounded >= limits[reached] { reached += 1 }
                            if reached > 0 { counts[(reached - 1) * features + column] += 1 }
                        }
                    }
                    rowMax.append(largest)
                    if (firstToken + row) % sampleStride == 0 && sampleRows < sampleLimit {
                        sample.append(contentsOf: rows[base..<(base + features)])
                        sampleRows += 1
                    }
                }
            }
        }
        tokens += count
    }

    /// Call once, after the last `add`.
    public mutating func finish() {
        sortedColumnMax = columnMax.map { Float(Float16($0)) }.sorted()
        for k in stride(from: countedThresholds.count - 2, through: 0, by: -1) {
            for column in 0..<features { thresholdCounts[k * features + column] += thresholdCounts[(k + 1) * features + column] }
        }
    }

    /// The largest counted threshold at or below `threshold` (nil: below the whole grid).
    public func countedThreshold(atMost threshold: Float) -> Float? { countedThresholds.last { $0 <= threshold } }

    /// Per column, in column order, the tokens with |fp16(x)| ≥ fp16(threshold), for a counted threshold
    /// (nil for any other).
    public func tokenCounts(atLeast threshold: Float) -> ArraySlice<UInt32>? {
        guard let k = countedThresholds.firstIndex(of: threshold) else { return nil }
        return thresholdCounts[(k * features)..<((k + 1) * features)]
    }

    /// Columns with any |fp16(x)| ≥ fp16(threshold). A threshold of 0 disables the decomposition: none.
    public func outlierColumns(atLeast threshold: Float) -> Int {
        guard threshold > 0 else { return 0 }
        let limit = Float(Float16(threshold))
        var low = 0, high = sortedColumnMax.count
        while low < high {
            let middle = (low + high) / 2
            if sortedColumnMax[middle] < limit { low = middle + 1 } else { high = middle }
        }
        return sortedColumnMax.count - low
    }

    /// The largest column maxima with their columns, largest first.
    public func topColumns(_ count: Int) -> [(column: Int, max: Float)] {
        columnMax.enumerated().sorted { $0.element > $1.element }.prefix(count).map { ($0.offset, $0.element) }
    }
}
