/// Double quantization of 4-bit absmax values (`bnb_4bit_use_double_quant`), as bitsandbytes does it:
///
///     offset          = mean(absmax)                      Float32, torch's summation order
///     nested_absmax[j], codes = blockwise 8-bit quantization of (absmax − offset), blocks of 256,
///                               against the dynamic map, exact nearest code
///     absmax'[i]      = map[codes[i]] × nested_absmax[i / 256] + offset
///
/// bitsandbytes 0.50.2's CPU C kernel for the nested step looks codes up through a table that is not
/// exactly nearest (about 1 in 4096 values one code away); this follows the exact semantics of its
/// CUDA kernel and pure-torch path. The one value that kernel stores differently is kept apart
/// (`storedNestedAbsmax`): it is what transformers saves.
public struct DoubleQuantizedAbsmax: Sendable, Equatable {
    public static let nestedBlocksize = 256

    public let codes: [UInt8]
    /// As the pure-torch path computes and uses them: a partial last block's floored at 1e-38.
    public let nestedAbsmax: [Float]
    /// As the CPU C kernel that transformers runs stores them, and so as an export writes them: a partial
    /// last block's unfloored. They differ only when that block's largest |x| is below 1e-38 — e.g. the
    /// single absmax of a tensor of one 4-bit block minus its own mean, 0 — where the floor only guards
    /// the pure-torch path's division (the dequantized values are the same: codes × ~0 + offset).
    public let storedNestedAbsmax: [Float]
    public let offset: Float

    public static func quantize(_ absmax: [Float], reference: Bool = false) -> DoubleQuantizedAbsmax {
        let offset = torchMeanFloat32(absmax)
        // In place over a copy rather than `map`, whose element-by-element appends do not vectorise (it was
        // most of this function's time on a layer's millions of absmax values).
        var centred = absmax
        centred.withUnsafeMutableBufferPointer { values in
            for i in values.indices { values[i] -= offset }
        }
        let (codes, nested) = centred.withUnsafeBufferPointer {
            reference
                ? Blockwise.quantizeReference($0, blocksize: nestedBlocksize, midpoints: DynamicMap.midpoints,
                                              order: DynamicMap.identityOrder)
                : Blockwise.quantize($0, blocksize: nestedBlocksize, midpoints: DynamicMap.midpoints,
                                     table: DynamicMap.bucketTable, order: DynamicMap.identityOrder)
        }
        var stored = nested
        if centred.count % nestedBlocksize != 0, let last = stored.indices.last {
            stored[last] = centred[(last * nestedBlocksize)...].reduce(0) { max($0, abs($1)) }
        }
        return DoubleQuantizedAbsmax(codes: codes, nestedAbsmax: nested, storedNestedAbsmax: stored, offset: offset)
    }

    /// The absmax values a loader reconstructs (on all cores: each value on its own).
    public var reassembled: [Float] {
        var out = [Float](repeating: 0, count: codes.count)
        DynamicMap.values.withUnsafeBufferPointer { map in
            codes.withUnsafeBufferPointer { codes in
                nestedAbsmax.withUnsafeBufferPointer { nested in
                    out.withUnsafeMutableBufferPointer { out in
                        let out = out.baseAddress!
                        Parallel.forEach(codes.count, grain: Blockwise.parallelGrain) { run in
                            for i in run { out[i] = map[Int(codes[i])] * nested[i / Self.nestedBlocksize] + offset }
                        }
                    }
                }
            }
        }
        return out
    }
}
