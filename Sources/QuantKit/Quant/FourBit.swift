/// A tensor quantized to 4 bits the way `bitsandbytes.functional.quantize_4bit` does it.
///
///     packed byte i = index[2i] << 4 | index[2i+1]     (first value in the high nibble)
///     an odd count is padded with the index of 0.0; stored shape ((n+1)/2, 1), uint8
public struct FourBitQuantized: Sendable, Equatable {
    public let type: FourBitType
    public let blocksize: Int
    public let count: Int
    public let packed: [UInt8]
    public let absmax: [Float]

    public static let blocksizes = [32, 64, 128, 256, 512, 1024, 2048, 4096]

    /// The plain scalar quantizer: obviously right, checked byte for byte against bitsandbytes.
    public static func quantizeReference(_ values: [Float], type: FourBitType, blocksize: Int) -> FourBitQuantized {
        precondition(blocksizes.contains(blocksize), "blocksize \(blocksize) is not one bitsandbytes allows")
        let (indices, absmax) = values.withUnsafeBufferPointer {
            Blockwise.quantizeReference($0, blocksize: blocksize, midpoints: type.midpoints, order: type.indexOfPosition)
        }
        return FourBitQuantized(type: type, blocksize: blocksize, count: values.count,
                                packed: pack(indices, padding: type.index(ofScaled: 0)), absmax: absmax)
    }

    /// The 4-bit index of every value, unpacked.
    public var indices: [UInt8] {
        (0..<count).map { i in i % 2 == 0 ? packed[i / 2] >> 4 : packed[i / 2] & 0x0F }
    }

    /// Values back, with this absmax or another one (the reassembled absmax of double quantization).
    public func dequantized(absmax scale: [Float]? = nil) -> [Float] {
        Blockwise.dequantize(indices: indices, absmax: scale ?? absmax, code: type.code, blocksize: blocksize)
    }

    private static func pack(_ indices: [UInt8], padding: UInt8) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: (indices.count + 1) / 2)
        for i in bytes.indices {
            let high = indices[2 * i]
            let low = 2 * i + 1 < indices.count ? indices[2 * i + 1] : padding
            bytes[i] = high << 4 | low
        }
        return bytes
    }
}
