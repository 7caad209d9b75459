import Foundation

/// Scaled dot-product attention over the rows of one chunk (row t is position t), every head at once:
///
///     out[t, head h] = Σ_j softmax_j(scale · q_h[t] · k_g[j] + mask(t, j)) · v_g[j],   g = h / (heads / kvHeads)
///
/// Grouped-query attention shares key/value head g among heads/kvHeads consecutive query heads, like
/// transformers' repeat_kv. The mask allows, for a decoder, keys j ≤ t and, with a sliding window w,
/// j > t − w (transformers' sliding_window_overlay); an encoder sees the whole chunk. q, k, v and the
/// output are views with their own row strides (GPT-2's fused c_attn output is read in place).
///
/// Queries go in blocks of `blockRows(rows:)`; within a block the heads run in parallel, each as one
/// product q·kᵀ, the masked softmax of its rows and one product with v. A causal block only multiplies
/// with the keys it can see.
struct Attention {
    let heads: Int
    let keyValueHeads: Int
    let headSize: Int
    let scale: Float
    let causal: Bool
    let window: Int?
    /// Gemma 2: scaled scores become tanh(s / cap) · cap before the softmax.
    var softcap: Float? = nil

    /// Score values held at once (heads × block rows × keys), 32 MB.
    static let scoreBudget = 8 << 20

    /// Query rows per block: 128 when the scores fit the budget, fewer (at least 16) for long chunks.
    func blockRows(rows: Int) -> Int { max(16, min(128, rows, Self.scoreBudget / max(heads * rows, 1))) }

    /// Floats `scores` must hold for a chunk of `rows`.
    func scoreCapacity(rows: Int) -> Int { heads * blockRows(rows: rows) * rows }

    struct View {
        let values: UnsafePointer<Float>
        let stride: Int
    }

    func run(query: View, key: View, value: View, rows: Int, output: UnsafeMutablePointer<Float>, outputStride: Int,
             scores: UnsafeMutablePointer<Float>) {
        let group = heads / keyValueHeads, block = blockRows(rows: rows)
        for first in stride(from: 0, to: rows, by: block) {
            let last = min(first + block, rows), count = last - first
            let keys = keyRange(first: first, last: last, rows: rows)
            let span = keys.count
            Parallel.forEach(heads, grain: 1) { part in
                for head in part {
                    let headScores = scores + head * count * span
                    matrixMultiply(m: count, n: span, k: headSize, alpha: scale,
                                   a: query.values + first * query.stride + head * headSize, lda: query.stride,
                                   b: key.values + keys.lowerBound * key.stride + head / group * headSize, ldb: key.stride,
                                   transposeB: true, beta: 0, c: headScores, ldc: span)
                    if let softcap {
                        for i in 0..<count * span { headScores[i] = tanh(headScores[i] / softcap) * softcap }
                    }
                    for row in first..<last {
                        softmax(headScores + (row - first) * span, keys: keys, visible: visibleKeys(row, rows: rows))
                    }
                    matrixMultiply(m: count, n: headSize, k: span, a: headScores, lda: span,
                                   b: value.values + keys.lowerBound * value.stride + head / group * headSize, ldb: value.stride,
                                   transposeB: false, beta: 0, c: output + first * outputStride + head * headSize, ldc: outputStride)
                }
            }
        }
    }

    /// Keys some query in rows first..<last may see.
    func keyRange(first: Int, last: Int, rows: Int) -> Range<Int> {
        guard causal else { return 0..<rows }
        return max(0, first - (window ?? first + 1) + 1)..<last
    }

    /// Keys query `row` sees.
    func visibleKeys(_ row: Int, rows: Int) -> Range<Int> {
        guard causal else { return 0..<rows }
        return max(0, row - (window ?? row + 1) + 1)..<(row + 1)
    }

    /// Softmax over the visible part of one score row (which covers `keys`); the rest becomes 0.
    private func softmax(_ row: UnsafeMutablePointer<Float>, keys: Range<Int>, visible: Range<Int>) {
        let from = visible.lowerBound - keys.lowerBound, to = visible.upperBound - keys.lowerBound
        VectorMath.softmax(row + from, count: to - from)
        row.update(repeating: 0, count: from)
        (row + to).update(repeating: 0, count: keys.count - to)
    }
}

extension Attention {
    /// Block `index`'s attention as the model describes it: its heads, key/value heads and scale.
    init(_ d: ModelDescription, block index: Int, causal: Bool, window: Int? = nil) {
        self.init(heads: d.headCount, keyValueHeads: d.keyValueHeadCount, headSize: d.headSize, scale: d.attentionScales[index],
                  causal: causal, window: window)
    }

    /// `run` with the scores in the run's scratch.
    func run(query: View, key: View, value: View, rows: Int, output: UnsafeMutablePointer<Float>, outputStride: Int,
             in run: RunContext) {
        self.run(query: query, key: key, value: value, rows: rows, output: output, outputStride: outputStride,
                 scores: run.scratch("scores", count: scoreCapacity(rows: rows)))
    }
}
