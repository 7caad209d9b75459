import Foundation

/// logits = h · Eᵀ for the output head E [vocab, hidden], loaded a slab of vocabulary rows at a time so
/// a large head (often the biggest matrix of a small model) is never decoded as a whole.
struct OutputHead {
    let tensor: TensorInfo
    let store: WeightStore
    /// Gemma's final soft cap: every logit z becomes tanh(z / cap) · cap.
    var softcap: Float? = nil
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
                capLogits(output.baseAddress! + first, rows: rows, columns: slab.shape[0], stride: vocabulary)
            }
            initialized = rows * vocabulary
        }
        return Matrix(rows: rows, columns: vocabulary, values: values)
    }

    /// Applies the soft cap, when there is one, to a rows × columns block of logits (transformers'
    /// `logits / cap`, `tanh`, `* cap`, in that order, in float32).
    private func capLogits(_ values: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int) {
        guard let softcap else { return }
        Parallel.forEach(rows, grain: 8) { part in
            for row in part {
                let z = values + row * stride
                for j in 0..<columns { z[j] = tanh(z[j] / softcap) * softcap }
            }
        }
    }

    /// −log softmax(logits[r])[targets[r]] for every row r, without holding all logits: each slab of
    /// the head updates a running max and sum of exponentials per row (log-sum-exp in Double).
    func negativeLogLikelihood(_ hidden: UnsafePointer<Float>, targets: [Int]) -> [Float] {
        score(hidden, targets: targets, reference: nil).map(\.negativeLogLikelihood)
    }

    /// The next-token distributions of `targets.count` rows, kept whole, and each row's −log p[target].
    func distributions(_ hidden: UnsafePointer<Float>, targets: [Int]) -> (NextTokenDistributions, [Float]) {
        var values = logits(hidden, rows: targets.count).values
        var negativeEntropy = [Double](repeating: 0, count: targets.count), mass = negativeEntropy
        var nll = [Float](repeating: 0, count: targets.count)
        let vocabulary = self.vocabulary
        values.withUnsafeMutableBufferPointer { values in
            negativeEntropy.withUnsafeMutableBufferPointer { negativeEntropy in
                mass.withUnsafeMutableBufferPointer { mass in
                    nll.withUnsafeMutableBufferPointer { nll in
                        Parallel.forEach(targets.count, grain: 8) { part in
                            for row in part {
                                let p = values.baseAddress! + row * vocabulary
                                var sums = RunningLogSumExp()
                                sums.add(p, count: vocabulary)
                                let logSum = sums.logSumExp
                                nll[row] = Float(logSum - Double(p[targets[row]]))
                                for j in 0..<vocabulary {
                                    let logP = Double(p[j]) - logSum
                                    p[j] = Float(exp(logP))
                                    negativeEntropy[row] += Double(p[j]) * logP
                                    mass[row] += Double(p[j])
                                }
                            }
                        }
                    }
                }
            }
        }
        return (NextTokenDistributions(vocabulary: vocabulary, probabilities: values, negativeEntropy: negativeEntropy, mass: mass), nll)
    }

    /// For every row r, with q_r = softmax(hidden_r·Eᵀ): −log q_r[targets[r]] and, against the same rows of
    /// `reference`, KL(p_r ‖ q_r) — a dot product of p_r with each slab of logits, no more exponentials.
    func score(_ hidden: UnsafePointer<Float>, targets: [Int], reference: NextTokenDistributions?) -> [NextTokenScore] {
        let rows = targets.count
        precondition(reference.map { $0.rows == rows && $0.vocabulary == vocabulary } ?? true, "the reference has other rows")
        let blockRows = max(1, min(rows, Self.scratchBytes / (slabRows * 4)))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * slabRows)
        let running = UnsafeMutablePointer<NextTokenAccumulator>.allocate(capacity: rows)
        running.initialize(repeating: NextTokenAccumulator(), count: rows)
        defer {
            scratch.deallocate()
            running.deallocate()
        }
        let probabilities = reference?.probabilities ?? []
        probabilities.withUnsafeBufferPointer { probabilities in
            for first in stride(from: 0, to: vocabulary, by: slabRows) {
                let slab = store.load(tensor, rows: first..<min(first + slabRows, vocabulary))
                let columns = slab.shape[0]
                for rowStart in stride(from: 0, to: rows, by: blockRows) {
                    let count = min(blockRows, rows - rowStart)
                    matrixMultiplyParallel(m: count, n: columns, k: width, a: hidden + rowStart * width, lda: width, b: slab.pointer,
                                           ldb: width, transposeB: true, beta: 0, c: scratch, ldc: columns)
                    capLogits(scratch, rows: count, columns: columns, stride: columns)
                    Parallel.forEach(count, grain: 8) { part in
                        for r in part {
                            let row = rowStart + r
                            let p = reference == nil ? nil : probabilities.baseAddress! + row * vocabulary + first
                            running[row].add(scratch + r * columns, reference: p, count: columns, first: first, target: targets[row])
                        }
                    }
                }
            }
        }
        return (0..<rows).map { row in
            running[row].score(negativeEntropy: reference?.negativeEntropy[row] ?? 0, mass: reference?.mass[row] ?? 0)
        }
    }
}

/// Next-token distributions kept to compare other passes with: rows × vocabulary probabilities in Float
/// (4 bytes each), and per row, in Double over those stored floats, Σ_j p_j log p_j (log p_j exact) and Σ_j p_j.
struct NextTokenDistributions: Sendable {
    let vocabulary: Int
    let probabilities: [Float]
    let negativeEntropy: [Double]
    let mass: [Double]

    var rows: Int { mass.count }
}

/// One position's prediction scored: its negative log-likelihood of the next token and, against a
/// reference prediction, KL(reference ‖ this) in nats (0 without a reference).
struct NextTokenScore: Equatable {
    var negativeLogLikelihood: Float
    var divergence: Double
}

/// One row's logits z folded in slab by slab, against a reference distribution p. With q = softmax(z):
///
///     KL(p ‖ q) = Σ_j p_j (log p_j − z_j + LSE(z)) = Σ_j p_j log p_j − Σ_j p_j z_j + LSE(z) · Σ_j p_j
///
/// The first and last sums are the reference's own (`NextTokenDistributions`); a pass adds Σ_j p_j z_j a
/// slab at a time. Summed in Double, this is the sum of p_j (log p_j − log q_j) over the stored p_j: the
/// rounding of p_j to Float scales terms that are differences of log-probabilities, not logits.
private struct NextTokenAccumulator {
    private var logits = RunningLogSumExp()
    private var target: Double = 0
    /// Σ_j p_j z_j over the slabs so far.
    private var expectedLogit: Double = 0

    /// Folds in entries first..<first+count (`p` the reference's probabilities of the same entries);
    /// `target` is the index of the next token in the whole vocabulary.
    mutating func add(_ z: UnsafePointer<Float>, reference p: UnsafePointer<Float>?, count: Int, first: Int, target index: Int) {
        logits.add(z, count: count)
        if index >= first && index < first + count { target = Double(z[index - first]) }
        guard let p else { return }
        var slab: Double = 0
        for j in 0..<count { slab += Double(p[j]) * Double(z[j]) }
        expectedLogit += slab
    }

    /// `negativeEntropy` = Σ_j p_j log p_j and `mass` = Σ_j p_j of the reference row (both 0 without one).
    func score(negativeEntropy: Double, mass: Double) -> NextTokenScore {
        NextTokenScore(negativeLogLikelihood: Float(logits.logSumExp - target),
                       divergence: mass > 0 ? negativeEntropy - expectedLogit + logits.logSumExp * mass : 0)
    }
}

/// log Σ e^x over the slabs seen so far.
private struct RunningLogSumExp {
    private(set) var largest = -Double.infinity
    private(set) var sum: Double = 0

    /// Folds in x[0..<count].
    mutating func add(_ x: UnsafePointer<Float>, count: Int) {
        var slabMax = -Float.infinity
        for j in 0..<count where x[j] > slabMax { slabMax = x[j] }
        let newMax = max(largest, Double(slabMax))
        var slabSum: Double = 0
        for j in 0..<count { slabSum += exp(Double(x[j]) - newMax) }
        sum = sum * exp(largest - newMax) + slabSum
        largest = newMax
    }

    var logSumExp: Double { largest + log(sum) }
}
