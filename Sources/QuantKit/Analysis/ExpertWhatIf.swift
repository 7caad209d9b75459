/// The output errors one routed expert's projections would have if they were quantized — **not** what
/// bitsandbytes in transformers does: it leaves the experts in the compute dtype (LinearLayers.swift).
/// For someone weighing a quantization path that does cover experts. Measured like a converted Linear's
/// (`ActivationErrors`) on the expert's sampled routed rows and its weight as the checkpoint stores it;
/// kept out of the plan, the memory totals and the export.
public struct ExpertWhatIf: Sendable, Equatable {
    /// The layer's module (`MoELayerActivity.module`) and the expert's index in it.
    public let module: String
    public let expert: Int
    public let gate: ActivationErrors
    public let up: ActivationErrors
    public let down: ActivationErrors

    /// The three projections, gate, up, down.
    public var projections: [ActivationErrors] { [gate, up, down] }
}

extension OpenedModel {
    /// A routed expert's projection as the checkpoint stores it (`….experts.<e>.w1`), as a Linear to
    /// measure; nil when its weight is not a 2-D float tensor. Never part of the plan.
    func expertProjection(_ module: String) -> LinearLayer? {
        guard let weight = checkpoint.tensor(named: module + ".weight"), weight.shape.count == 2, weight.dtype.isDecodableFloat
        else { return nil }
        return LinearLayer(name: module, weight: weight, bias: nil, outFeatures: weight.shape[0], inFeatures: weight.shape[1],
                           isTransposedInFile: false)
    }
}
