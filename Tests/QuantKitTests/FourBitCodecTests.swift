import CQuantKernels
import XCTest
@testable import QuantKit

/// FourBitCodec cuts a tensor into ranges of whole blocks on all cores: its bytes and values must be
/// those of one scalar-kernel call over the whole tensor, whatever the input type, blocksize and a
/// partial last block.
final class FourBitCodecTests: XCTestCase {
    /// Large enough for several ranges at every blocksize (at least 2^18 values), with a partial last block.
    private let count = 300_001

    func testRangesOnAllCoresGiveTheBytesOfOneScalarCall() {
        var generator = SeededGenerator(seed: 7)
        var values = generator.normal(count, scale: 0.05)
        values[count - 1] = 3   // the partial block's absmax
        values[1000] = -0.0
        let encodings: [(DType, [UInt8])] = [
            (.f32, values.withUnsafeBytes { Array($0) }),
            (.f16, values.map { Float16($0).bitPattern }.withUnsafeBytes { Array($0) }),
            (.bf16, values.map { UInt16($0.bitPattern >> 16) }.withUnsafeBytes { Array($0) }),
        ]
        for (dtype, bytes) in encodings {
            for type in FourBitType.allCases {
                for blocksize in [64, 128, 4096] {
                    let label = "\(dtype) \(type) blocksize \(blocksize)"
                    let blocks = (count + blocksize - 1) / blocksize
                    var packed = [UInt8](repeating: 0, count: (count + 1) / 2), absmax = [Float](repeating: 0, count: blocks)
                    bytes.withUnsafeBytes {
                        qk_quantize_4bit_scalar($0.baseAddress, dtype.kernelCode, Int64(count), Int64(blocksize), 1,
                                                type.midpoints, type.indexOfPosition, &packed, &absmax)
                    }
                    let codec = bytes.withUnsafeBytes {
                        FourBitCodec.quantize($0.baseAddress!, dtype: dtype, count: count, type: type, blocksize: blocksize)
                    }
                    XCTAssertEqual(codec.packed, packed, label)
                    XCTAssertEqual(codec.absmax, absmax, label)

                    var expected = [Float](repeating: 0, count: count)
                    qk_dequantize_4bit_scalar(packed, absmax, type.code, Int64(count), Int64(blocksize), &expected)
                    let dequantized = FourBitCodec.dequantized(packed, absmax: absmax, type: type, blocksize: blocksize, count: count)
                    XCTAssertEqual(dequantized.map(\.bitPattern), expected.map(\.bitPattern), label)
                }
            }
        }
    }
}
