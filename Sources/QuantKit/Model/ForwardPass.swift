import Foundation

/// One family's forward pass, cut into the pieces the runtime streams: the embeddings of all tokens,
/// then block after block over every chunk (a chunk is one independent sequence, positions from 0), then
/// the final step. Blocks see only their own loaded weights.
protocol ForwardPass {
    var description: ModelDescription { get }
    /// Tensors outside the blocks the pass reads (full names); checked at start-up.
    var globalTensors: [TensorSpec] { get }
    /// The output head matrix [vocab, hidden] when the model has one.
    var outputHead: String? { get }
    /// Name prefix of block `index`, e.g. `model.layers.3.`.
    func blockPrefix(_ index: Int) -> String
    /// The tensors of block `index`, named relative to its prefix.
    func blockTensors(_ index: Int) -> [TensorSpec]
    /// Writes the input of block 0 for every token (rows of `hidden`).
    func embed(_ tokens: [Int], chunks: [Range<Int>], into hidden: UnsafeMutablePointer<Float>, run: RunContext) throws
    /// Runs block `index` in place on the rows of one chunk.
    func block(_ index: Int, weights: BlockWeights, chunk: Range<Int>, hidden: UnsafeMutablePointer<Float>, run: RunContext) throws
    /// After the last block: the final norm (in place) and anything else the model computes (BERT's pooler).
    func finish(chunks: [Range<Int>], hidden: UnsafeMutablePointer<Float>, run: RunContext) throws
}

/// A tensor the pass reads and the shape it must have.
struct TensorSpec {
    let name: String
    let shape: [Int]
}

/// State of one forward call: the weight store, reusable scratch buffers, rotary tables, the observer.
final class RunContext {
    let store: WeightStore
    let observer: ((LinearInput) throws -> Void)?
    let rotary: RotaryTable?
    /// Positions the rotary tables cover (the longest chunk).
    let positions: Int
    private var buffers: [String: (pointer: UnsafeMutablePointer<Float>, capacity: Int)] = [:]
    private var rotaryTables: [(config: RotaryConfig, table: RotaryTable)] = []

    init(store: WeightStore, observer: ((LinearInput) throws -> Void)?, rotary: RotaryTable?, positions: Int) {
        self.store = store
        self.observer = observer
        self.rotary = rotary
        self.positions = positions
    }

    /// The table of a block whose rotary settings are its own (Gemma 3's sliding layers have another
    /// base), made once per call and kept for the blocks after.
    func rotaryTable(_ config: RotaryConfig) -> RotaryTable {
        if let known = rotaryTables.first(where: { $0.config == config }) { return known.table }
        let table = RotaryTable(config, positions: positions)
        rotaryTables.append((config, table))
        return table
    }

    deinit { for buffer in buffers.values { buffer.pointer.deallocate() } }

    /// A scratch buffer of at least `count` floats, kept for the rest of the call (contents undefined).
    func scratch(_ key: String, count: Int) -> UnsafeMutablePointer<Float> {
        if let buffer = buffers[key], buffer.capacity >= count { return buffer.pointer }
        buffers[key]?.pointer.deallocate()
        let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        buffers[key] = (pointer, count)
        return pointer
    }

    /// Shows the observer the input of Linear `module` for tokens firstToken..<firstToken + rows.
    /// `routedTokens`: a routed expert's rows, see `LinearInput.routedTokens`.
    func observe(_ module: String, block: Int?, firstToken: Int, _ values: UnsafePointer<Float>, rows: Int, columns: Int,
                 routedTokens: [Int]? = nil) throws {
        guard let observer else { return }
        try observer(LinearInput(name: module, block: block, firstToken: firstToken, tokens: rows, features: columns,
                                 values: UnsafeBufferPointer(start: values, count: rows * columns), routedTokens: routedTokens))
    }

    /// Decodes one row of a tensor (an embedding) into `destination`, or adds it with `add`.
    func embeddingRow(_ tensor: TensorInfo, row: Int, into destination: UnsafeMutablePointer<Float>, add: Bool = false) {
        let width = tensor.shape[1]
        let target = add ? scratch("embedding-row", count: width) : destination
        TensorDecoder.decode(tensor, bytes: store.checkpoint.bytes(of: tensor), start: row * width, count: width, into: target)
        if add { for i in 0..<width { destination[i] += target[i] } }
    }

    /// The embedding rows of `tokens`, one after another from `destination` (`width` floats each).
    func embed(_ tokens: [Int], table: TensorInfo, width: Int, into destination: UnsafeMutablePointer<Float>) {
        for (row, token) in tokens.enumerated() { embeddingRow(table, row: token, into: destination + row * width) }
    }

    /// A global tensor (validated at start-up), loaded through the store.
    func load(_ name: String) -> WeightBuffer {
        guard let tensor = store.checkpoint.tensor(named: name) else { preconditionFailure("tensor \(name) was not validated") }
        return store.load(tensor)
    }

    func tensor(_ name: String) -> TensorInfo {
        guard let tensor = store.checkpoint.tensor(named: name) else { preconditionFailure("tensor \(name) was not validated") }
        return tensor
    }
}

/// Shows a block's Linear inputs to the run's observer under the block's module names, for one chunk:
/// `try observe("self_attn.q_proj", normed, columns: width)`. Every family's block makes one.
struct BlockObserver {
    let run: RunContext
    let module: String
    let block: Int
    let chunk: Range<Int>

    func callAsFunction(_ name: String, _ values: UnsafePointer<Float>, columns: Int) throws {
        try run.observe(module + name, block: block, firstToken: chunk.lowerBound, values, rows: chunk.count, columns: columns)
    }
}

/// A block's converted Linears, each shown to the observer just before it runs on the chunk's rows:
/// `try linear("mlp.up_proj", normed, into: up)`. Every family's block makes one beside its observer.
struct BlockLinears {
    let weights: BlockWeights
    let observe: BlockObserver

    func callAsFunction(_ name: String, _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                        accumulate: Bool = false, transposed: Bool = false) throws {
        let linear = weights.linear(name, transposed: transposed)
        try observe(name, input, columns: linear.inFeatures)
        linear.apply(input, rows: observe.chunk.count, into: output, accumulate: accumulate)
    }
}
