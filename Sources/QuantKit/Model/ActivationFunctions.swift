import Foundation

extension Activation {
    /// Applies the function in place to `count` values, spread over the cores.
    func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEach(count, grain: 1 << 14) { part in applySerial(values + part.lowerBound, count: part.count) }
    }

    /// gate[i] = f(gate[i]) · up[i] — the gated MLP of the llama family (SwiGLU for silu).
    func applyGated(_ gate: UnsafeMutablePointer<Float>, times up: UnsafePointer<Float>, count: Int) {
        Parallel.forEach(count, grain: 1 << 14) { part in
            let g = gate + part.lowerBound, u = up + part.lowerBound
            if self == .silu { return VectorMath.silu(g, count: part.count, times: u) }
            applySerial(g, count: part.count)
            for i in 0..<part.count { g[i] *= u[i] }
        }
    }

    private func applySerial(_ values: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .silu:
            VectorMath.silu(values, count: count)
        case .geluTanh:
            for i in 0..<count {
                let x = values[i]
                values[i] = 0.5 * x * (1 + tanh(0.797_884_56 * (x + 0.044715 * x * x * x)))
            }
        case .gelu:
            for i in 0..<count { values[i] = 0.5 * values[i] * (1 + erf(values[i] * 0.707_106_77)) }
        case .relu:
            for i in 0..<count { values[i] = max(values[i], 0) }
        }
    }
}
