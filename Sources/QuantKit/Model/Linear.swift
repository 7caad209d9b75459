import CBLAS

/// Row-major single-precision matrix product through OpenBLAS:
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

/// A Linear layer with its decoded weight: y = x · Wᵀ + b. nn.Linear stores W as [out, in]; GPT-2's
/// Conv1D stores it as [in, out] (`storedTransposed`), which the product reads as it is.
struct Linear {
    let weight: DecodedTensor
    let bias: DecodedTensor?
    let storedTransposed: Bool

    var outFeatures: Int { storedTransposed ? weight.shape[1] : weight.shape[0] }
    var inFeatures: Int { storedTransposed ? weight.shape[0] : weight.shape[1] }

    /// output[r] = input[r] · Wᵀ + b for `rows` rows, or output[r] += … with `accumulate` (a residual
    /// connection added in the same product). Strides default to packed rows.
    func apply(_ input: UnsafePointer<Float>, rows: Int, inputStride: Int? = nil,
               into output: UnsafeMutablePointer<Float>, outputStride: Int? = nil, accumulate: Bool = false) {
        let outputStride = outputStride ?? outFeatures
        if let bias {
            for row in 0..<rows {
                let destination = output + row * outputStride
                if accumulate {
                    for j in 0..<outFeatures { destination[j] += bias.values[j] }
                } else {
                    destination.update(from: bias.values, count: outFeatures)
                }
            }
        }
        matrixMultiply(m: rows, n: outFeatures, k: inFeatures, a: input, lda: inputStride ?? inFeatures,
                       b: weight.pointer, ldb: storedTransposed ? outFeatures : inFeatures, transposeB: !storedTransposed,
                       beta: bias != nil || accumulate ? 1 : 0, c: output, ldc: outputStride)
    }
}
