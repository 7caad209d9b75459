import CQuantKernels

/// ggml block formats to Float, value for value as gguf 0.19.0's numpy dequantizers
/// (`gguf.quants.dequantize`) compute them: every scale is an fp16 (or int8) widened exactly, every
/// product and sum one float32 operation in numpy's order, never fused. Swift does not contract
/// `a * b + c` into an FMA, so the results are the same bits (tests/GGUFTests hold them to that).
///
/// Notation: `d`, `m`, `dmin` are fp16 LE; `q` the unsigned code of value i of the block; a nibble
/// "lo(b)" is b & 0x0F, "hi(b)" is b >> 4.
public enum GGUFDequantize {
    /// Blocks [first, first + count) of a tensor's bytes into `destination` (count × block size values):
    /// through the C twin of the decoders below where there is one (qk_gguf_decode: F32, F16, BF16, Q4_0,
    /// Q4_1, Q8_0, Q4_K, Q6_K — the types of common files), else through them.
    public static func blocks(_ type: GGMLType, bytes: UnsafeRawBufferPointer, first: Int, count: Int,
                              into destination: UnsafeMutablePointer<Float>) {
        guard let traits = type.traits, traits.decodeBlock != nil else { preconditionFailure("\(type) cannot be decoded") }
        precondition(first >= 0 && count >= 0 && (first + count) * traits.bytesPerBlock <= bytes.count)
        guard count > 0, let base = bytes.baseAddress else { return }
        let source = base + first * traits.bytesPerBlock
        let fast = halves.withUnsafeBufferPointer { qk_gguf_decode(type.rawValue, source, destination, Int64(count), $0.baseAddress!) }
        if fast == 0 { blocksReference(type, source, count: count, into: destination) }
    }

    /// `count` blocks from `source` through the Swift decoders, the plain reference the C twins are tested against.
    static func blocksReference(_ type: GGMLType, _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        guard let traits = type.traits, let decode = traits.decodeBlock else { preconditionFailure("\(type) cannot be decoded") }
        for block in 0..<count {
            decode(source + block * traits.bytesPerBlock, destination + block * traits.blockSize)
        }
    }

    /// A whole tensor's bytes (a whole number of blocks) as Float.
    public static func tensor(_ type: GGMLType, bytes: UnsafeRawBufferPointer) -> [Float] {
        guard let traits = type.traits else { preconditionFailure("\(type) cannot be decoded") }
        let blockCount = bytes.count / traits.bytesPerBlock
        return [Float](unsafeUninitializedCapacity: blockCount * traits.blockSize) { buffer, initialized in
            blocks(type, bytes: bytes, first: 0, count: blockCount, into: buffer.baseAddress!)
            initialized = blockCount * traits.blockSize
        }
    }

    /// Every fp16 bit pattern widened (exactly), looked up: without F16C at compile time each
    /// `Float(Float16)` is a library call, and the blocks are decoded where they are read, every pass.
    private static let halves: [Float] = (0...UInt16.max).map { Float(Float16(bitPattern: $0)) }

    private static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        halves.withUnsafeBufferPointer { $0[Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))] }
    }

    private static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 { p.load(fromByteOffset: offset, as: UInt8.self) }

    // MARK: plain floats (a "block" is one value)

    static let f32: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        out[0] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
    }

    static let f16: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        out[0] = half(p, 0)
    }

    /// |u16 LE upper half of a float32|   value = bits << 16
    static let bf16: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        out[0] = Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))) << 16)
    }

    // MARK: 32-value blocks

    /// |d|qs[16]|   18 bytes, 32 values
    /// q(i) = lo(qs[i]) for i < 16, hi(qs[i − 16]) for i ≥ 16;   x(i) = d × (q(i) − 8)
    static let q4_0: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        let d = half(p, 0)
        for i in 0..<16 {
            let b = byte(p, 2 + i)
            out[i] = d * Float(Int(b & 0x0F) - 8)
            out[i + 16] = d * Float(Int(b >> 4) - 8)
        }
    }

    /// |d|m|qs[16]|   20 bytes, 32 values;   q(i) as Q4_0;   x(i) = d × q(i) + m
    static let q4_1: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        let d = half(p, 0), m = half(p, 2)
        for i in 0..<16 {
            let b = byte(p, 4 + i)
            out[i] = d * Float(b & 0x0F) + m
            out[i + 16] = d * Float(b >> 4) + m
        }
    }

    /// |d|qh u32 LE|qs[16]|   22 bytes, 32 values
    /// q(i) = (Q4_0's nibble) | bit i of qh << 4;   x(i) = d × (q(i) − 16)
    static let q5_0: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        let d = half(p, 0)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        for i in 0..<16 {
            let b = byte(p, 6 + i)
            let low = Int(b & 0x0F) | Int((qh >> UInt32(i)) & 1) << 4
            let high = Int(b >> 4) | Int((qh >> UInt32(i + 16)) & 1) << 4
            out[i] = d * Float(low - 16)
            out[i + 16] = d * Float(high - 16)
        }
    }

    /// |d|m|qh u32 LE|qs[16]|   24 bytes, 32 values;   q(i) as Q5_0;   x(i) = d × q(i) + m
    static let q5_1: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        let d = half(p, 0), m = half(p, 2)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        for i in 0..<16 {
            let b = byte(p, 8 + i)
            let low = UInt32(b & 0x0F) | ((qh >> UInt32(i)) & 1) << 4
            let high = UInt32(b >> 4) | ((qh >> UInt32(i + 16)) & 1) << 4
            out[i] = d * Float(low) + m
            out[i + 16] = d * Float(high) + m
        }
    }

    /// |d|qs[32] int8|   34 bytes, 32 values;   x(i) = qs[i] × d
    static let q8_0: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        let d = half(p, 0)
        for i in 0..<32 { out[i] = Float(Int8(bitPattern: byte(p, 2 + i))) * d }
    }

    // MARK: 256-value super-blocks (K-quants)

    /// The 8 six-bit scales and mins of Q4_K / Q5_K, packed in 12 bytes s[0…11]:
    ///
    ///     s[0…3]  = mh(j)  sc(j)   j = 0…3      (2 high bits of sc(j+4), 6 bits of sc(j))
    ///     s[4…7]  = mh(j)  mn(j)   j = 0…3      (2 high bits of mn(j+4), 6 bits of mn(j))
    ///     s[8…11] = mn(j+4) low 4 | sc(j+4) low 4   j = 0…3
    ///     sc(j) = s[j] & 63,  mn(j) = s[j+4] & 63                                     j < 4
    ///     sc(j) = (s[j+4] & 0xF) | (s[j−4] >> 6) << 4,  mn(j) = (s[j+4] >> 4) | (s[j] >> 6) << 4   j ≥ 4
    private static func scaleMin(_ s: UnsafeRawPointer, _ j: Int) -> (scale: Float, min: Float) {
        if j < 4 { return (Float(byte(s, j) & 63), Float(byte(s, j + 4) & 63)) }
        let scale = (byte(s, j + 4) & 0x0F) | ((byte(s, j - 4) >> 6) << 4)
        let min = (byte(s, j + 4) >> 4) | ((byte(s, j) >> 6) << 4)
        return (Float(scale), Float(min))
    }

    /// |d|dmin|scales[12]|qs[128]|   144 bytes, 256 values in 8 sub-blocks of 32
    /// sub-block j uses qs[32·(j/2) …+32]: lo nibbles for even j, hi nibbles for odd j
    /// x = (d × sc(j)) × q − (dmin × mn(j))
    static let q4_K: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        let d = half(p, 0), dmin = half(p, 2)
        for j in 0..<8 {
            let (scale, min) = scaleMin(p + 4, j)
            let dl = d * scale, ml = dmin * min
            let shift: UInt8 = j % 2 == 0 ? 0 : 4
            for l in 0..<32 {
                let q = (byte(p, 16 + 32 * (j / 2) + l) >> shift) & 0x0F
                out[32 * j + l] = dl * Float(q) - ml
            }
        }
    }

    /// |d|dmin|scales[12]|qh[32]|qs[128]|   176 bytes, 256 values in 8 sub-blocks of 32
    /// q = Q4_K's nibble | ((qh[l] >> j) & 1) << 4 for value l of sub-block j;   x as Q4_K
    static let q5_K: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        let d = half(p, 0), dmin = half(p, 2)
        for j in 0..<8 {
            let (scale, min) = scaleMin(p + 4, j)
            let dl = d * scale, ml = dmin * min
            let shift: UInt8 = j % 2 == 0 ? 0 : 4
            for l in 0..<32 {
                let low = (byte(p, 48 + 32 * (j / 2) + l) >> shift) & 0x0F
                let high = (byte(p, 16 + l) >> UInt8(j)) & 1
                out[32 * j + l] = dl * Float(low | high << 4) - ml
            }
        }
    }

    /// |ql[128]|qh[64]|scales[16] int8|d|   210 bytes, 256 values; value i = 128·h + 32·k + l
    /// (h = 0…1, k = 0…3, l = 0…31):
    ///     low 4 bits  = (ql[64·h + 32·(k % 2) + l] >> (4 · (k / 2))) & 0xF
    ///     high 2 bits = (qh[32·h + l] >> (2·k)) & 3
    ///     x(i) = (d × scales[i / 16]) × (q − 32)
    static let q6_K: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void = { p, out in
        let d = half(p, 208)
        for h in 0..<2 {
            for k in 0..<4 {
                for l in 0..<32 {
                    let i = 128 * h + 32 * k + l
                    let low = (byte(p, 64 * h + 32 * (k % 2) + l) >> UInt8(4 * (k / 2))) & 0x0F
                    let high = (byte(p, 128 + 32 * h + l) >> UInt8(2 * k)) & 3
                    let scale = d * Float(Int8(bitPattern: byte(p, 192 + i / 16)))
                    out[i] = scale * Float(Int(low | high << 4) - 32)
                }
            }
        }
    }
}
