import CBLAS

/// Row-major single-precision matrix products through OpenBLAS `cblas_sgemm`.
///
/// OpenBLAS runs single-threaded here (`BLAS.useSingleThreaded`); the runtime spreads the work over the
/// cores itself: a large product is cut into column blocks, one sgemm each, run in parallel
/// (`matrixMultiplyParallel`), and attention runs its heads in parallel. With OpenBLAS's own threads
/// on top, its idle workers spin in sched_yield against the runtime's element-wise work — measured as a
/// fifth of the forward pass on 2 cores.
public enum BLAS {
    /// Sets OpenBLAS to one thread for the whole process, once. Call it early: OpenBLAS starts its
    /// thread pool when the library loads, and idle workers spin in sched_yield on a 2-core machine
    /// (measured: 15% of the weight analysis, which never calls BLAS).
    public static let useSingleThreaded: Void = openblas_set_num_threads(1)
}

/// C[m×n] = alpha · A[m×k] · op(B) + beta · C, where op(B) is B[k×n] or, with `transposeB`, Bᵀ of a
/// stored B[n×k]. Leading dimensions allow views into wider buffers (one head of q, a column block).
@inline(__always)
func matrixMultiply(m: Int, n: Int, k: Int, alpha: Float = 1,
                    a: UnsafePointer<Float>, lda: Int,
                    b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The same product with the columns of C cut into blocks of at least `minimumColumns` (multiples of
/// 16), each its own sgemm, run on all cores.
func matrixMultiplyParallel(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, minimumColumns: Int = 64) {
    let blocks = (n + 15) / 16
    Parallel.forEach(blocks, grain: max(1, minimumColumns / 16)) { part in
        let first = part.lowerBound * 16, last = min(part.upperBound * 16, n)
        matrixMultiply(m: m, n: last - first, k: k, a: a, lda: lda,
                       b: transposeB ? b + first * ldb : b + first, ldb: ldb, transposeB: transposeB,
                       beta: beta, c: c + first, ldc: ldc)
    }
}

extension BLAS {
    /// X (rows × k) · Wᵀ (W: n × k) → rows × n in fp32, column blocks on all cores (under `fewRows` rows,
    /// `fewRowsProduct`): the products of the output errors, and the matmul the benchmarks measure them
    /// against.
    public static func product(_ x: [Float], rows: Int, _ w: [Float], n: Int, k: Int) -> [Float] {
        if rows < fewRows { return fewRowsProduct(x, rows: rows, w, n: n, k: k) }
        var y = [Float](repeating: 0, count: rows * n)
        x.withUnsafeBufferPointer { x in
            w.withUnsafeBufferPointer { w in
                y.withUnsafeMutableBufferPointer { y in
                    matrixMultiplyParallel(m: rows, n: n, k: k, a: x.baseAddress!, lda: k, b: w.baseAddress!, ldb: k,
                                           transposeB: true, beta: 0, c: y.baseAddress!, ldc: n)
                }
            }
        }
        return y
    }

    /// Below this many rows `product` computes Yᵀ = W · Xᵀ instead.
    static let fewRows = 128

    /// X · Wᵀ for few rows (the output errors' 64 sampled rows), as Yᵀ = W · Xᵀ in slabs of at most 512
    /// weight rows, each slab's 512 × rows result transposed into Y; slabs on all cores. With few rows
    /// every weight value serves few products, and OpenBLAS's packing of the weight shows: for 64 rows,
    /// sgemm on one core reached 59–75 GFLOP/s as X · Wᵀ and 78–88 this way (SkylakeX and Haswell
    /// kernels, 1B and 7B MLP shapes; docs/BENCHMARKS.md, part 6). With the SkylakeX kernel the bits are
    /// X · Wᵀ's; with the Haswell kernel (AVX2-only machines) the last bits move.
    static func fewRowsProduct(_ x: [Float], rows: Int, _ w: [Float], n: Int, k: Int) -> [Float] {
        let slab = max(16, min(512, (n / Parallel.workers + 15) / 16 * 16))
        return [Float](unsafeUninitializedCapacity: rows * n) { y, initialized in
            x.withUnsafeBufferPointer { x in
                w.withUnsafeBufferPointer { w in
                    Parallel.perform(iterations: (n + slab - 1) / slab) { index in
                        let first = index * slab, count = min(slab, n - first)
                        let transposed = UnsafeMutablePointer<Float>.allocate(capacity: count * rows)
                        defer { transposed.deallocate() }
                        matrixMultiply(m: count, n: rows, k: k, a: w.baseAddress! + first * k, lda: k, b: x.baseAddress!, ldb: k,
                                       transposeB: true, beta: 0, c: transposed, ldc: rows)
                        for r in 0..<rows {
                            let destination = y.baseAddress! + r * n + first
                            for i in 0..<count { destination[i] = transposed[i * rows + r] }
                        }
                    }
                }
            }
            initialized = rows * n
        }
    }
}

/// A Linear layer with its weight as Float: y = x · Wᵀ + b. nn.Linear stores W as [out, in]; GPT-2's
/// Conv1D stores it as [in, out] (`storedTransposed`), which the product reads as it is.
struct Linear {
    let weight: WeightBuffer
    let bias: WeightBuffer?
    let storedTransposed: Bool

    var outFeatures: Int { storedTransposed ? weight.shape[1] : weight.shape[0] }
    var inFeatures: Int { storedTransposed ? weight.shape[0] : weight.shape[1] }

    /// output[r] = input[r] · Wᵀ + b for `rows` rows, or output[r] += … with `accumulate` (a residual
    /// connection added in the same product). Strides default to packed rows.
    func apply(_ input: UnsafePointer<Float>, rows: Int, inputStride: Int? = nil,
               into output: UnsafeMutablePointer<Float>, outputStride: Int? = nil, accumulate: Bool = false) {
        let outputStride = outputStride ?? outFeatures
        if let int8 = weight.int8 {
            applyInt8(int8.weight, threshold: int8.threshold, input, rows: rows, inputStride: inputStride ?? inFeatures,
                      into: output, outputStride: outputStride, accumulate: accumulate)
            return
        }
        if let bias {
            for row in 0..<rows {
                let destination = output + row * outputStride
                if accumulate {
                    for j in 0..<outFeatures { destination[j] += bias.pointer[j] }
                } else {
                    destination.update(from: bias.pointer, count: outFeatures)
                }
            }
        }
        matrixMultiplyParallel(m: rows, n: outFeatures, k: inFeatures, a: input, lda: inputStride ?? inFeatures,
                               b: weight.pointer, ldb: storedTransposed ? outFeatures : inFeatures, transposeB: !storedTransposed,
                               beta: bias != nil || accumulate ? 1 : 0, c: output, ldc: outputStride)
    }

    /// The simulated LLM.int8 product (QuantizationSimulation.swift), then bias and residual.
    private func applyInt8(_ int8: Int8Weight, threshold: Float, _ input: UnsafePointer<Float>, rows: Int, inputStride: Int,
                           into output: UnsafeMutablePointer<Float>, outputStride: Int, accumulate: Bool) {
        let k = inFeatures, n = outFeatures
        let x = [Float](unsafeUninitializedCapacity: rows * k) { x, initialized in
            for r in 0..<rows { (x.baseAddress! + r * k).update(from: input + r * inputStride, count: k) }
            initialized = rows * k
        }
        let y = int8.output(x, rows: rows, threshold: threshold)
        y.withUnsafeBufferPointer { y in
            for r in 0..<rows {
                let destination = output + r * outputStride, source = y.baseAddress! + r * n
                if let bias {
                    for j in 0..<n { destination[j] = accumulate ? destination[j] + (source[j] + bias.pointer[j]) : source[j] + bias.pointer[j] }
                } else {
                    for j in 0..<n { destination[j] = accumulate ? destination[j] + source[j] : source[j] }
                }
            }
        }
    }
}
