import CQuantKernels

/// One converted Linear quantized for export: the bytes of every tensor bitsandbytes saves for it.
struct QuantizedLayer {
    var int8Codes: [Int8] = []
    var scale: [Float] = []
    var packed: [UInt8] = []
    var absmax: [Float] = []
    var doubleQuant: DoubleQuantizedAbsmax?

    /// Quantizes with the fast kernels (quantize.c; FourBitCodec), which tests hold to the Swift references.
    init(_ layer: LinearLayer, in checkpoint: Checkpoint, plan: ExportPlan) {
        withLayerValues(layer, in: checkpoint, as: plan.dtype(for: layer.weight.dtype)) { data, dtype in
            let n = layer.parameterCount
            if let type = plan.method.fourBitType {
                (packed, absmax) = FourBitCodec.quantize(data, dtype: dtype, count: n, type: type, blocksize: plan.blocksize)
                if plan.doubleQuant { doubleQuant = DoubleQuantizedAbsmax.quantize(absmax) }
            } else {
                int8Codes = [Int8](repeating: 0, count: n)
                scale = [Float](repeating: 0, count: layer.outFeatures)
                int8Codes.withUnsafeMutableBufferPointer { codes in
                    scale.withUnsafeMutableBufferPointer { scale in
                        qk_quantize_int8_rows(data, dtype.kernelCode, Int64(layer.outFeatures), Int64(layer.inFeatures),
                                              codes.baseAddress, scale.baseAddress)
                    }
                }
            }
        }
    }

    /// The double-quant offset alone (block absmax → torch's float32 mean), before anything is written.
    static func nestedOffset(_ layer: LinearLayer, in checkpoint: Checkpoint, plan: ExportPlan) -> Float {
        let blocksize = plan.blocksize
        var absmax = [Float](repeating: 0, count: (layer.parameterCount + blocksize - 1) / blocksize)
        withLayerValues(layer, in: checkpoint, as: plan.dtype(for: layer.weight.dtype)) { data, dtype in
            absmax.withUnsafeMutableBufferPointer {
                qk_block_absmax(data, dtype.kernelCode, Int64(layer.parameterCount), Int64(blocksize), $0.baseAddress)
            }
        }
        if layer.parameterCount % blocksize != 0 { absmax[absmax.count - 1] = max(absmax[absmax.count - 1], Blockwise.absmaxFloor) }
        checkpoint.file(of: layer.weight).release(offset: layer.weight.dataOffset, count: layer.weight.byteCount)
        return torchMeanFloat32(absmax)
    }

    /// The layer's values as [out × in] row-major in `dtype`: straight from the mapping, or (GPT-2
    /// Conv1D, stored transposed; another dtype than stored; GGUF blocks) gathered into a Float buffer first.
    private static func withLayerValues(_ layer: LinearLayer, in checkpoint: Checkpoint, as dtype: DType,
                                        _ body: (UnsafeRawPointer, DType) -> Void) {
        let bytes = checkpoint.bytes(of: layer.weight)
        guard layer.isTransposedInFile || dtype != layer.weight.dtype || layer.weight.gguf != nil else {
            body(bytes.baseAddress!, layer.weight.dtype)
            return
        }
        let values = UnsafeMutableBufferPointer<Float>.allocate(capacity: layer.parameterCount)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: layer.outFeatures)
        defer { values.deallocate(); scratch.deallocate() }
        TensorDecoder.decodeRows(of: layer, bytes: bytes, firstRow: 0, rowCount: layer.outFeatures, into: values.baseAddress!, scratch: scratch)
        FloatCast.round(values, to: dtype)
        body(UnsafeRawPointer(values.baseAddress!), .f32)
    }

    private func withLayerValues(_ layer: LinearLayer, in checkpoint: Checkpoint, as dtype: DType,
                                 _ body: (UnsafeRawPointer, DType) -> Void) {
        Self.withLayerValues(layer, in: checkpoint, as: dtype, body)
    }
}
