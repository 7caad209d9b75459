/// How one GGUF tensor's stored blocks become the float32 tensor transformers' GGUF loading makes of it
/// (what a converted model.safetensors held, value for value), decoded a range at a time where it is
/// read — the GGUF is never expanded on disk:
///
///     stored   |block|block|…|   rows of ne[0] values (a whole number of blocks), ggml's order = PyTorch's
///     row r of the result = stored row source(r):
///         source(r) = r                                        most tensors
///         source(r) = h·d + 2j + i   for r = h·d + i·d/2 + j   q/k of a permuting architecture (llama),
///                                                             d = head_dim (GGUFRoPEPermutation)
///     value    = dequantized (GGUFDequantize), then − 1 for a norm stored as w + 1 (Gemma), in float32
///
/// Every step is the one the old conversion applied to the whole tensor, so each value has the same bits.
public struct GGUFTransform: Sendable, Hashable {
    public let type: GGMLType
    /// ne[0]: values in a stored row.
    public let rowLength: Int
    /// head_dim of a q/k weight whose rows are un-permuted; nil: rows as stored.
    public let ropeHeadDim: Int?
    /// A norm stored as w + 1 (GGUFArchitecture.normsStoredPlusOne).
    public let subtractsOne: Bool

    /// `heads`: the q/k weight's head count when its rows are un-permuted; refused (one line) when the
    /// rows do not split into heads of an even size, or the type has no decoder.
    init(_ tensor: GGUFTensor, ropeHeads heads: Int?, subtractsOne: Bool, file: GGUFFile) throws {
        guard tensor.type.isDequantizable, tensor.byteCount != nil else {
            throw CheckpointError(file: file.path, .unsupportedGGMLType(tensor.type.description, known: tensor.type.isKnown, tensor: tensor.name))
        }
        type = tensor.type
        rowLength = tensor.ggmlDimensions.first ?? 1
        self.subtractsOne = subtractsOne
        if let heads, tensor.shape.count == 2 {
            let rows = tensor.shape[0]
            guard heads > 0, rows % (2 * heads) == 0 else {
                throw CheckpointError(file: file.path, .invalidEntry(tensor: tensor.name,
                                                                     reason: "\(rows) rows do not split into \(heads) heads of an even size"))
            }
            ropeHeadDim = rows / heads
        } else {
            ropeHeadDim = nil
        }
    }

    /// The stored row that holds row `row` of the result.
    func sourceRow(_ row: Int) -> Int {
        guard let headDim = ropeHeadDim else { return row }
        let half = headDim / 2, within = row % headDim
        return row - within + 2 * (within % half) + within / half
    }

    /// Elements [start, start + count) of the result in flat row-major order, from the tensor's stored
    /// bytes (`bytes` = exactly its blocks). Whole rows decode straight into `destination`; a partial
    /// row goes through a row-sized buffer.
    func decode(_ bytes: UnsafeRawBufferPointer, start: Int, count: Int, into destination: UnsafeMutablePointer<Float>) {
        guard count > 0, let traits = type.traits else { return }
        let blocksPerRow = rowLength / traits.blockSize
        precondition(start >= 0 && start + count <= bytes.count / traits.bytesPerBlock * traits.blockSize,
                     "element range outside the tensor")
        var partial: UnsafeMutablePointer<Float>?
        defer { partial?.deallocate() }
        var element = start
        while element < start + count {
            let row = element / rowLength, column = element % rowLength
            let n = min(rowLength - column, start + count - element)
            let target = destination + (element - start)
            let firstBlock = sourceRow(row) * blocksPerRow
            if n == rowLength {
                GGUFDequantize.blocks(type, bytes: bytes, first: firstBlock, count: blocksPerRow, into: target)
            } else {
                if partial == nil { partial = .allocate(capacity: rowLength) }
                GGUFDequantize.blocks(type, bytes: bytes, first: firstBlock, count: blocksPerRow, into: partial!)
                target.update(from: partial! + column, count: n)
            }
            if subtractsOne { for i in 0..<n { target[i] -= 1 } }
            element += n
        }
    }
}
