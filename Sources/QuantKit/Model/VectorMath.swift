import Foundation

/// Eight-lane kernels for the exp-heavy element-wise steps (softmax, SiLU), each with a plain scalar
/// reference beside it that the tests hold it to. libm's expf is called once per value and does not
/// vectorize; these evaluate exp with a polynomial on SIMD8 (SSE2 or better, whatever the build targets).
enum VectorMath {
    typealias Lanes = SIMD8<Float>

    /// e^x for each lane, within 2 ulp of libm for x in [−87, 88] (Cephes expf: x = n·ln2 + r with
    /// |r| ≤ ln2/2, e^r by a degree-6 polynomial, 2^n through the exponent bits). Inputs are clamped
    /// to [−87.33, 88]: below, the result is the smallest normal float instead of a subnormal or 0.
    @inline(__always)
    static func exp(_ value: Lanes) -> Lanes {
        let low = Lanes(repeating: -87.336_54), high = Lanes(repeating: 88)
        let x = value.replacing(with: low, where: value .< low).replacing(with: high, where: value .> high)
        // Adding 1.5·2^23 rounds x·log2(e) to an integer n in the low mantissa bits (SSE2 has no round).
        let magic = Lanes(repeating: 12_582_912)
        let shifted = x * 1.442_695_04 + magic
        let n = shifted - magic
        let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p = Lanes(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let y = p * r * r + r + 1
        let exponent = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self) &+ 127) &<< 23
        return y * unsafeBitCast(exponent, to: Lanes.self)
    }

    /// Loads `count` ≤ 8 values, the missing lanes set to `padding`.
    @inline(__always)
    static func load(_ values: UnsafePointer<Float>, count: Int, padding: Float) -> Lanes {
        if count == 8 { return UnsafeRawPointer(values).loadUnaligned(as: Lanes.self) }
        var lanes = Lanes(repeating: padding)
        for i in 0..<count { lanes[i] = values[i] }
        return lanes
    }

    @inline(__always)
    static func store(_ lanes: Lanes, to values: UnsafeMutablePointer<Float>, count: Int) {
        if count == 8 { return UnsafeMutableRawPointer(values).storeBytes(of: lanes, as: Lanes.self) }
        for i in 0..<count { values[i] = lanes[i] }
    }

    /// values[i] = e^(values[i] − max) / Σ e^(values[j] − max) over `count` values (count ≥ 1).
    static func softmax(_ values: UnsafeMutablePointer<Float>, count: Int) {
        var largest = Lanes(repeating: -.infinity)
        for i in stride(from: 0, to: count, by: 8) {
            let lanes = load(values + i, count: min(8, count - i), padding: -.infinity)
            largest = largest.replacing(with: lanes, where: lanes .> largest)
        }
        let shift = Lanes(repeating: largest.max())
        var sums = Lanes.zero
        for i in stride(from: 0, to: count, by: 8) {
            let lanes = min(8, count - i)
            var e = exp(load(values + i, count: lanes, padding: 0) - shift)
            if lanes < 8 { e = e.replacing(with: 0, where: Lanes.laneIndices .>= Float(lanes)) }
            sums += e
            store(e, to: values + i, count: lanes)
        }
        let inverse = 1 / sums.sum()
        for i in stride(from: 0, to: count, by: 8) {
            let lanes = min(8, count - i)
            store(load(values + i, count: lanes, padding: 0) * inverse, to: values + i, count: lanes)
        }
    }

    static func softmaxReference(_ values: UnsafeMutablePointer<Float>, count: Int) {
        var largest = -Float.infinity
        for i in 0..<count where values[i] > largest { largest = values[i] }
        var sum: Float = 0
        for i in 0..<count {
            values[i] = Foundation.exp(values[i] - largest)
            sum += values[i]
        }
        for i in 0..<count { values[i] /= sum }
    }

    /// values[i] = x / (1 + e^−x), x = values[i] — SiLU, then × multiplier[i] when given (SwiGLU).
    static func silu(_ values: UnsafeMutablePointer<Float>, count: Int, times multiplier: UnsafePointer<Float>? = nil) {
        for i in stride(from: 0, to: count, by: 8) {
            let lanes = min(8, count - i)
            let x = load(values + i, count: lanes, padding: 0)
            var y = x / (1 + exp(-x))
            if let multiplier { y *= load(multiplier + i, count: lanes, padding: 0) }
            store(y, to: values + i, count: lanes)
        }
    }

    static func siluReference(_ values: UnsafeMutablePointer<Float>, count: Int, times multiplier: UnsafePointer<Float>? = nil) {
        for i in 0..<count {
            values[i] = values[i] / (1 + Foundation.exp(-values[i]))
            if let multiplier { values[i] *= multiplier[i] }
        }
    }
}

private extension SIMD8 where Scalar == Float {
    /// 0, 1, …, 7.
    static var laneIndices: Self { Self(0, 1, 2, 3, 4, 5, 6, 7) }
}
