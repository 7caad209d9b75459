/// Float tensors stored in another float dtype, rounded as torch's `tensor.to(dtype)` rounds: through
/// float32, to nearest with ties to even (what `from_pretrained(torch_dtype=…)` does to a checkpoint).
///
///     F16:  Float16(x)                                           (IEEE binary16, RNE; overflow → ±inf)
///     BF16: (bits + 0x7FFF + (bits >> 16 & 1)) >> 16              (the top half of float32, RNE; NaN → 0x7FC0)
enum FloatCast {
    /// Elements converted per step, so a large embedding never needs a second full-size Float copy.
    private static let chunk = 1 << 20

    /// `count` elements of `source` (F32, F16 or BF16) as `target` bytes.
    static func bytes(_ source: UnsafeRawBufferPointer, from dtype: DType, to target: DType, count: Int) -> [UInt8] {
        bytes(count: count, to: target) { TensorDecoder.decode(dtype, bytes: source, start: $0, count: $1, into: $2) }
    }

    /// The values of `tensor` (F32, F16, BF16 or GGUF blocks; `source` its bytes) as `target` bytes.
    static func bytes(_ source: UnsafeRawBufferPointer, of tensor: TensorInfo, to target: DType) -> [UInt8] {
        bytes(count: tensor.elementCount, to: target) { TensorDecoder.decode(tensor, bytes: source, start: $0, count: $1, into: $2) }
    }

    /// `decode(start, count, into)` fills a chunk of Float at a time.
    private static func bytes(count: Int, to target: DType, decode: (Int, Int, UnsafeMutablePointer<Float>) -> Void) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count * target.byteSize)
        var values = [Float](repeating: 0, count: min(count, chunk))
        out.withUnsafeMutableBytes { out in
            values.withUnsafeMutableBufferPointer { values in
                for start in stride(from: 0, to: count, by: chunk) {
                    let n = min(chunk, count - start)
                    decode(start, n, values.baseAddress!)
                    encode(UnsafeBufferPointer(rebasing: values[..<n]), as: target, into: out.baseAddress! + start * target.byteSize)
                }
            }
        }
        return out
    }

    /// Each value replaced by what it reads back as after storing it in `target`.
    static func round(_ values: UnsafeMutableBufferPointer<Float>, to target: DType) {
        switch target {
        case .f16: for i in values.indices { values[i] = Float(Float16(values[i])) }
        case .bf16: for i in values.indices { values[i] = Float(bitPattern: UInt32(bfloat16Bits(values[i])) << 16) }
        default: precondition(target == .f32, "\(target) is not a float dtype qtui writes")
        }
    }

    private static func encode(_ values: UnsafeBufferPointer<Float>, as target: DType, into destination: UnsafeMutableRawPointer) {
        switch target {
        case .f32:
            for (i, value) in values.enumerated() { destination.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .f16:
            for (i, value) in values.enumerated() { destination.storeBytes(of: Float16(value).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for (i, value) in values.enumerated() { destination.storeBytes(of: bfloat16Bits(value).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        default:
            preconditionFailure("\(target) is not a float dtype qtui writes")
        }
    }

    static func bfloat16Bits(_ value: Float) -> UInt16 {
        guard !value.isNaN else { return 0x7FC0 }
        let bits = value.bitPattern
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }
}
