/// What a running analysis reports, in the order it happens: the weights layer by layer, then (when
/// the model can run) what calibration saw, the output errors layer by layer, and perplexity on request.
/// `qtui scan` folds these into a `ModelReport` (`ModelReportBuilder`); the explorer folds them into its
/// state as they arrive.
public enum AnalysisEvent: Sendable, Equatable {
    case progress(AnalysisProgress)
    /// The weight report of `ModelAnalyzer.layers[index]`.
    case weights(index: Int, report: LayerReport)
    /// Every layer's weights are analysed at this blocksize.
    case weightsFinished(blocksize: Int)
    case calibrated(tokens: Int, statistics: [String: ActivationStatistics])
    /// An MoE model's routed experts as calibration saw them, per layer (right after `.calibrated`).
    case experts([MoELayerActivity])
    /// What one routed expert's output errors would be if it were quantized: not what bitsandbytes in
    /// transformers does (it keeps the experts), never part of the plan.
    case expertWhatIf(ExpertWhatIf)
    /// The model cannot run here (unsupported architecture, no tokenizer, too little text): weight-only.
    case activationsUnavailable(reason: String)
    /// Output errors of `ModelAnalyzer.layers[index]` on its sampled calibration inputs.
    case outputErrors(index: Int, errors: ActivationErrors)
    /// The int8 output error of `ModelAnalyzer.layers[index]` measured exactly at an off-grid threshold.
    case int8Refined(index: Int, threshold: Float, value: Double)
    case perplexity(PerplexityReport, threshold: Float)
    /// Perplexity was asked for but cannot be measured (an encoder has no next token to score).
    case perplexityUnavailable(reason: String)
}

public enum AnalysisPhase: String, Sendable, Equatable {
    case weights
    case calibration
    case outputErrors = "output errors"
    case expertWhatIf = "expert what-if errors"
    case perplexity
    case refinement = "exact int8 errors"
}

/// How far a phase is; rates and times are the caller's to measure.
public struct AnalysisProgress: Sendable, Equatable {
    public let phase: AnalysisPhase
    public let done: Int
    public let total: Int
    /// What `done` counts: "param", "layer" or "pass".
    public let unit: String
    /// The layer being worked on, when there is one.
    public let detail: String

    public init(phase: AnalysisPhase, done: Int, total: Int, unit: String, detail: String = "") {
        self.phase = phase
        self.done = done
        self.total = total
        self.unit = unit
        self.detail = detail
    }
}
