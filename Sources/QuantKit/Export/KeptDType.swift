extension DType {
    /// The dtype a tensor stored as `self` takes when a model is loaded with `torch_dtype = requested`:
    /// float tensors (F32/F16/BF16) take it, everything else (integers, F64, F8) stays; nil keeps all as
    /// stored. The exporter writes kept tensors so and the size totals count them so.
    public func kept(as requested: DType?) -> DType {
        guard let requested, isDecodableFloat else { return self }
        return requested
    }
}
