/// A row-major matrix of Float: the runtime's outputs (logits: tokens × vocabulary; BERT's hidden
/// states: tokens × hidden size).
public struct Matrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public var values: [Float]

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns)
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public subscript(row: Int) -> ArraySlice<Float> { values[(row * columns)..<((row + 1) * columns)] }

    /// Index of the largest value of each row (the first one on ties).
    public var argmaxPerRow: [Int] {
        (0..<rows).map { row in
            let values = self[row]
            var best = values.startIndex
            for index in values.indices where values[index] > values[best] { best = index }
            return best - values.startIndex
        }
    }
}
