import Foundation

/// logits = h · Eᵀ for the output head E [vocab, hidden], loaded a slab of vocabulary rows at a time so
/// a large head (often the biggest matrix of a small model) is never decoded as a whole.
struct OutputHead {
    let tensor: TensorInfo
    let store: WeightStore
    /// Bytes of one slab of head rows (at least one row).
    var slabBytes = 16 << 20
    /// Scratch logits of the perplexity path (token rows × slab rows).
    static let scratchBytes = 32 << 20

    var vocabulary: Int { tensor.shape[0] }
    var width: Int { tensor.shape[1] }
    private var slabRows: Int { max(1, min(vocabulary, slabBytes / (width * 4))) }

    /// All logits, rows × vocabulary.
    func logits(_ hidden: UnsafePointer<Float>, rows: Int) -> Matrix {
        // Every value is written by a product with beta 0, so the array need not be zeroed first.
        let values = [Float](unsafeUninitializedCapacity: rows * vocabulary) { output, initialized in
            for first in stride(from: 0, to: vocabulary, by: slabRows) {
                let slab = store.load(tensor, rows: first..<min(first + slabRows, vocabulary))
                matrixMultiplyParallel(m: rows, n: slab.shape[0], k: width, a: hidden, lda: width, b: slab.pointer, ldb: width,
                                       transposeB: true, beta: 0, c: output.baseAddress! + first, ldc: vocabulary)
            }
            initialized = rows * vocabulary
        }
        return Matrix(rows: rows, columns: vocabulary, values: values)
    }

    /// −log softmax(logits[r])[targets[r]] for every row r, without holding all logits: each slab of
    /// the head updates a running max and sum of exponentials per row (log-sum-exp in Double).
    func negativeLogLikelihood(_ hidden: UnsafePointer<Float>, targets: [Int]) -> [Float] {
        let rows = targets.count
        let blockRows = max(1, min(rows, Self.scratchBytes / (slabRows * 4)))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * slabRows)
        let running = UnsafeMutablePointer<RunningLogSumExp>.allocate(capacity: rows)
        running.initialize(repeating: RunningLogSumExp(), count: rows)
        defer {
            scratch.deallocate()
            running.deallocate()
        }
        for first in stride(from: 0, to: vocabulary, by: slabRows) {
            let slab = store.load(tensor, rows: first..<min(first + slabRows, vocabulary))
            let columns = slab.shape[0]
            for rowStart in stride(from: 0, to: rows, by: blockRows) {
                let count = min(blockRows, rows - rowStart)
                matrixMultiplyParallel(m: count, n: columns, k: width, a: hidden + rowStart * width, lda: width, b: slab.pointer,
                                       ldb: width, transposeB: true, beta: 0, c: scratch, ldc: columns)
                Parallel.forEach(count, grain: 8) { part in
                    for r in part {
                        let row = rowStart + r
                        running[row].add(scratch + r * columns, count: columns, target: targets[row] - first)
                    }
                }
            }
        }
        return (0..<rows).map { running[$0].negativeLogLikelihood }
    }
}

/// log Σ e^logit over the slabs seen so far, and the target's logit once its slab came by.
private struct RunningLogSumExp {
    var largest = -Double.infinity
    var sum: Double = 0
    var target: Double = 0

    /// Folds in one slab of logits; `target` is the target's index within it (may be outside).
    mutating func add(_ logits: UnsafePointer<Float>, count: Int, target index: Int) {
        var slabMax = -Float.infinity
        for j in 0..<count where logits[j] > slabMax { slabMax = logits[j] }
        let newMax = max(largest, Double(slabMax))
        var slabSum: Double = 0
        for j in 0..<count { slabSum += exp(Double(logits[j]) - newMax) }
        sum = sum * exp(largest - newMax) + slabSum
        largest = newMax
        if index >= 0 && index < count { target = Double(logits[index]) }
    }

    var negativeLogLikelihood: Float { Float(largest + log(sum) - target) }
}
