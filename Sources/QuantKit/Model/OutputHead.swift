import Foundation

/// logits = h · Eᵀ for the output head E [vocab, hidden], decoded a slab of vocabulary rows at a time so
/// a large head (often the biggest matrix of a small model) never sits decoded as a whole.
struct OutputHead {
    let tensor: TensorInfo
    let store: WeightStore
    /// Decoded bytes of one slab of head rows (at least one row).
    var slabBytes = 16 << 20
    /// Scratch logits of the perplexity path (token rows × slab rows).
    static let scratchBytes = 32 << 20

    var vocabulary: Int { tensor.shape[0] }
    var width: Int { tensor.shape[1] }
    private var slabRows: Int { max(1, min(vocabulary, slabBytes / (width * 4))) }

    /// All logits, rows × vocabulary.
    func logits(_ hidden: UnsafePointer<Float>, rows: Int) -> Matrix {
        var values = [Float](repeating: 0, count: rows * vocabulary)
        values.withUnsafeMutableBufferPointer { output in
            for first in stride(from: 0, to: vocabulary, by: slabRows) {
                let slab = store.decode(tensor, rows: first..<min(first + slabRows, vocabulary))
                matrixMultiply(m: rows, n: slab.shape[0], k: width, a: hidden, lda: width, b: slab.pointer, ldb: width,
                               transposeB: true, beta: 0, c: output.baseAddress! + first, ldc: vocabulary)
            }
        }
        return Matrix(rows: rows, columns: vocabulary, values: values)
    }

    /// −log softmax(logits[r])[targets[r]] for every row r, without holding all logits: each slab of
    /// the head updates a running max and sum of exponentials per row (log-sum-exp in Double).
    func negativeLogLikelihood(_ hidden: UnsafePointer<Float>, targets: [Int]) -> [Float] {
        let rows = targets.count
        var largest = [Double](repeating: -.infinity, count: rows)
        var sums = [Double](repeating: 0, count: rows)
        var targetLogits = [Double](repeating: 0, count: rows)
        let blockRows = max(1, min(rows, Self.scratchBytes / (slabRows * 4)))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * slabRows)
        defer { scratch.deallocate() }
        for first in stride(from: 0, to: vocabulary, by: slabRows) {
            let slab = store.decode(tensor, rows: first..<min(first + slabRows, vocabulary))
            let columns = slab.shape[0]
            for rowStart in stride(from: 0, to: rows, by: blockRows) {
                let count = min(blockRows, rows - rowStart)
                matrixMultiply(m: count, n: columns, k: width, a: hidden + rowStart * width, lda: width, b: slab.pointer, ldb: width,
                               transposeB: true, beta: 0, c: scratch, ldc: columns)
                for r in 0..<count {
                    let row = rowStart + r, logits = scratch + r * columns
                    var slabMax = -Float.infinity
                    for j in 0..<columns { slabMax = max(slabMax, logits[j]) }
                    let newMax = max(largest[row], Double(slabMax))
                    var sum: Double = 0
                    for j in 0..<columns { sum += exp(Double(logits[j]) - newMax) }
                    sums[row] = sums[row] * exp(largest[row] - newMax) + sum
                    largest[row] = newMax
                    let target = targets[row] - first
                    if target >= 0 && target < columns { targetLogits[row] = Double(logits[target]) }
                }
            }
        }
        return (0..<rows).map { Float(largest[$0] + log(sums[$0]) - targetLogits[$0]) }
    }
}
