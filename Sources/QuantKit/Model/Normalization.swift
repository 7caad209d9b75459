import Foundation

/// The two normalizations of the supported models, row by row over `width` values, output possibly in
/// place, rows spread over the cores. Means are accumulated in Double; the rest is Float like
/// transformers' float32 path.
enum Normalization {
    /// y = w · x / √(mean(x²) + ε) — LlamaRMSNorm (also qwen3's per-head q/k norm, with width = head size).
    static func rms(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, rows: Int, width: Int,
                    weight: UnsafePointer<Float>, epsilon: Float) {
        Parallel.forEach(rows, grain: 16) { part in
            for row in part {
                let x = input + row * width, y = output + row * width
                var squares: Double = 0
                for i in 0..<width { squares += Double(x[i] * x[i]) }
                let scale = 1 / (Float(squares / Double(width)) + epsilon).squareRoot()
                for i in 0..<width { y[i] = weight[i] * (x[i] * scale) }
            }
        }
    }

    /// y = (x − mean) / √(var + ε) · w + b with the biased variance — nn.LayerNorm.
    static func layer(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, rows: Int, width: Int,
                      weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, epsilon: Float) {
        Parallel.forEach(rows, grain: 16) { part in
            for row in part {
                let x = input + row * width, y = output + row * width
                var sum: Double = 0
                for i in 0..<width { sum += Double(x[i]) }
                let mean = sum / Double(width)
                var squares: Double = 0
                for i in 0..<width {
                    let centred = Double(x[i]) - mean
                    squares += centred * centred
                }
                let scale = 1 / (Float(squares / Double(width)) + epsilon).squareRoot()
                let shift = Float(mean)
                for i in 0..<width { y[i] = (x[i] - shift) * scale * weight[i] + bias[i] }
            }
        }
    }
}

/// A block's LayerNorm of its input rows by the `name.weight` / `name.bias` of the block:
/// `layerNorm("input_layernorm", into: normed)`. The LayerNorm families' blocks make one.
struct BlockLayerNorm {
    let input: UnsafeMutablePointer<Float>
    let rows: Int
    let width: Int
    let weights: BlockWeights
    let epsilon: Float

    func callAsFunction(_ name: String, into output: UnsafeMutablePointer<Float>) {
        Normalization.layer(input, into: output, rows: rows, width: width, weight: weights[name + ".weight"].pointer,
                            bias: weights[name + ".bias"].pointer, epsilon: epsilon)
    }
}
