import CQuantKernels

/// A forward pass as bitsandbytes would run the quantized model, for perplexity: every converted Linear
/// the plan does not skip uses its weight as a loader reconstructs it (dequantized NF4/FP4, with double
/// quant when planned), and int8 layers multiply as LLM.int8 does — outlier columns (|fp16(x)| ≥
/// threshold) against the dequantized weight columns, the rest of fp16(X) as int8 × int8 (exact, in
/// int32). Otherwise computed in fp32, as bitsandbytes computes a model loaded in float32 (4-bit with an
/// fp32 compute dtype).
struct SimulatedLinear {
    /// The weight to use, in the stored orientation.
    let weight: [Float]
    /// For int8 layers: the quantized weight ([out, in]) and the threshold.
    let int8: Int8Weight?
    let threshold: Float

    /// `values` is the weight as stored ([out, in], or [in, out] for a Conv1D).
    init(_ values: UnsafePointer<Float>, layer: LinearLayer, plan: ExportPlan) {
        let n = layer.outFeatures, k = layer.inFeatures
        var rowsFirst = Array(UnsafeBufferPointer(start: values, count: n * k))
        if layer.isTransposedInFile { rowsFirst = Self.transpose(rowsFirst, rows: k, columns: n) }
        threshold = Float(plan.threshold)
        var simulated: [Float]
        if let type = plan.method.fourBitType {
            var packed = [UInt8](repeating: 0, count: (n * k + 1) / 2)
            var absmax = [Float](repeating: 0, count: (n * k + plan.blocksize - 1) / plan.blocksize)
            rowsFirst.withUnsafeBytes { raw in
                qk_quantize_4bit(raw.baseAddress, Int32(QK_F32), Int64(n * k), Int64(plan.blocksize), (n * k) % plan.blocksize != 0 ? 1 : 0,
                                 type.midpoints, type.indexOfPosition, &packed, &absmax)
            }
            if plan.doubleQuant { absmax = DoubleQuantizedAbsmax.quantize(absmax).reassembled }
            let code = type.code, blocksize = plan.blocksize
            simulated = [Float](unsafeUninitializedCapacity: n * k) { out, initialized in
                packed.withUnsafeBufferPointer { packed in
                    absmax.withUnsafeBufferPointer { absmax in
                        for i in 0..<(n * k) {
                            let byte = packed[i / 2]
                            out[i] = code[Int(i % 2 == 0 ? byte >> 4 : byte & 0x0F)] * absmax[i / blocksize]
                        }
                    }
                }
                initialized = n * k
            }
            int8 = nil
        } else {
            let quantized = Int8Weight(rowsFirst, n: n, k: k)
            simulated = quantized.dequantized
            int8 = quantized
        }
        weight = layer.isTransposedInFile ? Self.transpose(simulated, rows: n, columns: k) : simulated
    }

    static func transpose(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = values[r * columns + c] } }
        return out
    }
}
