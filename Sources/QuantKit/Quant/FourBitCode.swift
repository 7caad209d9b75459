/// The two 4-bit code books of bitsandbytes, with what quantization needs to find a code: the code
/// values in ascending order, the midpoints between neighbours (computed in Float32, as the library
/// does) and the code index each ascending position stands for.
public enum FourBitType: String, CaseIterable, Sendable, Codable {
    case nf4, fp4

    /// Code value for each 4-bit index (bitsandbytes' `get_4bit_type`).
    public var code: [Float] {
        switch self {
        case .nf4: return FourBitTables.nf4Code
        case .fp4: return FourBitTables.fp4Code
        }
    }

    /// Midpoints between consecutive ascending code values; a scaled value's position is the number of
    /// midpoints strictly below it (torch.bucketize, right=False: a value on a midpoint goes down).
    public var midpoints: [Float] {
        switch self {
        case .nf4: return FourBitTables.nf4Midpoints
        case .fp4: return FourBitTables.fp4Midpoints
        }
    }

    /// Code index for each ascending position.
    public var indexOfPosition: [UInt8] {
        switch self {
        case .nf4: return FourBitTables.identityOrder
        case .fp4: return FourBitTables.fp4Order
        }
    }

    /// The code index bitsandbytes assigns to a value already scaled into [-1, 1].
    @inline(__always)
    public func index(ofScaled value: Float) -> UInt8 {
        let bounds = midpoints
        var position = 0
        while position < 15 && bounds[position] < value { position += 1 }
        return indexOfPosition[position]
    }
}

enum FourBitTables {
    static let nf4Code: [Float] = [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
        -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
        0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
        0.7229568362236023, 1.0,
    ]

    /// FP4 with 1 sign, 2 exponent, 1 mantissa bit, in bit-pattern order, normalised by its largest
    /// magnitude (12) in Float32 exactly as `data.div_(data.abs().max())`. Index 8 is +0.0, not -0.0:
    /// the library writes it as the Python integer `-0`.
    static let fp4Code: [Float] = [0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3]
        .map { Float($0) / Float(12) }

    static let identityOrder: [UInt8] = Array(0..<16)

    /// torch.argsort of the FP4 code on the CPU. The two zeros tie; torch puts index 0 first, so
    /// values in (0, 0.0026] land on index 8: same dequantized value, different byte.
    static let fp4Order: [UInt8] = [11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3]

    static let nf4Midpoints: [Float] = midpoints(nf4Code, order: identityOrder)
    static let fp4Midpoints: [Float] = midpoints(fp4Code, order: fp4Order)

    private static func midpoints(_ code: [Float], order: [UInt8]) -> [Float] {
        (0..<15).map { (code[Int(order[$0])] + code[Int(order[$0 + 1])]) / 2 }
    }
}
