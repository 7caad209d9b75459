import Foundation

/// Causal attention with ALiBi position biases as transformers' Falcon (Falcon-RW) runs it through sdpa,
/// its default and the one its quantized loads use:
///
///     out[t, h] = Σ_{j ≤ t} softmax_j(q_h[t]·k_h[j] / √d + alibi[h, j] / √d) · v_h[j]
///     alibi[h, j] = bf16(bf16(slope_h) · j)          (build_alibi_tensor multiplies in bfloat16)
///
/// The bias depends on the key position only (the same shift for a whole row would cancel in the
/// softmax; a per-key one tilts it toward recent keys). transformers' eager Falcon path adds the bias twice
/// (once in its scores, once in the mask it builds from it); sdpa, which it runs by default, once.
/// Key/value heads are shared by heads / keyValueHeads consecutive query heads (Falcon-RW has one per
/// head). Heads run in parallel, queries in blocks of up to 128 rows against the keys they can see.
struct AlibiAttention {
    let heads: Int
    let keyValueHeads: Int
    let headSize: Int

    /// build_alibi_tensor's slopes: for the largest power of two n ≤ heads, base^1…base^n with base =
    /// 2^(-2^-(log2 n - 3)); the remaining heads take every other power of the base for 2n — computed in
    /// float32 as torch.pow does, then rounded to bfloat16.
    var slopes: [Float] {
        let power = 1 << Int(log2(Double(heads)))
        func base(_ n: Int) -> Float { Float(pow(2.0, -pow(2.0, -(log2(Double(n)) - 3)))) }
        var slopes = (1...power).map { pow(base(power), Float($0)) }
        if power != heads {
            let extra = base(2 * power)
            slopes += stride(from: 1, through: 2 * min(power, heads - power) - 1, by: 2).map { pow(extra, Float($0)) }
        }
        return slopes.map(Self.bfloat16)
    }

    /// Round to nearest even at bfloat16's 8 significant bits (finite values only; these are).
    static func bfloat16(_ value: Float) -> Float {
        let bits = value.bitPattern
        return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
    }

    static let blockRows = 128

    /// q and the output are rows × (heads × headSize), k and v rows × (keyValueHeads × headSize), packed;
    /// `scores` holds
    /// `scoreCapacity(rows:)` floats.
    func run(query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>, rows: Int,
             output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
        let width = heads * headSize, keyValueWidth = keyValueHeads * headSize, group = heads / keyValueHeads, root = Float(Double(headSize).squareRoot()), scale = 1 / root
        let slopes = self.slopes
        Parallel.forEach(heads, grain: 1) { part in
            for head in part {
                let bias = (0..<rows).map { Self.bfloat16(slopes[head] * Float($0)) / root }
                let headScores = scores + head * Self.blockRows * rows
                for first in stride(from: 0, to: rows, by: Self.blockRows) {
                    let last = min(first + Self.blockRows, rows), count = last - first
                    matrixMultiply(m: count, n: last, k: headSize, alpha: scale, a: query + first * width + head * headSize, lda: width,
                                   b: key + head / group * headSize, ldb: keyValueWidth, transposeB: true, beta: 0, c: headScores, ldc: last)
                    for row in first..<last {
                        let scoresRow = headScores + (row - first) * last
                        for j in 0...row { scoresRow[j] += bias[j] }
                        VectorMath.softmax(scoresRow, count: row + 1)
                        (scoresRow + row + 1).update(repeating: 0, count: last - row - 1)
                    }
                    matrixMultiply(m: count, n: headSize, k: last, a: headScores, lda: last, b: value + head / group * headSize, ldb: keyValueWidth,
                                   transposeB: false, beta: 0, c: output + first * width + head * headSize, ldc: width)
                }
            }
        }
    }

    func scoreCapacity(rows: Int) -> Int { heads * Self.blockRows * max(rows, 1) }
}
