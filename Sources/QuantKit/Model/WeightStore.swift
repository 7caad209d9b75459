/// Float copies of weights, decoded from the mapping (F32/F16/BF16) when a block needs them and freed
/// when the last reference goes. Every decoded buffer is counted while it is alive, so `memory.peakBytes`
/// is what the runtime really held at once — the layer-streaming bound is a measured number.
final class WeightStore {
    let checkpoint: Checkpoint
    private(set) var memory = WeightMemory()

    init(checkpoint: Checkpoint) { self.checkpoint = checkpoint }

    /// The whole tensor, or rows [first, first + count) of a 2-D tensor.
    func decode(_ tensor: TensorInfo, rows: Range<Int>? = nil) -> DecodedTensor {
        let columns = tensor.shape.count == 2 ? tensor.shape[1] : tensor.elementCount
        let rows = rows ?? 0..<(tensor.shape.count == 2 ? tensor.shape[0] : 1)
        let decoded = DecodedTensor(name: tensor.name, shape: tensor.shape.count == 2 ? [rows.count, columns] : tensor.shape, store: self)
        TensorDecoder.decode(tensor.dtype, bytes: checkpoint.bytes(of: tensor), start: rows.lowerBound * columns,
                             count: rows.count * columns, into: decoded.values)
        return decoded
    }

    fileprivate func allocated(_ bytes: Int) {
        memory.liveBytes += bytes
        memory.decodedBytes += bytes
        memory.buffers += 1
        memory.peakBytes = max(memory.peakBytes, memory.liveBytes)
    }

    fileprivate func freed(_ bytes: Int) { memory.liveBytes -= bytes }

    func resetPeak() { memory.peakBytes = memory.liveBytes }
}

/// Decoded-weight accounting of a runtime: what is alive now, the most that was alive at once, and
/// everything decoded so far (a streamed forward pass decodes each block once).
public struct WeightMemory: Sendable, Equatable {
    public var liveBytes = 0
    public var peakBytes = 0
    public var decodedBytes = 0
    public var buffers = 0
}

/// One decoded tensor; its bytes count as live in its store until it is released.
final class DecodedTensor {
    let name: String
    let shape: [Int]
    let values: UnsafeMutablePointer<Float>
    let count: Int
    private unowned let store: WeightStore

    fileprivate init(name: String, shape: [Int], store: WeightStore) {
        self.name = name
        self.shape = shape
        self.store = store
        count = shape.reduce(1, *)
        values = .allocate(capacity: max(count, 1))
        store.allocated(count * MemoryLayout<Float>.size)
    }

    deinit {
        values.deallocate()
        store.freed(count * MemoryLayout<Float>.size)
    }

    var pointer: UnsafePointer<Float> { UnsafePointer(values) }
}

/// The decoded tensors of one block, by name relative to the block (e.g. `self_attn.q_proj.weight`).
struct BlockWeights {
    let tensors: [String: DecodedTensor]

    /// Tensors the runtime validated at start-up; a missing one here is a programming error.
    subscript(_ name: String) -> DecodedTensor {
        guard let tensor = tensors[name] else { preconditionFailure("block tensor \(name) was not loaded") }
        return tensor
    }

    func optional(_ name: String) -> DecodedTensor? { tensors[name] }

    /// A Linear module: `name.weight` and, when the block has it, `name.bias`.
    func linear(_ name: String, transposed: Bool = false) -> Linear {
        Linear(weight: self[name + ".weight"], bias: optional(name + ".bias"), storedTransposed: transposed)
    }
}
