/// What one Linear layer receives during a forward pass: its input activations for a run of tokens,
/// row-major tokens × features. A view into the runtime's own buffers — valid only while the observer
/// runs; copy what you keep. q, k and v projections share one input and are reported once each.
public struct LinearInput {
    /// Module name as `LinearLayerPlan` names it, e.g. `model.layers.0.self_attn.q_proj`.
    public let name: String
    /// The transformer block, nil outside the blocks (BERT's pooler).
    public let block: Int?
    /// Index, in the token list given to the runtime, of the token in row 0.
    public let firstToken: Int
    public let tokens: Int
    /// Input features (the layer's in_features).
    public let features: Int
    public let values: UnsafeBufferPointer<Float>
    /// A routed MoE expert's input (which transformers does not convert): the token, as an index into the
    /// token list, of each row — only the tokens the router sent to it, possibly none. nil for every other
    /// Linear, whose rows are the consecutive tokens from `firstToken`.
    public var routedTokens: [Int]? = nil

    /// The input vector of one token.
    public func row(_ index: Int) -> UnsafeBufferPointer<Float> {
        precondition(index >= 0 && index < tokens)
        return UnsafeBufferPointer(rebasing: values[(index * features)..<((index + 1) * features)])
    }
}
