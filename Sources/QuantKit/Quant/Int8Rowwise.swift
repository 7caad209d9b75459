import CQuantKernels

/// LLM.int8's row-wise int8 quantization (`int8_vectorwise_quant`), for weights (threshold 0) and
/// for activations with outlier decomposition (threshold > 0).
///
///     X: rows × columns, cast to fp16 first
///     outlier columns   = columns with any |x| ≥ threshold        (threshold > 0 only)
///     scale[r]          = max |x| over row r, outlier values excluded   (SCB for weights, SCA for X)
///     code[r][c]        = round_half_even(x × ((1 / scale[r]) × 127))   Float32
///                         (torch evaluates `127.0 / t` as reciprocal(t) × 127: not the same bits)
///     code[r][outlier c] = 0
///     dequant           = code × scale × (1/127)                 Float32, (code × scale) first
public struct Int8Rowwise: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public let codes: [Int8]
    public let scale: [Float]
    /// Ascending column indices; empty without a threshold.
    public let outlierColumns: [Int]

    /// bitsandbytes multiplies by this Float32 constant rather than dividing by 127.
    public static let reciprocal127: Float = 7.874015718698502e-3

    public static func quantizeReference(_ values: [Float], rows: Int, columns: Int, threshold: Float = 0) -> Int8Rowwise {
        precondition(values.count == rows * columns)
        let half = values.map { Float(Float16($0)) }
        let limit = Float(Float16(threshold))
        var isOutlier = [Bool](repeating: false, count: half.count)
        var outlierColumnFlags = [Bool](repeating: false, count: columns)
        if threshold > 0 {
            for (i, x) in half.enumerated() where abs(x) >= limit {
                isOutlier[i] = true
                outlierColumnFlags[i % columns] = true
            }
        }
        var scale = [Float](repeating: 0, count: rows)
        var codes = [Int8](repeating: 0, count: half.count)
        for r in 0..<rows {
            let row = r * columns..<(r + 1) * columns
            for i in row where !isOutlier[i] { scale[r] = max(scale[r], abs(half[i])) }
            let factor = rowFactor(scale[r])
            for i in row where !outlierColumnFlags[i % columns] {
                codes[i] = roundToInt8(isOutlier[i] ? 0 : half[i] * factor)
            }
        }
        let outliers = outlierColumnFlags.indices.filter { outlierColumnFlags[$0] }
        return Int8Rowwise(rows: rows, columns: columns, codes: codes, scale: scale, outlierColumns: outliers)
    }

    /// The same result from the C kernel (tests hold the two to each other).
    public static func quantize(_ values: [Float], rows: Int, columns: Int, threshold: Float = 0) -> Int8Rowwise {
        precondition(values.count == rows * columns)
        var codes = [Int8](repeating: 0, count: values.count)
        var scale = [Float](repeating: 0, count: rows)
        var flags = [UInt8](repeating: 0, count: columns)
        qk_quantize_int8_activations(values, Int64(rows), Int64(columns), threshold, &codes, &scale, &flags)
        return Int8Rowwise(rows: rows, columns: columns, codes: codes, scale: scale,
                           outlierColumns: flags.indices.filter { flags[$0] != 0 })
    }

    public func dequantized() -> [Float] {
        codes.enumerated().map { i, code in Float(code) * scale[i / columns] * Self.reciprocal127 }
    }

    /// What x is multiplied by before rounding: torch's `127.0 / scale`, which it computes as
    /// (1 / scale) × 127. An all-zero row's factor is infinite.
    @inline(__always)
    public static func rowFactor(_ scale: Float) -> Float { (1 / scale) * 127 }

    /// torch.round then .to(int8). An all-zero row gives 0 × (127 / 0) = NaN, which torch's
    /// conversion turns into 0 on x86; so does this.
    @inline(__always)
    static func roundToInt8(_ value: Float) -> Int8 {
        guard value.isFinite else { return 0 }
        return Int8(value.rounded(.toNearestOrEven))
    }
}
