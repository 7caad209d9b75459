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
        score(hidden, targets: targets, reference: nil).map(\.negativeLogLikelihood)
    }

    /// For every row r, with q_r = softmax(hidden_r·Eᵀ): −log q_r[targets[r]], and against the same rows of
    /// `reference` hidden states (p_r = softmax(reference_r·Eᵀ)) KL(p_r ‖ q_r).
    /// The reference logits are recomputed slab by slab beside the pass's own, so nothing the size of
    /// rows × vocabulary is held: the cost is a second product with each slab (and a second scratch block).
    func score(_ hidden: UnsafePointer<Float>, targets: [Int], reference: UnsafePointer<Float>?) -> [NextTokenScore] {
        let rows = targets.count
        let blockRows = max(1, min(rows, Self.scratchBytes / (slabRows * 4)))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * slabRows)
        let referenceScratch = UnsafeMutablePointer<Float>.allocate(capacity: reference == nil ? 0 : blockRows * slabRows)
        let running = UnsafeMutablePointer<NextTokenAccumulator>.allocate(capacity: rows)
        running.initialize(repeating: NextTokenAccumulator(), count: rows)
        defer {
            scratch.deallocate()
            referenceScratch.deallocate()
            running.deallocate()
        }
        for first in stride(from: 0, to: vocabulary, by: slabRows) {
            let slab = store.load(tensor, rows: first..<min(first + slabRows, vocabulary))
            let columns = slab.shape[0]
            for rowStart in stride(from: 0, to: rows, by: blockRows) {
                let count = min(blockRows, rows - rowStart)
                matrixMultiplyParallel(m: count, n: columns, k: width, a: hidden + rowStart * width, lda: width, b: slab.pointer,
                                       ldb: width, transposeB: true, beta: 0, c: scratch, ldc: columns)
                if let reference {
                    matrixMultiplyParallel(m: count, n: columns, k: width, a: reference + rowStart * width, lda: width,
                                           b: slab.pointer, ldb: width, transposeB: true, beta: 0, c: referenceScratch, ldc: columns)
                }
                Parallel.forEach(count, grain: 8) { part in
                    for r in part {
                        let row = rowStart + r
                        running[row].add(scratch + r * columns, reference: reference == nil ? nil : referenceScratch + r * columns,
                                         count: columns, first: first, target: targets[row])
                    }
                }
            }
        }
        return (0..<rows).map { running[$0].score }
    }
}

/// One position's prediction scored: its negative log-likelihood of the next token and, against a
/// reference prediction, KL(reference ‖ this) in nats (0 without a reference).
struct NextTokenScore: Equatable {
    var negativeLogLikelihood: Float
    var divergence: Double
}

/// One row's logits z (and a reference's a) folded in slab by slab. With q = softmax(z), p = softmax(a):
///
///     KL(p ‖ q) = Σ_j p_j (log p_j − log q_j) = Σ_j p_j (a_j − z_j) − (LSE(a) − LSE(z))
///
/// where Σ_j p_j (a_j − z_j) = Σ_j e^(a_j − M)(a_j − z_j) / Σ_j e^(a_j − M) for the running max M of a;
/// both sums are rescaled when M grows, as the log-sum-exps are. Sums in Double.
struct NextTokenAccumulator {
    private var logits = RunningLogSumExp()
    private var target: Double = 0
    private var reference = RunningLogSumExp()
    /// Σ e^(a_j − reference.largest) (a_j − z_j) over the slabs so far.
    private var weightedDifference: Double = 0

    /// Folds in entries first..<first+count; `target` is the index of the next token in the whole vocabulary.
    mutating func add(_ z: UnsafePointer<Float>, reference a: UnsafePointer<Float>?, count: Int, first: Int, target index: Int) {
        logits.add(z, count: count)
        if index >= first && index < first + count { target = Double(z[index - first]) }
        guard let a else { return }
        let scale = reference.add(a, count: count)
        var slabDifference: Double = 0
        for j in 0..<count { slabDifference += exp(Double(a[j]) - reference.largest) * Double(a[j] - z[j]) }
        weightedDifference = weightedDifference * scale + slabDifference
    }

    var score: NextTokenScore {
        let divergence = reference.sum > 0 ? weightedDifference / reference.sum - (reference.logSumExp - logits.logSumExp) : 0
        return NextTokenScore(negativeLogLikelihood: Float(logits.logSumExp - target), divergence: divergence)
    }
}

/// log Σ e^x over the slabs seen so far.
struct RunningLogSumExp {
    private(set) var largest = -Double.infinity
    private(set) var sum: Double = 0

    /// Folds in x[0..<count]. Returns the factor earlier sums were multiplied by (e^(old max − new max)),
    /// for sums weighted alike to follow.
    @discardableResult
    mutating func add(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var slabMax = -Float.infinity
        for j in 0..<count where x[j] > slabMax { slabMax = x[j] }
        let newMax = max(largest, Double(slabMax))
        var slabSum: Double = 0
        for j in 0..<count { slabSum += exp(Double(x[j]) - newMax) }
        let scale = exp(largest - newMax)
        sum = sum * scale + slabSum
        largest = newMax
        return scale
    }

    var logSumExp: Double { largest + log(sum) }
}
