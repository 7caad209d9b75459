import CQuantKernels

/// A forward pass as bitsandbytes would run the quantized model, for perplexity: every converted Linear
/// the plan does not skip uses its weight as a loader reconstructs it (dequantized NF4/FP4, with double
/// quant when planned), and int8 layers multiply as LLM.int8 does — outlier columns (|fp16(x)| ≥
/// threshold) against the dequantized weight columns, the rest of fp16(X) as int8 × int8 (exact, in
/// int32). Otherwise computed in fp32, as bitsandbytes computes a model loaded in float32 (4-bit with an
/// fp32 compute dtype).
///
/// An int8 layer keeps only its Int8Weight (CB packed, SCB): nothing reads a Float copy of it.
enum SimulatedLinear {
    /// A 4-bit layer's weight as the loader dequantizes it, in the stored orientation. `values` is the
    /// weight as stored ([out, in], or [in, out] for a Conv1D).
    static func fourBitWeight(_ values: UnsafePointer<Float>, layer: LinearLayer, type: FourBitType, plan: ExportPlan) -> [Float] {
        let n = layer.outFeatures, k = layer.inFeatures
        let rowsFirst = rowsFirst(values, layer: layer)
        var packed = [UInt8](repeating: 0, count: (n * k + 1) / 2)
        var absmax = [Float](repeating: 0, count: (n * k + plan.blocksize - 1) / plan.blocksize)
        rowsFirst.withUnsafeBytes { raw in
            qk_quantize_4bit(raw.baseAddress, Int32(QK_F32), Int64(n * k), Int64(plan.blocksize), (n * k) % plan.blocksize != 0 ? 1 : 0,
                             type.midpoints, type.indexOfPosition, &packed, &absmax)
        }
        if plan.doubleQuant { absmax = DoubleQuantizedAbsmax.quantize(absmax).reassembled }
        let simulated = [Float](unsafeUninitializedCapacity: n * k) { out, initialized in
            qk_dequantize_4bit(packed, absmax, type.code, Int64(n * k), Int64(plan.blocksize), out.baseAddress)
            initialized = n * k
        }
        return layer.isTransposedInFile ? transpose(simulated, rows: n, columns: k) : simulated
    }

    /// An int8 layer's CB and SCB ([out, in] whatever the stored orientation).
    static func int8Weight(_ values: UnsafePointer<Float>, layer: LinearLayer) -> Int8Weight {
        Int8Weight(rowsFirst(values, layer: layer), n: layer.outFeatures, k: layer.inFeatures)
    }

    private static func rowsFirst(_ values: UnsafePointer<Float>, layer: LinearLayer) -> [Float] {
        let n = layer.outFeatures, k = layer.inFeatures
        let stored = Array(UnsafeBufferPointer(start: values, count: n * k))
        return layer.isTransposedInFile ? transpose(stored, rows: k, columns: n) : stored
    }

    private static func transpose(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = values[r * columns + c] } }
        return out
    }
}
