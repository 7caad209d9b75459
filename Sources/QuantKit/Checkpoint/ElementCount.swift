/// Element counts of shapes read from files, refused before anything multiplies them.
///
/// Code multiplies dimensions in several orders — PyTorch's (outermost first: SafetensorsWriter,
/// reductions over the reversed GGML shape), GGML's (innermost first), and in pieces (rows × columns,
/// a row's bytes). With a zero dimension the full product is 0 whatever the others are, yet a
/// partial product of the others can overflow ([0, 2^62, 2^62] is 0 one way and a trap the other).
/// So a shape is accepted only when the product of its non-zero dimensions, times the widest element
/// size it will be written in, fits in an Int: every partial product in any order is then no larger.
public enum ElementCount {
    /// The shape's element count (0 when a dimension is 0), or nil when a dimension is negative or the
    /// non-zero dimensions × `bytesPerElement` overflow.
    public static func of(_ dimensions: [Int], bytesPerElement: Int) -> Int? {
        var nonZero = bytesPerElement
        var hasZero = false
        for dimension in dimensions {
            guard dimension >= 0 else { return nil }
            if dimension == 0 { hasZero = true; continue }
            let (product, overflow) = nonZero.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            nonZero = product
        }
        return hasZero ? 0 : nonZero / bytesPerElement
    }
}
