/// A ggml tensor type as GGUF stores it: a u32 number. Numbers the table does not know are kept (a
/// newer llama.cpp may add types) so the tensor can still be listed; such tensors have no size and are
/// never decoded.
public struct GGMLType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// One row of ggml's type-traits table: values per block, bytes per block, and the block decoder
    /// when QuantKit has one (`GGUFDequantize.swift`).
    public struct Traits: Sendable {
        public let name: String
        public let blockSize: Int
        public let bytesPerBlock: Int
        let decodeBlock: (@Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void)?
    }

    /// ggml's types (gguf 0.19.0 `GGML_QUANT_SIZES`); the ones with a decoder are those QuantKit can
    /// turn into Float exactly as `gguf.quants.dequantize` does.
    static let table: [UInt32: Traits] = {
        let qk = 256
        let rows: [(UInt32, String, Int, Int, (@Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void)?)] = [
            (0, "F32", 1, 4, GGUFDequantize.f32),
            (1, "F16", 1, 2, GGUFDequantize.f16),
            (2, "Q4_0", 32, 18, GGUFDequantize.q4_0),
            (3, "Q4_1", 32, 20, GGUFDequantize.q4_1),
            (6, "Q5_0", 32, 22, GGUFDequantize.q5_0),
            (7, "Q5_1", 32, 24, GGUFDequantize.q5_1),
            (8, "Q8_0", 32, 34, GGUFDequantize.q8_0),
            (9, "Q8_1", 32, 40, nil),
            (10, "Q2_K", qk, 2 + 2 + qk / 16 + qk / 4, nil),
            (11, "Q3_K", qk, 2 + qk / 4 + qk / 8 + 12, nil),
            (12, "Q4_K", qk, 2 + 2 + qk / 2 + 12, GGUFDequantize.q4_K),
            (13, "Q5_K", qk, 2 + 2 + qk / 2 + qk / 8 + 12, GGUFDequantize.q5_K),
            (14, "Q6_K", qk, 2 + qk / 2 + qk / 4 + qk / 16, GGUFDequantize.q6_K),
            (15, "Q8_K", qk, 4 + qk + qk / 8, nil),
            (16, "IQ2_XXS", qk, 2 + qk / 4, nil),
            (17, "IQ2_XS", qk, 2 + qk / 4 + qk / 32, nil),
            (18, "IQ3_XXS", qk, 2 + qk / 4 + qk / 8, nil),
            (19, "IQ1_S", qk, 2 + qk / 8 + qk / 16, nil),
            (20, "IQ4_NL", 32, 18, nil),
            (21, "IQ3_S", qk, 2 + qk / 4 + qk / 8 + qk / 32 + 4, nil),
            (22, "IQ2_S", qk, 2 + qk / 4 + qk / 16, nil),
            (23, "IQ4_XS", qk, 2 + 2 + qk / 2 + qk / 64, nil),
            (24, "I8", 1, 1, nil),
            (25, "I16", 1, 2, nil),
            (26, "I32", 1, 4, nil),
            (27, "I64", 1, 8, nil),
            (28, "F64", 1, 8, nil),
            (29, "IQ1_M", qk, qk / 8 + qk / 16 + qk / 32, nil),
            (30, "BF16", 1, 2, GGUFDequantize.bf16),
            (34, "TQ1_0", qk, 2 + 4 * 13, nil),
            (35, "TQ2_0", qk, 2 + 64, nil),
            (39, "MXFP4", 32, 17, nil),
            (40, "NVFP4", 64, 36, nil),
            (41, "Q1_0", 128, 18, nil),
        ]
        var table: [UInt32: Traits] = [:]
        for (number, name, blockSize, bytes, decode) in rows {
            table[number] = Traits(name: name, blockSize: blockSize, bytesPerBlock: bytes, decodeBlock: decode)
        }
        return table
    }()

    public static let f32 = GGMLType(rawValue: 0), f16 = GGMLType(rawValue: 1), bf16 = GGMLType(rawValue: 30)
    public static let q4_0 = GGMLType(rawValue: 2), q4_1 = GGMLType(rawValue: 3)
    public static let q5_0 = GGMLType(rawValue: 6), q5_1 = GGMLType(rawValue: 7), q8_0 = GGMLType(rawValue: 8)
    public static let q4_K = GGMLType(rawValue: 12), q5_K = GGMLType(rawValue: 13), q6_K = GGMLType(rawValue: 14)

    /// nil for a number ggml does not define (as of gguf 0.19.0).
    public var traits: Traits? { Self.table[rawValue] }
    public var isKnown: Bool { traits != nil }
    /// True when QuantKit can decode this type to Float.
    public var isDequantizable: Bool { traits?.decodeBlock != nil }
    /// ggml's name, or "type N" for an unknown number.
    public var description: String { traits?.name ?? "type \(rawValue)" }
}

/// The type tag of a GGUF metadata value (u32 in the file).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
}

/// One metadata value, typed as the file typed it. Arrays keep their declared element type, so an
/// empty array still says what it holds, and nested arrays are arrays of `.array` values.
public indirect enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// Any integer value as Int when it fits (ggml writes counts in various widths).
    public var integer: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    public var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}
