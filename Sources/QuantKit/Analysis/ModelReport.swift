/// The weight-only report of a whole checkpoint: one `LayerReport` per converted Linear, the tensors
/// that stay in their dtype and why, and model totals per method that include those kept tensors.
public struct ModelReport: Sendable, Codable, Equatable {
    public struct Model: Sendable, Codable, Equatable {
        public let name: String
        public let path: String
        public let modelType: String?
        public let architectures: [String]
        /// The float dtype holding most parameters.
        public let dtype: DType?
        public let fileBytes: Int
        public let tensorCount: Int
        public let parameterCount: Int
        public let metadata: [String: String]
    }

    public struct Kept: Sendable, Codable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public let bytes: Int
        public let reason: KeptTensor.Reason
    }

    public struct MethodTotal: Sendable, Codable, Equatable {
        public let method: QuantMethod
        /// Converted Linears in this method plus every kept tensor as it is (tensor data bytes).
        public let bytes: Int
    }

    public struct Totals: Sendable, Codable, Equatable {
        /// Tensor data bytes of the checkpoint as it is.
        public let originalBytes: Int
        public let linearCount: Int
        public let linearParameters: Int
        public let keptBytes: Int
        public let methods: [MethodTotal]
    }

    /// How activations were seen: the calibration tokens, or why there are none.
    public struct CalibrationSummary: Sendable, Codable, Equatable {
        /// "built-in text" or the file the text came from.
        public let source: String
        public let tokens: Int
        /// The outlier threshold the report's per-layer counts are at.
        public let threshold: Float
        /// Why activations are missing (unsupported architecture, no tokenizer…); nil when present.
        public let unavailable: String?
        /// Perplexities per method, when asked for.
        public var perplexity: PerplexityReport?
        /// Why perplexity, though asked for, is missing (an encoder predicts no next token).
        public var perplexityUnavailable: String?
        /// The LLM.int8 paper's outlier features at `threshold`; nil without activations or when the model
        /// has no Linear qtui recognises as reading the hidden state.
        public var outlierFeatures: OutlierFeatures?
    }

    /// "weights" or "weights+activations": what this report measures.
    public let analysis: String
    public let model: Model
    public let blocksize: Int
    public let calibration: CalibrationSummary?
    /// The layers analysed (all converted Linears unless a filter was given).
    public let layers: [LayerReport]
    public let kept: [Kept]
    public let totals: Totals
    /// An MoE model's routed experts as calibration saw them, per layer (what-if errors labelled as such);
    /// nil for any other model or without calibration. Not in `totals`: bitsandbytes keeps them.
    public let experts: [MoELayerReport]?
}

extension ModelReport {
    /// This report with the kept float tensors counted in `dtype` (what an export with that dtype
    /// writes and what `from_pretrained(torch_dtype=…)` holds), so method totals compare with exports.
    public func counting(keptAs dtype: DType) -> ModelReport {
        let converted = kept.map { Kept(name: $0.name, dtype: $0.dtype.kept(as: dtype), shape: $0.shape,
                                        bytes: $0.shape.reduce(1, *) * $0.dtype.kept(as: dtype).byteSize, reason: $0.reason) }
        let t = totals
        let keptBytes = converted.reduce(0) { $0 + $1.bytes }
        let methods = t.methods.map { MethodTotal(method: $0.method, bytes: $0.bytes - t.keptBytes + keptBytes) }
        return ModelReport(analysis: analysis, model: model, blocksize: blocksize, calibration: calibration, layers: layers,
                           kept: converted,
                           totals: Totals(originalBytes: t.originalBytes, linearCount: t.linearCount, linearParameters: t.linearParameters,
                                          keptBytes: keptBytes, methods: methods),
                           experts: experts)
    }

    /// This report with a different original: the file the user gave (a GGUF) rather than the folder
    /// it was converted into, for the model's size and the totals' 100 %.
    public func original(fileBytes: Int) -> ModelReport {
        let (m, t) = (model, totals)
        return ModelReport(analysis: analysis,
                           model: Model(name: m.name, path: m.path, modelType: m.modelType, architectures: m.architectures, dtype: m.dtype,
                                        fileBytes: fileBytes, tensorCount: m.tensorCount, parameterCount: m.parameterCount, metadata: m.metadata),
                           blocksize: blocksize, calibration: calibration, layers: layers, kept: kept,
                           totals: Totals(originalBytes: fileBytes, linearCount: t.linearCount, linearParameters: t.linearParameters,
                                          keptBytes: t.keptBytes, methods: t.methods),
                           experts: experts)
    }
}
