/// What the calibration pass saw entering one Linear layer: per input column the largest |x| over all
/// tokens, a log-binned |x| histogram, per token the largest |x|, and a few whole rows kept for error
/// estimates. Outlier columns at any threshold come from the sorted column maxima by binary search.
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

    public init(name: String, features: Int) {
        self.name = name
        self.features = features
        columnMax = [Float](repeating: 0, count: features)
    }

    /// Adds the rows of one forward-pass chunk; rows whose token index is a multiple of `sampleStride`
    /// are kept, up to `sampleLimit` rows.
    public mutating func add(rows: UnsafeBufferPointer<Float>, count: Int, firstToken: Int, sampleStride: Int, sampleLimit: Int) {
        precondition(rows.count == count * features)
        columnMax.withUnsafeMutableBufferPointer { columnMax in
            for row in 0..<count {
                var largest: Float = 0
                let base = row * features
                for column in 0..<features {
                    let magnitude = abs(rows[base + column])
                    if magnitude > columnMax[column] { columnMax[column] = magnitude }
                    if magnitude > largest { largest = magnitude }
                    histogram.add(rows[base + column])
                }
                rowMax.append(largest)
                if (firstToken + row) % sampleStride == 0 && sampleRows < sampleLimit {
                    sample.append(contentsOf: rows[base..<(base + features)])
                    sampleRows += 1
                }
            }
        }
        tokens += count
    }

    public mutating func finish() {
        sortedColumnMax = columnMax.map { Float(Float16($0)) }.sorted()
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
