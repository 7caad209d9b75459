import CQuantKernels

/// bitsandbytes' blockwise 4-bit quantization of a whole tensor and its reconstruction, through the C
/// kernels (quantize.c, decode.c), which tests hold to the Swift references. Ranges of whole blocks run
/// on all cores: blocks are independent, so the bytes are those of one call over the tensor. (One call
/// held one core for ~1 s per 4-bit perplexity pass of a 1B model while the other waited.)
enum FourBitCodec {
    /// Packed codes (two a byte, the high nibble first) and the absmax of each block, for `count` values
    /// of `dtype` at `data`; the last block may be partial.
    static func quantize(_ data: UnsafeRawPointer, dtype: DType, count: Int, type: FourBitType,
                         blocksize: Int) -> (packed: [UInt8], absmax: [Float]) {
        precondition(blocksize > 0 && blocksize % 2 == 0, "a block must fill whole bytes")
        let blocks = (count + blocksize - 1) / blocksize
        var packed = [UInt8](repeating: 0, count: (count + 1) / 2)
        var absmax = [Float](repeating: 0, count: blocks)
        let midpoints = type.midpoints, order = type.indexOfPosition
        packed.withUnsafeMutableBufferPointer { packed in
            absmax.withUnsafeMutableBufferPointer { absmax in
                Parallel.forEach(blocks, grain: max(1, grainValues / blocksize)) { range in
                    let first = range.lowerBound * blocksize, end = min(range.upperBound * blocksize, count)
                    let partial = range.upperBound == blocks && count % blocksize != 0
                    qk_quantize_4bit(data + first * dtype.byteSize, dtype.kernelCode, Int64(end - first), Int64(blocksize),
                                     partial ? 1 : 0, midpoints, order, packed.baseAddress! + first / 2,
                                     absmax.baseAddress! + range.lowerBound)
                }
            }
        }
        return (packed, absmax)
    }

    /// code[index] × absmax[block] for each of `count` values, into `out`.
    static func dequantize(_ packed: [UInt8], absmax: [Float], type: FourBitType, blocksize: Int, count: Int,
                           into out: UnsafeMutablePointer<Float>) {
        precondition(blocksize > 0 && blocksize % 2 == 0, "a block must fill whole bytes")
        let blocks = (count + blocksize - 1) / blocksize, code = type.code
        packed.withUnsafeBufferPointer { packed in
            absmax.withUnsafeBufferPointer { absmax in
                Parallel.forEach(blocks, grain: max(1, grainValues / blocksize)) { range in
                    let first = range.lowerBound * blocksize, end = min(range.upperBound * blocksize, count)
                    qk_dequantize_4bit(packed.baseAddress! + first / 2, absmax.baseAddress! + range.lowerBound, code,
                                       Int64(end - first), Int64(blocksize), out + first)
                }
            }
        }
    }

    /// The same into a new array.
    static func dequantized(_ packed: [UInt8], absmax: [Float], type: FourBitType, blocksize: Int, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, initialized in
            dequantize(packed, absmax: absmax, type: type, blocksize: blocksize, count: count, into: out.baseAddress!)
            initialized = count
        }
    }

    /// Values per parallel piece at least: smaller pieces cost more to hand out than they save.
    private static let grainValues = 1 << 16
}
