import Foundation

/// Every tensor an export writes, where, and how big — known before a byte is written, so files are
/// laid out once and filled in any order, and the size is predicted exactly.
///
/// Per converted Linear with prefix P (bitsandbytes' save_pretrained layout):
///
///     8-bit   P.weight int8 [N, K] · P.SCB float32 [N] · P.weight_format uint8 [] (0 = "row")
///     4-bit   P.weight uint8 [ceil(N·K/2), 1] · P.weight.absmax float32 [blocks] · P.weight.quant_map float32 [16]
///             · P.weight.quant_state.bitsandbytes__nf4|__fp4 uint8 [JSON length]
///     4-bit+dq  P.weight.absmax uint8 [blocks] · P.weight.nested_absmax float32 [ceil(blocks/256)]
///             · P.weight.nested_quant_map float32 [256] in addition
///
/// Everything else (embeddings, norms, head, biases, skipped layers) is copied bit for bit, or with a
/// plan dtype converted to it (float tensors only).
public struct ExportLayout: Sendable {
    public enum Content: Sendable, Equatable {
        case copy(TensorInfo)
        /// A float tensor stored in the plan's dtype instead of its own.
        case cast(TensorInfo)
        case int8Codes(layer: Int)
        case int8Scale(layer: Int)
        case weightFormat
        case packed(layer: Int)
        case absmax(layer: Int)
        case absmaxCodes(layer: Int)
        case nestedAbsmax(layer: Int)
        case quantMap(FourBitType)
        case nestedQuantMap
        case quantState(layer: Int, json: [UInt8])
    }

    public struct Tensor: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public let content: Content
        public var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }
    }

    public struct Shard: Sendable {
        public let fileName: String
        /// In file order.
        public let tensors: [Tensor]
        public let header: Data
        public var dataStart: Int { 8 + header.count }
        public var fileBytes: Int { dataStart + tensors.reduce(0) { $0 + $1.byteCount } }
    }

    public let plan: ExportPlan
    /// The Linear layers that are converted (skipped ones are not here).
    public let converted: [LinearLayer]
    /// llm_int8_skip_modules as written to config.json: the plan's keys plus the output head, stored or
    /// tied. A non-empty list replaces transformers' default one (which keeps the head unconverted), so
    /// the head must be named for the loader to build it as a plain Linear: a tied head quantized by the
    /// loader breaks `generate` (bitsandbytes finds no quant state / no `CB` on the shared weight).
    public let skipModulesForConfig: [String]
    public let shards: [Shard]

    public var totalBytes: Int { shards.reduce(0) { $0 + $1.fileBytes } }
    public var tensorBytes: Int { shards.reduce(0) { $0 + $1.tensors.reduce(0) { $0 + $1.byteCount } } }

    /// `nestedOffset` gives a converted layer's double-quant offset (needed only with double quant:
    /// its digits set the length of the quant_state JSON).
    public init(checkpoint: Checkpoint, plan: ExportPlan, nestedOffset: (LinearLayer) throws -> Float) throws {
        self.plan = plan
        let linearPlan = LinearLayerPlan(checkpoint: checkpoint)
        var converted: [LinearLayer] = []
        var produced: [String: [Tensor]] = [:]
        for layer in linearPlan.linears where !plan.isSkipped(layer.name) {
            let index = converted.count
            converted.append(layer)
            produced[layer.weight.name] = try Self.tensors(for: layer, index: index, plan: plan,
                                                           offset: plan.doubleQuant && plan.method != .int8 ? nestedOffset(layer) : nil)
        }
        self.converted = converted
        let modules = linearPlan.linears.map(\.name) + linearPlan.headModules
        if let key = plan.skipModules.first(where: { key in !modules.contains { ExportPlan.matches($0, key: key) } }) {
            throw ExportError(file: checkpoint.path, .skipMatchesNothing(key: key))
        }
        skipModulesForConfig = plan.skipModules.isEmpty ? [] : plan.skipModules + linearPlan.headModules.filter { !plan.isSkipped($0) }
        // Source order, each converted weight replaced by its quantized tensors.
        var ordered: [Tensor] = []
        for tensor in checkpoint.tensors {
            if let replacement = produced[tensor.name] {
                ordered += replacement
            } else {
                let dtype = plan.dtype(for: tensor.dtype)
                ordered.append(Tensor(name: tensor.name, dtype: dtype, shape: tensor.shape, content: dtype == tensor.dtype ? .copy(tensor) : .cast(tensor)))
            }
        }
        shards = Self.shard(ordered, maxBytes: plan.maxShardSize)
    }

    private static func tensors(for layer: LinearLayer, index: Int, plan: ExportPlan, offset: Float?) throws -> [Tensor] {
        let prefix = layer.name
        let n = layer.parameterCount
        guard let type = plan.method.fourBitType else {
            return [
                Tensor(name: prefix + ".weight", dtype: .i8, shape: [layer.outFeatures, layer.inFeatures], content: .int8Codes(layer: index)),
                Tensor(name: prefix + ".SCB", dtype: .f32, shape: [layer.outFeatures], content: .int8Scale(layer: index)),
                Tensor(name: prefix + ".weight_format", dtype: .u8, shape: [], content: .weightFormat),
            ]
        }
        let blocks = (n + plan.blocksize - 1) / plan.blocksize
        let json = QuantStateJSON.text(type: type, blocksize: plan.blocksize, dtype: plan.dtype(for: layer.weight.dtype).torchName,
                                       shape: [layer.outFeatures, layer.inFeatures], nestedOffset: offset)
        var tensors = [Tensor(name: prefix + ".weight", dtype: .u8, shape: [(n + 1) / 2, 1], content: .packed(layer: index))]
        if offset != nil {
            let nestedBlocks = (blocks + DoubleQuantizedAbsmax.nestedBlocksize - 1) / DoubleQuantizedAbsmax.nestedBlocksize
            tensors += [
                Tensor(name: prefix + ".weight.absmax", dtype: .u8, shape: [blocks], content: .absmaxCodes(layer: index)),
                Tensor(name: prefix + ".weight.nested_absmax", dtype: .f32, shape: [nestedBlocks], content: .nestedAbsmax(layer: index)),
                Tensor(name: prefix + ".weight.nested_quant_map", dtype: .f32, shape: [256], content: .nestedQuantMap),
            ]
        } else {
            tensors.append(Tensor(name: prefix + ".weight.absmax", dtype: .f32, shape: [blocks], content: .absmax(layer: index)))
        }
        tensors += [
            Tensor(name: prefix + ".weight.quant_map", dtype: .f32, shape: [16], content: .quantMap(type)),
            Tensor(name: prefix + ".weight.quant_state.bitsandbytes__\(type.rawValue)", dtype: .u8, shape: [json.utf8.count],
                   content: .quantState(layer: index, json: Array(json.utf8))),
        ]
        return tensors
    }

    /// transformers' sharding: tensors in order; a new shard when the next tensor would pass the
    /// limit (a tensor larger than the limit gets a shard of its own). Within a file the tensors are
    /// ordered as the safetensors library orders them.
    private static func shard(_ tensors: [Tensor], maxBytes: Int) -> [Shard] {
        var groups: [[Tensor]] = [[]]
        var size = 0
        for tensor in tensors {
            if !groups[groups.count - 1].isEmpty && size + tensor.byteCount > maxBytes {
                groups.append([])
                size = 0
            }
            groups[groups.count - 1].append(tensor)
            size += tensor.byteCount
        }
        let names = groups.count == 1 ? ["model.safetensors"]
            : groups.indices.map { String(format: "model-%05d-of-%05d.safetensors", $0 + 1, groups.count) }
        return zip(names, groups).map { name, group in
            let ordered = safetensorsFileOrder(group)
            var writer = SafetensorsWriter()
            for tensor in ordered { writer.reserve(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape) }
            return Shard(fileName: name, tensors: ordered, header: writer.header())
        }
    }

    /// The safetensors library writes tensors sorted by dtype, larger alignment first, then by name.
    static func safetensorsFileOrder(_ tensors: [Tensor]) -> [Tensor] {
        tensors.sorted { a, b in
            let (rankA, rankB) = (dtypeRank(a.dtype), dtypeRank(b.dtype))
            return rankA != rankB ? rankA > rankB : a.name < b.name
        }
    }

    /// Position of a dtype in the safetensors library's `Dtype` enum (its derived ordering).
    static func dtypeRank(_ dtype: DType) -> Int {
        let order: [DType] = [.bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0, .i16, .u16, .f16, .bf16, .i32, .u32, .f32, .f64, .i64, .u64]
        return order.firstIndex(of: dtype) ?? 0
    }
}
