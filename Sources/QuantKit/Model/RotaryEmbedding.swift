import Foundation

/// Rotary position settings from config.json. transformers 5 writes them as one dict,
/// `"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, …}`; older configs have a
/// top-level `rope_theta` and a `rope_scaling` dict whose type key is `rope_type` or `type`. Both are read.
public struct RotaryConfig: Sendable, Equatable {
    public enum Scaling: Sendable, Equatable {
        case none
        /// Every frequency divided by `factor`.
        case linear(factor: Double)
        /// Llama 3.1: long wavelengths divided by `factor`, short ones kept, a smooth blend between.
        case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMaxPositions: Double)
    }

    public let theta: Double
    public let headSize: Int
    public let scaling: Scaling

    init(fields: [String: JSONValue], headSize: Int, file: String) throws {
        func fail(_ detail: String) -> ModelError { ModelError(file: file, .unsupportedFeature(detail)) }
        let parameters = fields["rope_parameters"]?.object ?? fields["rope_scaling"]?.object ?? [:]
        if parameters.values.contains(where: { $0.object != nil }) { throw fail("rope_parameters per layer type") }
        func value(_ key: String) -> Double? { parameters[key].flatMap(ModelDescription.double) }
        theta = value("rope_theta") ?? fields["rope_theta"].flatMap(ModelDescription.double) ?? 10000
        self.headSize = headSize
        let partial = value("partial_rotary_factor") ?? fields["partial_rotary_factor"].flatMap(ModelDescription.double) ?? 1
        guard partial == 1 else { throw fail("partial_rotary_factor \(partial)") }
        guard headSize % 2 == 0 else { throw ModelError(file: file, .invalidConfig("head size \(headSize) is odd")) }
        let type = parameters["rope_type"]?.string ?? parameters["type"]?.string ?? "default"
        func required(_ key: String) throws -> Double {
            guard let number = value(key), number > 0 else { throw ModelError(file: file, .invalidConfig("rope \(type) needs \(key)")) }
            return number
        }
        switch type {
        case "default":
            scaling = .none
        case "linear":
            scaling = .linear(factor: try required("factor"))
        case "llama3":
            scaling = .llama3(factor: try required("factor"), lowFrequencyFactor: try required("low_freq_factor"),
                              highFrequencyFactor: try required("high_freq_factor"),
                              originalMaxPositions: try required("original_max_position_embeddings"))
        default:
            throw fail("rope_type \(type)")
        }
    }

    /// θ_i for i < headSize/2, computed in Float the way transformers computes them in float32 tensors:
    /// 1 / theta^(2i/d), then the scaling (`_compute_llama3_parameters`, `_compute_linear_scaling…`).
    public var inverseFrequencies: [Float] {
        let size = Float(headSize)
        return (0..<headSize / 2).map { i -> Float in
            let base = 1 / pow(Float(theta), Float(2 * i) / size)
            switch scaling {
            case .none:
                return base
            case .linear(let factor):
                return base / Float(factor)
            case .llama3(let factor, let low, let high, let original):
                let factor = Float(factor), low = Float(low), high = Float(high), original = Float(original)
                let wavelength = 2 * Float.pi / base
                if wavelength < original / high { return base }
                if wavelength > original / low { return base / factor }
                let smooth = (original / wavelength - low) / (high - low)
                return (1 - smooth) * base / factor + smooth * base
            }
        }
    }
}

/// cos and sin of position × θ_i for positions 0..<count, as tables of count × headSize/2.
struct RotaryTable {
    let half: Int
    let cosines: [Float]
    let sines: [Float]

    init(_ config: RotaryConfig, positions count: Int) {
        let frequencies = config.inverseFrequencies
        half = frequencies.count
        var cosines = [Float](repeating: 0, count: count * half)
        var sines = cosines
        for position in 0..<count {
            for i in 0..<half {
                let angle = Float(position) * frequencies[i]
                cosines[position * half + i] = cos(angle)
                sines[position * half + i] = sin(angle)
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Rotates `heads` heads of each of `rows` rows in place; row r is at position r. Within a head the
    /// pairs are (i, i + d/2) — transformers' rotate_half layout:  x·cos + rotate_half(x)·sin.
    func apply(_ values: UnsafeMutablePointer<Float>, rows: Int, stride: Int, heads: Int) {
        precondition(rows * half <= cosines.count)
        cosines.withUnsafeBufferPointer { cosines in
            sines.withUnsafeBufferPointer { sines in
                Parallel.forEach(rows, grain: 32) { part in
                    for row in part {
                        let c = cosines.baseAddress! + row * half, s = sines.baseAddress! + row * half
                        for head in 0..<heads {
                            let x = values + row * stride + head * 2 * half
                            for i in 0..<half {
                                let a = x[i], b = x[i + half]
                                x[i] = a * c[i] - b * s[i]
                                x[i + half] = b * c[i] + a * s[i]
                            }
                        }
                    }
                }
            }
        }
    }
}
