/// The ways qtui can store a Linear weight, one table for the analysis, the memory preview and (later)
/// the exporter. Sizes are the bytes bitsandbytes' `save_pretrained` writes for one Linear of
/// N outputs × K inputs (n = N·K), tensor data only (safetensors header entries not included).
public enum QuantMethod: String, CaseIterable, Sendable, Codable {
    case int8
    case nf4
    case nf4DoubleQuant = "nf4+dq"
    case fp4
    case fp4DoubleQuant = "fp4+dq"

    public var fourBitType: FourBitType? {
        switch self {
        case .int8: return nil
        case .nf4, .nf4DoubleQuant: return .nf4
        case .fp4, .fp4DoubleQuant: return .fp4
        }
    }

    public var usesDoubleQuant: Bool { self == .nf4DoubleQuant || self == .fp4DoubleQuant }

    /// Where the analysis kernel accumulates this method's error (QK_INT8 … QK_FP4_DQ).
    var kernelSlot: Int {
        switch self {
        case .int8: return 0
        case .nf4: return 1
        case .nf4DoubleQuant: return 2
        case .fp4: return 3
        case .fp4DoubleQuant: return 4
        }
    }

    /// Serialized bytes of one converted Linear weight.
    ///
    ///     int8:     weight int8 [N, K] + SCB float32 [N] + weight_format uint8 (0-dim)
    ///     4-bit:    weight uint8 [ceil(n/2), 1] + absmax float32 [blocks] + quant_map float32 [16]
    ///               + quant_state JSON bytes
    ///     4-bit+dq: absmax uint8 [blocks] + nested_absmax float32 [ceil(blocks/256)]
    ///               + nested_quant_map float32 [256] instead of the float32 absmax
    ///
    /// The JSON's length depends on the nested offset's digits; pass it when known (nil takes the
    /// longest Python repr a float32 value can have, 24 characters, e.g. -1.2345678901234567e-05).
    public func serializedBytes(outFeatures: Int, inFeatures: Int, blocksize: Int, dtype: String,
                                nestedOffset: Float? = nil) -> Int {
        let n = outFeatures * inFeatures
        guard let type = fourBitType else { return n + 4 * outFeatures + 1 }
        let blocks = (n + blocksize - 1) / blocksize
        let shape = [outFeatures, inFeatures]
        if usesDoubleQuant {
            let json: Int
            if let nestedOffset {
                json = QuantStateJSON.text(type: type, blocksize: blocksize, dtype: dtype, shape: shape,
                                           nestedOffset: nestedOffset).utf8.count
            } else {
                json = QuantStateJSON.text(type: type, blocksize: blocksize, dtype: dtype, shape: shape,
                                           nestedOffset: 0).utf8.count - 3 + 24
            }
            let nestedBlocks = (blocks + DoubleQuantizedAbsmax.nestedBlocksize - 1) / DoubleQuantizedAbsmax.nestedBlocksize
            return (n + 1) / 2 + blocks + 4 * nestedBlocks + 4 * 256 + 4 * 16 + json
        }
        let json = QuantStateJSON.text(type: type, blocksize: blocksize, dtype: dtype, shape: shape, nestedOffset: nil).utf8.count
        return (n + 1) / 2 + 4 * blocks + 4 * 16 + json
    }
}
