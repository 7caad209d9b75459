import CQuantKernels

/// Decodes F32 / F16 / BF16 tensor bytes to Float on demand, a range at a time, straight from the
/// mapping (unaligned is fine), and the blocks of a GGUF tensor read in place (GGUFTransform). Other
/// dtypes are never decoded: callers check `isDecodableFloat`.
public enum TensorDecoder {
    /// Elements [start, start + count) of `tensor`'s flat row-major values, `bytes` being
    /// `Checkpoint.bytes(of: tensor)`: its dtype's, or its GGUF blocks through their transform.
    public static func decode(_ tensor: TensorInfo, bytes: UnsafeRawBufferPointer, start: Int, count: Int,
                              into destination: UnsafeMutablePointer<Float>) {
        guard let transform = tensor.gguf else {
            return decode(tensor.dtype, bytes: bytes, start: start, count: count, into: destination)
        }
        transform.decode(bytes, start: start, count: count, into: destination)
    }

    /// Elements [start, start + count) of a tensor's flat row-major data.
    public static func decode(_ dtype: DType, bytes: UnsafeRawBufferPointer, start: Int, count: Int,
                              into destination: UnsafeMutablePointer<Float>) {
        precondition(dtype.isDecodableFloat && start >= 0 && (start + count) * dtype.byteSize <= bytes.count)
        guard count > 0, let base = bytes.baseAddress else { return }
        let source = base + start * dtype.byteSize
        switch dtype {
        case .f32: qk_decode_f32(source, destination, Int64(count))
        case .f16: qk_decode_f16(source, destination, Int64(count))
        case .bf16: qk_decode_bf16(source, destination, Int64(count))
        default: preconditionFailure("\(dtype) is not decodable")
        }
    }

    /// Rows [firstRow, firstRow + rowCount) of a Linear weight seen as [out × in], for a weight stored
    /// either as [out, in] (nn.Linear) or transposed as [in, out] (GPT-2's Conv1D). `scratch` must hold
    /// `rowCount` values; it is used only for transposed weights.
    public static func decodeRows(of layer: LinearLayer, bytes: UnsafeRawBufferPointer, firstRow: Int, rowCount: Int,
                                  into destination: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let columns = layer.inFeatures
        guard layer.isTransposedInFile else {
            decode(layer.weight, bytes: bytes, start: firstRow * columns, count: rowCount * columns, into: destination)
            return
        }
        // Stored [in, out]: the wanted rows are a contiguous run of outputs in every stored row.
        for input in 0..<columns {
            decode(layer.weight, bytes: bytes, start: input * layer.outFeatures + firstRow, count: rowCount, into: scratch)
            for r in 0..<rowCount { destination[r * columns + input] = scratch[r] }
        }
    }
}
