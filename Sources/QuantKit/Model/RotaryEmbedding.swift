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
        /// Phi-3's LongRoPE: every frequency divided by its own factor — `short` ones while a sequence fits
        /// `originalMaxPositions`, `long` ones past it (transformers decides per forward call by its length).
        case longRoPE(short: [Double], long: [Double], originalMaxPositions: Int)
    }

    public let theta: Double
    public let headSize: Int
    /// The leading dimensions of each head that rotate (partial_rotary_factor × head size); the rest pass.
    public let rotatedSize: Int
    public let scaling: Scaling
    /// Multiplies cos and sin (LongRoPE's √(1 + ln(factor) / ln(original length)); 1 otherwise).
    public let attentionFactor: Double

    /// `originalMaxPositions`: where the model keeps it outside the rope dict (Phi-3's top-level key, which
    /// transformers prefers); max_position_embeddings is the fallback and LongRoPE's default factor
    /// numerator. `partialAllowed`: whether the model's attention rotates part of a head (phi3, gpt_neox);
    /// the llama family's apply_rotary_pos_emb rotates whole heads, so a partial factor is refused there.
    init(fields: [String: JSONValue], headSize: Int, file: String, maxPositions: Int? = nil, originalMaxPositions: Int? = nil,
         partialAllowed: Bool = false) throws {
        let maxPositions = maxPositions ?? fields["max_position_embeddings"]?.integer
        func fail(_ detail: String) -> ModelError { ModelError(file: file, .unsupportedFeature(detail)) }
        let parameters = fields["rope_parameters"]?.object ?? fields["rope_scaling"]?.object ?? [:]
        if parameters.values.contains(where: { $0.object != nil }) { throw fail("rope_parameters per layer type") }
        func value(_ key: String) -> Double? { parameters[key].flatMap(ModelDescription.double) }
        theta = value("rope_theta") ?? fields["rope_theta"].flatMap(ModelDescription.double) ?? 10000
        self.headSize = headSize
        let partial = value("partial_rotary_factor") ?? fields["partial_rotary_factor"].flatMap(ModelDescription.double) ?? 1
        guard partial == 1 || partialAllowed else { throw fail("partial_rotary_factor \(partial)") }
        rotatedSize = Int(Double(headSize) * partial)
        guard partial > 0, partial <= 1, rotatedSize % 2 == 0, rotatedSize > 0 else {
            throw ModelError(file: file, .invalidConfig("head size \(headSize) × partial_rotary_factor \(partial) is not a positive even size"))
        }
        let type = parameters["rope_type"]?.string ?? parameters["type"]?.string ?? "default"
        let original = originalMaxPositions ?? value("original_max_position_embeddings").map { Int($0) } ?? maxPositions
        attentionFactor = type == "longrope"
            ? try Self.longRoPEAttentionFactor(value, maxPositions: maxPositions, original: original, file: file) : 1
        let pairs = rotatedSize / 2
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
        case "longrope":
            let factors = try ["short_factor", "long_factor"].map { key -> [Double] in
                guard let list = parameters[key]?.array?.compactMap(ModelDescription.double), list.count == pairs else {
                    throw ModelError(file: file, .invalidConfig("rope longrope needs \(key) with \(pairs) numbers"))
                }
                return list
            }
            guard let original else { throw ModelError(file: file, .invalidConfig("rope longrope needs original_max_position_embeddings")) }
            scaling = .longRoPE(short: factors[0], long: factors[1], originalMaxPositions: original)
        default:
            throw fail("rope_type \(type)")
        }
    }

    /// transformers' `_compute_longrope_parameters`: `attention_factor` when given, else from `factor`
    /// (default max_position_embeddings / original_max_position_embeddings).
    private static func longRoPEAttentionFactor(_ value: (String) -> Double?, maxPositions: Int?, original: Int?, file: String) throws -> Double {
        if let given = value("attention_factor") { return given }
        guard let original, original > 0 else { throw ModelError(file: file, .invalidConfig("rope longrope needs original_max_position_embeddings")) }
        guard let factor = value("factor") ?? maxPositions.map({ Double($0) / Double(original) }) else { return 1 }
        return factor <= 1 ? 1 : (1 + log(factor) / log(Double(original))).squareRoot()
    }

    /// Whether a sequence of `length` positions uses LongRoPE's long factors.
    func usesLongFactors(length: Int) -> Bool {
        if case .longRoPE(_, _, let original) = scaling { return length > original }
        return false
    }

    /// θ_i for i < rotatedSize/2, computed in Float the way transformers computes them in float32 tensors:
    /// 1 / theta^(2i/d), then the scaling (`_compute_llama3_parameters`, `_compute_linear_scaling…`;
    /// LongRoPE: 1 / (factor_i · theta^(2i/d)), long factors for `long`).
    public func inverseFrequencies(long: Bool = false) -> [Float] {
        let size = Float(rotatedSize)
        return (0..<rotatedSize / 2).map { i -> Float in
            let power = pow(Float(theta), Float(2 * i) / size)
            let base = 1 / power
            switch scaling {
            case .longRoPE(let short, let longFactors, _):
                return 1 / (Float((long ? longFactors : short)[i]) * power)
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

/// cos and sin of position × θ_i for positions 0..<count, as tables of count × rotatedSize/2 (times the
/// attention factor). LongRoPE keeps a second pair with the long factors for chunks past the original length.
struct RotaryTable {
    let half: Int
    let headSize: Int
    let config: RotaryConfig
    private let tables: [(cosines: [Float], sines: [Float])]

    init(_ config: RotaryConfig, positions count: Int) {
        self.config = config
        half = config.rotatedSize / 2
        headSize = config.headSize
        let scale = Float(config.attentionFactor)
        tables = (config.usesLongFactors(length: count) ? [false, true] : [false]).map { long in
            let frequencies = config.inverseFrequencies(long: long)
            var cosines = [Float](repeating: 0, count: count * frequencies.count)
            var sines = cosines
            for position in 0..<count {
                for i in 0..<frequencies.count {
                    let angle = Float(position) * frequencies[i]
                    cosines[position * frequencies.count + i] = cos(angle) * scale
                    sines[position * frequencies.count + i] = sin(angle) * scale
                }
            }
            return (cosines, sines)
        }
    }

    /// Rotates `heads` heads of each of `rows` rows in place; row r is at position r, and `rows` (the
    /// chunk's length) picks LongRoPE's factors. Within a head the pairs are (i, i + r/2) over the first r
    /// = rotatedSize values — transformers' rotate_half layout, x·cos + rotate_half(x)·sin; the rest pass.
    func apply(_ values: UnsafeMutablePointer<Float>, rows: Int, stride: Int, heads: Int) {
        let (cosines, sines) = tables[config.usesLongFactors(length: rows) ? 1 : 0]
        precondition(rows * half <= cosines.count)
        cosines.withUnsafeBufferPointer { cosines in
            sines.withUnsafeBufferPointer { sines in
                Parallel.forEach(rows, grain: 32) { part in
                    for row in part {
                        let c = cosines.baseAddress! + row * half, s = sines.baseAddress! + row * half
                        for head in 0..<heads {
                            let x = values + row * stride + head * headSize
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
