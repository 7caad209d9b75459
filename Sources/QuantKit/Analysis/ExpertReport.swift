/// The experts section of a report on a calibrated MoE model: per layer, the calibration tokens the
/// router sent to each expert, what the expert's inputs looked like and, labelled as such, what-if output
/// errors. transformers + bitsandbytes keep every routed expert unquantized, so none of this is in the
/// plan, the totals or an export.
public struct MoELayerReport: Sendable, Codable, Equatable {
    /// The module holding the router and the experts, e.g. `model.layers.0.block_sparse_moe`.
    public let module: String
    public let block: Int
    /// Experts per token (`num_experts_per_tok`).
    public let topK: Int
    /// Calibration tokens through the layer; each is routed to `topK` experts.
    public let tokens: Int
    public let experts: [ExpertReport]

    public init(_ layer: MoELayerActivity, whatIf: [Int: ExpertWhatIf], threshold: Float) {
        module = layer.module
        block = layer.block
        topK = layer.topK
        tokens = layer.tokens
        experts = layer.experts.map { ExpertReport($0, whatIf: whatIf[$0.index], threshold: threshold) }
    }
}

public struct ExpertReport: Sendable, Codable, Equatable {
    /// Output errors if the expert were quantized: not what bitsandbytes in transformers does.
    public struct WhatIf: Sendable, Codable, Equatable {
        /// Says so in the JSON itself.
        public let note: String
        public let gate: LayerActivationReport.OutputErrors
        public let up: LayerActivationReport.OutputErrors
        public let down: LayerActivationReport.OutputErrors

        public static let note = "what-if: bitsandbytes in transformers does not quantize MoE experts; "
            + "these are the output errors if this expert were quantized"

        /// The projection with the largest error under `error`.
        public func largest(_ error: (LayerActivationReport.OutputErrors) -> Double) -> Double {
            max(error(gate), error(up), error(down))
        }
    }

    public let expert: Int
    /// Stored module names of the projections (gate, up, down).
    public let gate: String
    public let up: String
    public let down: String
    public let routedTokens: Int
    /// What the gate and up projections read; nil when no calibration token was routed here.
    public let gateUpInput: LayerActivationReport?
    /// What the down projection read; nil as `gateUpInput`.
    public let downInput: LayerActivationReport?
    public let whatIf: WhatIf?

    public init(_ expert: ExpertActivity, whatIf: ExpertWhatIf?, threshold: Float) {
        self.expert = expert.index
        gate = expert.gate
        up = expert.up
        down = expert.down
        routedTokens = expert.routedTokens
        gateUpInput = expert.gateUpInput.map { LayerActivationReport($0, errors: nil, threshold: threshold) }
        downInput = expert.downInput.map { LayerActivationReport($0, errors: nil, threshold: threshold) }
        self.whatIf = whatIf.map {
            WhatIf(note: WhatIf.note, gate: .init($0.gate), up: .init($0.up), down: .init($0.down))
        }
    }
}
