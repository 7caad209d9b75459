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
    /// A 4-bit layer's weight as the loader dequantizes it, in the stored orientation, into `out`.
    /// `values` is the weight as stored ([out, in], or [in, out] for a Conv1D).
    static func fourBitWeight(_ values: UnsafePointer<Float>, layer: LinearLayer, type: FourBitType, plan: ExportPlan,
                              into out: UnsafeMutablePointer<Float>) {
        let count = layer.outFeatures * layer.inFeatures
        var (packed, absmax) = withRowsFirst(values, layer: layer) {
            FourBitCodec.quantize($0, dtype: .f32, count: count, type: type, blocksize: plan.blocksize)
        }
        if plan.doubleQuant { absmax = DoubleQuantizedAbsmax.quantize(absmax).reassembled }
        guard layer.isTransposedInFile else {
            FourBitCodec.dequantize(packed, absmax: absmax, type: type, blocksize: plan.blocksize, count: count, into: out)
            return
        }
        let simulated = FourBitCodec.dequantized(packed, absmax: absmax, type: type, blocksize: plan.blocksize, count: count)
        transpose(simulated, rows: layer.outFeatures, columns: layer.inFeatures, into: out)
    }

    /// An int8 layer's CB and SCB ([out, in] whatever the stored orientation).
    static func int8Weight(_ values: UnsafePointer<Float>, layer: LinearLayer) -> Int8Weight {
        withRowsFirst(values, layer: layer) {
            Int8Weight($0.assumingMemoryBound(to: Float.self), n: layer.outFeatures, k: layer.inFeatures)
        }
    }

    /// `body` with the weight as [out, in]: the stored values themselves, or a transposed copy of a Conv1D's.
    private static func withRowsFirst<Result>(_ values: UnsafePointer<Float>, layer: LinearLayer,
                                              _ body: (UnsafeRawPointer) -> Result) -> Result {
        guard layer.isTransposedInFile else { return body(UnsafeRawPointer(values)) }
        let n = layer.outFeatures, k = layer.inFeatures
        let rowsFirst = [Float](unsafeUninitializedCapacity: n * k) { out, initialized in
            transpose(values, rows: k, columns: n, into: out.baseAddress!)
            initialized = n * k
        }
        return rowsFirst.withUnsafeBytes { body($0.baseAddress!) }
    }

    private static func transpose(_ values: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = values[r * columns + c] } }
    }
}
