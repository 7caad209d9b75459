import Foundation

/// Scaled dot-product attention over the rows of one chunk (row t is position t), every head at once:
///
///     out[t, head h] = Σ_j softmax_j(scale · q_h[t] · k_g[j] + mask(t, j)) · v_g[j],   g = h / (heads / kvHeads)
///
/// Grouped-query attention shares key/value head g among heads/kvHeads consecutive query heads, like
/// transformers' repeat_kv. The mask allows, for a decoder, keys j ≤ t and, with a sliding window w,
/// j > t − w (transformers' sliding_window_overlay); an encoder sees the whole chunk. q, k, v and the
/// output are views with their own row strides (GPT-2's fused c_attn output is read in place).
/// Queries go in blocks of `blockRows` so the score buffer stays blockRows × chunk, and a causal
/// block only multiplies with the keys it can see.
struct Attention {
    let heads: Int
    let keyValueHeads: Int
    let headSize: Int
    let scale: Float
    let causal: Bool
    let window: Int?

    static let blockRows = 128

    struct View {
        let values: UnsafePointer<Float>
        let stride: Int
    }

    /// `scores` must hold min(rows, blockRows) × rows values.
    func run(query: View, key: View, value: View, rows: Int, output: UnsafeMutablePointer<Float>, outputStride: Int,
             scores: UnsafeMutablePointer<Float>) {
        let group = heads / keyValueHeads
        for head in 0..<heads {
            let kvHead = head / group
            for first in stride(from: 0, to: rows, by: Self.blockRows) {
                let last = min(first + Self.blockRows, rows)
                let keys = keyRange(first: first, last: last, rows: rows)
                matrixMultiply(m: last - first, n: keys.count, k: headSize, alpha: scale,
                               a: query.values + first * query.stride + head * headSize, lda: query.stride,
                               b: key.values + keys.lowerBound * key.stride + kvHead * headSize, ldb: key.stride, transposeB: true,
                               beta: 0, c: scores, ldc: keys.count)
                for row in first..<last {
                    softmax(scores + (row - first) * keys.count, keys: keys, visible: visibleKeys(row, rows: rows))
                }
                matrixMultiply(m: last - first, n: headSize, k: keys.count,
                               a: scores, lda: keys.count,
                               b: value.values + keys.lowerBound * value.stride + kvHead * headSize, ldb: value.stride, transposeB: false,
                               beta: 0, c: output + first * outputStride + head * headSize, ldc: outputStride)
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
        var largest = -Float.infinity
        for j in from..<to { largest = max(largest, row[j]) }
        var sum: Float = 0
        for j in from..<to {
            let e = exp(row[j] - largest)
            row[j] = e
            sum += e
        }
        let inverse = 1 / sum
        for j in from..<to { row[j] *= inverse }
        for j in 0..<from { row[j] = 0 }
        for j in to..<keys.count { row[j] = 0 }
    }
}
