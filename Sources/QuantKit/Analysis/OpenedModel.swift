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
    public let sizes: ModelSizes

    public init(_ checkpoint: Checkpoint, sourcePath: String? = nil) {
        self.checkpoint = checkpoint
        self.sourcePath = sourcePath ?? checkpoint.path
        plan = LinearLayerPlan(checkpoint: checkpoint)
        var parametersByDType: [DType: Int] = [:]
        for tensor in checkpoint.tensors where tensor.dtype.isDecodableFloat {
            parametersByDType[tensor.dtype, default: 0] += tensor.elementCount
        }
        summary = ModelReport.Model(
            name: checkpoint.name, path: checkpoint.path, modelType: checkpoint.config?.modelType,
            architectures: checkpoint.config?.architectures ?? [],
            dtype: parametersByDType.max { $0.value < $1.value }?.key, fileBytes: checkpoint.fileBytes,
            tensorCount: checkpoint.tensors.count,
            parameterCount: checkpoint.tensors.reduce(0) { $0 + $1.elementCount }, metadata: checkpoint.metadata)
        sizes = ModelSizes(checkpoint: checkpoint, plan: plan)
    }
}

/// The one size table: what the checkpoint holds, what stays as it is, and what each converted Linear
/// becomes in a method — exact to the bytes bitsandbytes serializes.
public struct ModelSizes: Sendable, Equatable {
    /// Tensor data bytes of the checkpoint as it is.
    public let originalBytes: Int
    /// Tensor data bytes of everything that is not a converted Linear weight (kept as stored).
    public let keptBytes: Int
    /// The whole model with every float tensor in fp16 (what `torch_dtype=float16` loads).
    public let fp16Bytes: Int

    public init(checkpoint: Checkpoint, plan: LinearLayerPlan) {
        originalBytes = checkpoint.tensors.reduce(0) { $0 + $1.byteCount }
        keptBytes = plan.kept.reduce(0) { $0 + $1.tensor.byteCount }
        fp16Bytes = checkpoint.tensors.reduce(0) { $0 + ($1.dtype.isDecodableFloat ? 2 * $1.elementCount : $1.byteCount) }
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

    public static func layerBytes(_ layer: LinearLayer, in method: QuantMethod?, blocksize: Int, analysis: LayerReport?,
                                  analysedBlocksize: Int?) -> Int {
        layerBytes(outFeatures: layer.outFeatures, inFeatures: layer.inFeatures, dtype: layer.weight.dtype,
                   storedBytes: layer.weight.byteCount, in: method, blocksize: blocksize, analysis: analysis,
                   analysedBlocksize: analysedBlocksize)
    }
}
