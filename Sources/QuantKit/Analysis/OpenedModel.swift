import Foundation

/// A checkpoint as every analysis sees it, built once when it is opened: which Linears transformers
/// converts (the layer plan), the summary a report or a screen header shows, and the sizes totals start
/// from. Scan, the explorer and the exporter all take this instead of re-deriving any of it.
public struct OpenedModel: Sendable {
    public let checkpoint: Checkpoint
    /// What the user opened: the checkpoint's path, or the `.gguf` file a cached folder was converted from.
    public let sourcePath: String
    public let plan: LinearLayerPlan
    public let summary: ModelReport.Model
    /// The float dtype everything not quantized is counted (and exported) in, as `torch_dtype`; nil: as stored.
    public let keptDType: DType?
    public let sizes: ModelSizes

    /// `sourcePath` is what the user opened when it is not the checkpoint itself (a `.gguf`): its size is
    /// the model's original size, not that of the F32 tensors it is read as.
    public init(_ checkpoint: Checkpoint, sourcePath: String? = nil, keptDType: DType? = nil) {
        self.checkpoint = checkpoint
        self.sourcePath = sourcePath ?? checkpoint.path
        self.keptDType = keptDType
        plan = LinearLayerPlan(checkpoint: checkpoint)
        let sourceBytes = sourcePath.flatMap { path -> Int? in
            guard path != checkpoint.path else { return nil }
            return (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int
        }
        var parametersByDType: [DType: Int] = [:]
        for tensor in checkpoint.tensors where tensor.dtype.isDecodableFloat {
            parametersByDType[tensor.dtype, default: 0] += tensor.elementCount
        }
        summary = ModelReport.Model(
            name: checkpoint.name, path: checkpoint.path, modelType: checkpoint.config?.modelType,
            architectures: checkpoint.config?.architectures ?? [],
            dtype: parametersByDType.max { $0.value < $1.value }?.key, fileBytes: sourceBytes ?? checkpoint.fileBytes,
            tensorCount: checkpoint.tensors.count,
            parameterCount: checkpoint.tensors.reduce(0) { $0 + $1.elementCount }, metadata: checkpoint.metadata)
        sizes = ModelSizes(checkpoint: checkpoint, plan: plan, keptDType: keptDType, originalBytes: sourceBytes)
    }

    /// The tensors that stay unquantized, each in the dtype it is counted in.
    public var kept: [ModelReport.Kept] {
        plan.kept.map {
            let dtype = $0.tensor.dtype.kept(as: keptDType)
            return ModelReport.Kept(name: $0.tensor.name, dtype: dtype, shape: $0.tensor.shape, bytes: $0.tensor.elementCount * dtype.byteSize,
                                    reason: $0.reason)
        }
    }
}

/// The one size table: what the checkpoint holds, what stays as it is, and what each converted Linear
/// becomes in a method — exact to the bytes bitsandbytes serializes.
public struct ModelSizes: Sendable, Equatable {
    /// Tensor data bytes of the checkpoint as it is (a GGUF: the file the user gave).
    public let originalBytes: Int
    /// Tensor data bytes of everything that is not a converted Linear weight, in the kept dtype.
    public let keptBytes: Int
    /// Of `keptBytes`, the mixture-of-experts experts and routers (0 for a dense model): transformers +
    /// bitsandbytes leave them unquantized, so no method shrinks them (for a real Mixtral, most of the model).
    public let moeKeptBytes: Int
    /// The whole model unquantized, every float tensor in the kept dtype (as stored when there is none):
    /// what the memory preview compares with.
    public let unquantizedBytes: Int
    /// That dtype's name ("F16", "F32", or "stored" for a mix kept as it is).
    public let unquantizedLabel: String

    public init(checkpoint: Checkpoint, plan: LinearLayerPlan, keptDType: DType? = nil, originalBytes: Int? = nil) {
        func bytes(_ tensor: TensorInfo) -> Int { tensor.elementCount * tensor.dtype.kept(as: keptDType).byteSize }
        self.originalBytes = originalBytes ?? checkpoint.tensors.reduce(0) { $0 + $1.byteCount }
        keptBytes = plan.kept.reduce(0) { $0 + bytes($1.tensor) }
        moeKeptBytes = plan.kept.filter(\.reason.isMoE).reduce(0) { $0 + bytes($1.tensor) }
        unquantizedBytes = checkpoint.tensors.reduce(0) { $0 + bytes($1) }
        let floats = Set(checkpoint.tensors.filter(\.dtype.isDecodableFloat).map { $0.dtype.kept(as: keptDType) })
        unquantizedLabel = floats.count == 1 ? floats.first!.rawValue : "stored"
    }

    /// One converted Linear's bytes in `method` (nil: kept as stored): exact from its analysis when that
    /// ran at this blocksize; else from the shape, with the double-quant JSON at its longest (the nested
    /// offset's digits are known only after analysis), a bound a few bytes high.
    public static func layerBytes(outFeatures: Int, inFeatures: Int, dtype: DType, storedBytes: Int, in method: QuantMethod?,
                                  blocksize: Int, analysis: LayerReport?, analysedBlocksize: Int?) -> Int {
        guard let method else { return storedBytes }
        if analysedBlocksize == blocksize, let exact = analysis?.result(for: method) { return exact.bytes }
        return method.serializedBytes(outFeatures: outFeatures, inFeatures: inFeatures, blocksize: blocksize, dtype: dtype.torchName)
    }

    /// `keptDType` is the dtype a skipped layer is written in and the 4-bit quant_state names.
    public static func layerBytes(_ layer: LinearLayer, in method: QuantMethod?, keptDType: DType?, blocksize: Int,
                                  analysis: LayerReport?, analysedBlocksize: Int?) -> Int {
        let dtype = layer.weight.dtype.kept(as: keptDType)
        return layerBytes(outFeatures: layer.outFeatures, inFeatures: layer.inFeatures, dtype: dtype,
                          storedBytes: layer.weight.elementCount * dtype.byteSize, in: method, blocksize: blocksize,
                          analysis: analysis, analysedBlocksize: analysedBlocksize)
    }
}
