/// Weights as Float, loaded when a block needs them and let go when the last reference goes: F32 tensors
/// are read in place from the mapping (when 4-byte aligned), F16/BF16 ones and GGUF blocks are decoded
/// into a copy.
/// Every buffer counts while it is alive, so `memory.peakBytes` is what the runtime really held at once —
/// the layer-streaming bound is a measured number.
final class WeightStore {
    let checkpoint: Checkpoint
    private(set) var memory = WeightMemory()
    /// When set, converted Linear weights are loaded as the plan's quantization reconstructs them.
    var simulation: (plan: ExportPlan, layers: [String: LinearLayer])?

    init(checkpoint: Checkpoint) { self.checkpoint = checkpoint }

    /// The whole tensor, or rows `rows` of a 2-D tensor — a converted Linear weight as the simulated
    /// quantization reconstructs it, when one is set.
    func load(_ tensor: TensorInfo, rows: Range<Int>? = nil) -> WeightBuffer {
        guard let simulation, let layer = simulation.layers[tensor.name], rows == nil else { return loadStored(tensor, rows: rows) }
        // The stored buffer must outlive the read (a decoded copy is freed with it).
        let stored = loadStored(tensor, rows: nil)
        let plan = simulation.plan
        return withExtendedLifetime(stored) {
            guard let type = plan.method.fourBitType else {
                return WeightBuffer(name: tensor.name, shape: tensor.shape,
                                    int8: SimulatedLinear.int8Weight(stored.pointer, layer: layer), threshold: Float(plan.threshold), store: self)
            }
            let buffer = WeightBuffer(name: tensor.name, shape: tensor.shape, store: self)
            SimulatedLinear.fourBitWeight(stored.pointer, layer: layer, type: type, plan: plan, into: buffer.owned!)
            return buffer
        }
    }

    private func loadStored(_ tensor: TensorInfo, rows: Range<Int>?) -> WeightBuffer {
        let columns = tensor.shape.count == 2 ? tensor.shape[1] : tensor.elementCount
        let rows = rows ?? 0..<(tensor.shape.count == 2 ? tensor.shape[0] : 1)
        let shape = tensor.shape.count == 2 ? [rows.count, columns] : tensor.shape
        let bytes = checkpoint.bytes(of: tensor)
        let start = rows.lowerBound * columns, count = rows.count * columns
        if tensor.dtype == .f32, tensor.gguf == nil, let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            let view = base.assumingMemoryBound(to: Float.self) + start
            return WeightBuffer(name: tensor.name, shape: shape, view: view, store: self)
        }
        let buffer = WeightBuffer(name: tensor.name, shape: shape, store: self)
        TensorDecoder.decode(tensor, bytes: bytes, start: start, count: count, into: buffer.owned!)
        return buffer
    }

    fileprivate func acquired(_ bytes: Int, decoded: Bool) {
        memory.liveBytes += bytes
        memory.loadedBytes += bytes
        if decoded { memory.decodedBytes += bytes }
        memory.peakBytes = max(memory.peakBytes, memory.liveBytes)
    }

    fileprivate func released(_ bytes: Int) { memory.liveBytes -= bytes }
}

/// Weight accounting of a runtime. "In use" counts decoded copies and F32 tensors read in place alike
/// (the latter are pages of the mapping the kernel may drop and re-read, but a block holds them).
public struct WeightMemory: Sendable, Equatable {
    /// Weight bytes in use now.
    public var liveBytes = 0
    /// The most weight bytes in use at once.
    public var peakBytes = 0
    /// All weight bytes loaded so far (a streamed forward pass loads each block once)…
    public var loadedBytes = 0
    /// …and how many of them were decoded into copies (F16, BF16, unaligned F32).
    public var decodedBytes = 0
}

/// One tensor as Float: a decoded copy it owns, or a view of F32 data in the mapping — or, for a simulated
/// int8 Linear, only its Int8Weight (the product then runs as LLM.int8 does; there are no Floats to read).
/// Its bytes count as in use in its store until it is released.
final class WeightBuffer {
    let name: String
    let shape: [Int]
    /// The copy, when this buffer owns one.
    let owned: UnsafeMutablePointer<Float>?
    let int8: (weight: Int8Weight, threshold: Float)?
    let byteCount: Int
    private let floats: UnsafePointer<Float>?
    private unowned let store: WeightStore

    /// The values as Float; a simulated int8 weight has none, and only Linear reads it (through `int8`).
    var pointer: UnsafePointer<Float> {
        guard let floats else { preconditionFailure("\(name) is a simulated int8 weight: it has no Float values") }
        return floats
    }

    fileprivate init(name: String, shape: [Int], store: WeightStore) {
        let count = max(shape.reduce(1, *), 1)
        let copy = UnsafeMutablePointer<Float>.allocate(capacity: count)
        (self.name, self.shape, self.store, owned, floats, int8) = (name, shape, store, copy, UnsafePointer(copy), nil)
        byteCount = shape.reduce(1, *) * MemoryLayout<Float>.size
        store.acquired(byteCount, decoded: true)
    }

    fileprivate init(name: String, shape: [Int], view: UnsafePointer<Float>, store: WeightStore) {
        (self.name, self.shape, self.store, owned, floats, int8) = (name, shape, store, nil, view, nil)
        byteCount = shape.reduce(1, *) * MemoryLayout<Float>.size
        store.acquired(byteCount, decoded: false)
    }

    fileprivate init(name: String, shape: [Int], int8: Int8Weight, threshold: Float, store: WeightStore) {
        (self.name, self.shape, self.store, owned, floats, self.int8) = (name, shape, store, nil, nil, (int8, threshold))
        byteCount = int8.byteCount
        store.acquired(byteCount, decoded: true)
    }

    deinit {
        owned?.deallocate()
        store.released(byteCount)
    }
}

/// The tensors of one block, by name relative to the block (e.g. `self_attn.q_proj.weight`), loaded when
/// first asked for. What `subscript` and `optional` hand out (norms, biases: their pointers are read after
/// the call) stays loaded until the block is let go. A Linear's weight stays too when the block runs in
/// several chunks; in one chunk it is loaded for its product and let go with the Linear — a block then
/// holds one Linear weight at a time instead of all seven (as Float at 7B: 235 MB instead of 872 MB).
final class BlockWeights {
    private let load: (String) -> WeightBuffer?
    private let keepsLinearWeights: Bool
    private var kept: [String: WeightBuffer] = [:]

    init(keepsLinearWeights: Bool, load: @escaping (String) -> WeightBuffer?) {
        self.keepsLinearWeights = keepsLinearWeights
        self.load = load
    }

    /// Tensors the runtime validated at start-up; a missing one here is a programming error.
    subscript(_ name: String) -> WeightBuffer {
        guard let tensor = optional(name) else { preconditionFailure("block tensor \(name) is not in the checkpoint") }
        return tensor
    }

    func optional(_ name: String) -> WeightBuffer? {
        if let tensor = kept[name] { return tensor }
        let tensor = load(name)
        kept[name] = tensor
        return tensor
    }

    /// A Linear module: `name.weight` and, when the block has it, `name.bias`.
    func linear(_ name: String, transposed: Bool = false) -> Linear {
        let weightName = name + ".weight"
        let weight = keepsLinearWeights ? self[weightName] : kept[weightName] ?? load(weightName)
        guard let weight else { preconditionFailure("block tensor \(weightName) is not in the checkpoint") }
        return Linear(weight: weight, bias: optional(name + ".bias"), storedTransposed: transposed)
    }
}
