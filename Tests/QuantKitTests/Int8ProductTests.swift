import CQuantKernels
import XCTest
@testable import QuantKit

/// The exact int8 × int8 → int32 product: the scalar kernel against a plain Int64 sum of the unpacked
/// codes, every fast variant against the scalar kernel, and Int8Weight's packed codes against CB.
final class Int8ProductTests: XCTestCase {
    /// Random codes over the whole int8 range, with runs of −128 and ±127 (the extremes of both
    /// operands' products) at the start of every row.
    private func codes(_ count: Int, rowLength: Int, seed: UInt64) -> [Int8] {
        var generator = SplitMix64(seed: seed)
        var values = (0..<count).map { _ in Int8(truncatingIfNeeded: generator.next()) }
        for i in values.indices where i % rowLength < 12 { values[i] = [-128, 127, -127][i % 3] }
        return values
    }

    private func pack(_ b: [Int8], n: Int, k: Int) -> (packed: [Int8], offsets: [Int32]) {
        var packed = [Int8](repeating: 0, count: Int(qk_int8_packed_size(Int64(n), Int64(k))))
        var offsets = [Int32](repeating: 0, count: (n + 15) / 16 * 16)
        qk_int8_pack(b, Int64(n), Int64(k), &packed, &offsets)
        return (packed, offsets)
    }

    /// Columns first..<first+columns of A · Bᵀ with `variant`; nil when the CPU lacks it.
    private func run(_ a: [Int8], m: Int, k: Int, _ packed: (packed: [Int8], offsets: [Int32]), first: Int, columns: Int,
                     variant: Int32) -> [Int32]? {
        var c = [Int32](repeating: -1, count: m * columns)
        let status = qk_int8_product_variant(a, Int64(m), Int64(k), packed.packed, packed.offsets, Int64(first), Int64(columns),
                                             &c, Int64(columns), variant)
        return status == 0 ? c : nil
    }

    private let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (1, 16, 4), (1, 17, 3), (2, 15, 17), (3, 33, 63), (7, 31, 65), (8, 16, 64), (9, 47, 130), (17, 20, 4097),
        // Past the kernels' depth chunks (1024), with whole and partial groups of rows (8, 2) and tiles (3 × 16).
        (13, 83, 1024), (16, 112, 1025), (11, 49, 2049), (64, 130, 1030),
    ]

    func testScalarKernelIsTheExactProduct() {
        for (index, shape) in shapes.enumerated() {
            let (m, n, k) = shape
            let a = codes(m * k, rowLength: k, seed: UInt64(2 * index)), b = codes(n * k, rowLength: k, seed: UInt64(2 * index + 1))
            let c = run(a, m: m, k: k, pack(b, n: n, k: k), first: 0, columns: n, variant: 0)!
            for i in 0..<m {
                for j in 0..<n {
                    let exact = (0..<k).reduce(Int64(0)) { $0 + Int64(a[i * k + $1]) * Int64(b[j * k + $1]) }
                    XCTAssertEqual(Int64(c[i * n + j]), exact, "\(m)×\(n)×\(k) [\(i)][\(j)]")
                }
            }
        }
    }

    func testFastVariantsEqualTheScalarKernel() {
        var variantsRun = Set<Int32>()
        for (index, shape) in shapes.enumerated() {
            let (m, n, k) = shape
            let a = codes(m * k, rowLength: k, seed: UInt64(100 + index)), b = pack(codes(n * k, rowLength: k, seed: UInt64(200 + index)), n: n, k: k)
            // The whole product, and a column range that starts on a later block (how the runtime splits it).
            for (first, columns) in [(0, n), (16, n - 16)] where columns > 0 {
                let reference = run(a, m: m, k: k, b, first: first, columns: columns, variant: 0)
                for variant in [Int32(1), 2] {
                    guard let fast = run(a, m: m, k: k, b, first: first, columns: columns, variant: variant) else { continue }
                    variantsRun.insert(variant)
                    XCTAssertEqual(fast, reference, "\(m)×\(n)×\(k) columns \(first)+\(columns) variant \(variant)")
                }
            }
        }
        XCTAssertTrue(variantsRun.contains(1), "the AVX2 path ran")
        if qk_has_avx512_vnni() == 1 { XCTAssertTrue(variantsRun.contains(2), "the AVX-512 VNNI path ran") }
    }

    /// Sums past 2^24 (where fp32 stops being exact) up to the largest k, extremes only: −128 · −128
    /// everywhere reaches 16384 · k, just under 2^31.
    func testExtremeSumsStayExact() {
        let m = 3, n = 17, k = Int(QK_INT8_PRODUCT_MAX_K)
        let a = [Int8](repeating: -128, count: m * k)
        var b = [Int8](repeating: -128, count: n * k)
        for i in 0..<k { b[k + i] = 127; b[2 * k + i] = i % 2 == 0 ? 127 : -128 }
        let packed = pack(b, n: n, k: k)
        let reference = run(a, m: m, k: k, packed, first: 0, columns: n, variant: 0)!
        XCTAssertEqual(reference[0], Int32(16384 * k))
        XCTAssertEqual(reference[1], Int32(-128 * 127 * k))
        XCTAssertEqual(reference[2], Int32(-128 * 127 * (k + 1) / 2 + 16384 * (k / 2)))
        for variant in [Int32(1), 2] {
            guard let fast = run(a, m: m, k: k, packed, first: 0, columns: n, variant: variant) else { continue }
            XCTAssertEqual(fast, reference, "variant \(variant)")
        }
    }

    /// Int8Weight quantizes and packs groups of 16 rows on all cores: every code, scale and product
    /// (which the column offsets correct on VNNI) is what one whole-matrix quantization gives.
    func testInt8WeightReadsBackItsCodes() {
        for (n, k) in [(21, 35), (300, 35), (1000, 7)] {
            var generator = SeededGenerator(seed: UInt64(n))
            let weight = generator.normal(n * k, scale: 0.05)
            var codes = [Int8](repeating: 0, count: n * k)
            var scale = [Float](repeating: 0, count: n)
            weight.withUnsafeBytes { qk_quantize_int8_rows($0.baseAddress, Int32(QK_F32), Int64(n), Int64(k), &codes, &scale) }
            let int8 = Int8Weight(weight, n: n, k: k)
            XCTAssertEqual(int8.scale, scale)
            for row in 0..<n { for column in 0..<k { XCTAssertEqual(int8.code(row: row, column: column), codes[row * k + column]) } }
            let x = generator.normal(3 * k)
            let activation = Int8Rowwise.quantize(x, rows: 3, columns: k)
            var expected = [Int32](repeating: 0, count: 3 * n)
            for r in 0..<3 {
                for j in 0..<n {
                    for c in 0..<k { expected[r * n + j] += Int32(activation.codes[r * k + c]) * Int32(codes[j * k + c]) }
                }
            }
            XCTAssertEqual(int8.product(activation), expected, "\(n)×\(k)")
        }
    }
}
