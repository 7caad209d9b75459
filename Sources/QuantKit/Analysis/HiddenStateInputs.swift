/// The Linear inputs that carry a transformer block's hidden state, where the LLM.int8 paper looks for
/// outlier features: per block, the input of the attention projections (q/k/v, GPT-2's fused `c_attn`,
/// BERT's `query`/`key`/`value`) and the input of the MLP's first projection (`gate_proj`/`up_proj`,
/// GPT-2's `c_fc`, BERT's `intermediate.dense`). The attention output projection and the MLP's last one
/// read other tensors (attention's result, the MLP's inner activation), so they are not counted.
///
/// Linears that read the same tensor (q, k and v; gate and up) are one input here: they see the same
/// values, and counting them once keeps a three-projection attention from outweighing the MLP.
public struct HiddenStateInputs: Sendable, Equatable {
    public enum Role: String, Sendable, Codable { case attention, mlp }

    public struct Input: Sendable, Codable, Equatable {
        /// The transformer block: the first number in the Linears' names (`model.layers.3.…` → 3).
        public let block: Int
        public let role: Role
        /// The Linears reading this input, in model order.
        public let layers: [String]
    }

    /// In block order, attention before MLP.
    public let inputs: [Input]
    /// The hidden dimension: the input width of the attention projections.
    public let hiddenSize: Int
    /// The blocks with at least one counted input, ascending.
    public let blocks: [Int]

    public init(_ linears: [LinearLayer]) {
        self.init(linears.map { ($0.name, $0.inFeatures) })
    }

    public init(_ linears: [(name: String, inFeatures: Int)]) {
        let classified = linears.compactMap { linear -> (block: Int, role: Role, name: String, width: Int)? in
            guard let role = Self.role(of: linear.name), let block = Self.block(of: linear.name) else { return nil }
            return (block, role, linear.name, linear.inFeatures)
        }
        // The most common attention input width, so a stray match of another width cannot set it.
        var widths: [Int: Int] = [:]
        for linear in classified where linear.role == .attention { widths[linear.width, default: 0] += 1 }
        hiddenSize = widths.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? 0
        var grouped: [Input] = []
        for linear in classified where linear.width == hiddenSize {
            if let index = grouped.firstIndex(where: { $0.block == linear.block && $0.role == linear.role }) {
                grouped[index] = Input(block: linear.block, role: linear.role, layers: grouped[index].layers + [linear.name])
            } else {
                grouped.append(Input(block: linear.block, role: linear.role, layers: [linear.name]))
            }
        }
        inputs = grouped.sorted { ($0.block, $0.role == .mlp ? 1 : 0) < ($1.block, $1.role == .mlp ? 1 : 0) }
        blocks = Array(Set(inputs.map(\.block))).sorted()
    }

    // The families qtui runs, only they having activations to count: llama/qwen/mistral/gemma and OPT
    // (q/k/v_proj; gate/up_proj or OPT's fc1), phi3 (fused qkv_proj, gate_up_proj), GPT-NeoX
    // (query_key_value, dense_h_to_4h), GPT-2 (c_attn, c_fc), BERT (query/key/value, intermediate.dense).
    // Falcon has none: transformers converts none of its Linears.
    static let attentionSuffixes = [".q_proj", ".k_proj", ".v_proj", ".qkv_proj", ".query_key_value", ".c_attn", ".query", ".key", ".value"]
    static let mlpSuffixes = [".gate_proj", ".up_proj", ".gate_up_proj", ".fc1", ".dense_h_to_4h", ".c_fc", ".intermediate.dense"]

    static func role(of name: String) -> Role? {
        if attentionSuffixes.contains(where: name.hasSuffix) { return .attention }
        if mlpSuffixes.contains(where: name.hasSuffix) { return .mlp }
        return nil
    }

    /// The transformer block a Linear belongs to: the first number in its name (nil: none, e.g. lm_head).
    public static func block(of name: String) -> Int? {
        name.split(separator: ".").lazy.compactMap { Int($0) }.first
    }
}
