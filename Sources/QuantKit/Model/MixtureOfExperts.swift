/// The routed feed-forward of mixtral, qwen2_moe, qwen3_moe and olmoe, read from config.json as transformers 5.24
/// reads it.
///
///     router:  p = softmax(n · Wgateᵀ) in float32        (Wgate [experts, hidden], the `gate` TopKRouter)
///              the top_k largest p per token; divided by their sum when the type normalizes
///     experts: out = Σ over a token's top_k experts e of  p_e · (act(n·W1ₑᵀ) ⊙ n·W3ₑᵀ)·W2ₑᵀ
///     qwen2_moe adds a shared expert on every token:  out += sigmoid(n·wᵀ) · MLP_shared(n)
///              (w = `shared_expert_gate` [1, hidden]; both are nn.Linear, converted by bitsandbytes)
///
/// Checkpoints store each expert separately: mixtral as `block_sparse_moe.experts.<e>.w1 / w3 / w2` (gate,
/// up, down), the qwen types as `mlp.experts.<e>.gate_proj / up_proj / down_proj`; the router is `<block>.gate`.
public struct MixtureOfExperts: Sendable, Equatable {
    public let expertCount: Int
    /// `num_experts_per_tok`.
    public let topK: Int
    /// mixtral: always; the others: `norm_topk_prob` (default false).
    public let normalizesTopK: Bool
    /// Each expert's hidden width (mixtral, olmoe `intermediate_size`; qwen2_moe, qwen3_moe `moe_intermediate_size`).
    public let expertWidth: Int
    /// Per block: routed experts, or the dense MLP (qwen2_moe's and qwen3_moe's `mlp_only_layers` and `decoder_sparse_step`; mixtral and olmoe route every block).
    public let sparseBlocks: [Bool]
    /// The module holding the router and the experts, relative to the block (`block_sparse_moe`, `mlp`).
    public let module: String
    /// Stored projection names of one expert: gate, up, down.
    public let projections: (gate: String, up: String, down: String)

    /// qwen2_moe: `shared_expert_intermediate_size`, the shared expert's hidden width; nil without one.
    public let sharedExpertWidth: Int?

    public static let modelTypes: Set<String> = ["mixtral", "qwen2_moe", "qwen3_moe", "olmoe"]

    init(fields: [String: JSONValue], type: String, layers: Int, file: String) throws {
        // Counts outside ModelGeometry's keys, bounded as it bounds its own (an absurd count must not size
        // an allocation).
        func positive(_ keys: String...) throws -> Int {
            for key in keys {
                guard let value = fields[key]?.integer, value > 0 else { continue }
                guard value <= ModelGeometry.Field.intermediateSize.bound else {
                    throw ModelError(file: file, .invalidConfig("\(key) \(value) is outside 1…\(ModelGeometry.Field.intermediateSize.bound)"))
                }
                return value
            }
            throw ModelError(file: file, .invalidConfig("\(keys[0]) is missing or not a positive integer"))
        }
        if type == "mixtral" {
            expertCount = try positive("num_local_experts")
            expertWidth = try positive("intermediate_size")
            normalizesTopK = true
            sparseBlocks = Array(repeating: true, count: layers)
            module = "block_sparse_moe"
            projections = ("w1", "w3", "w2")
            sharedExpertWidth = nil
        } else {
            // Qwen2MoeConfig writes num_experts; Qwen3MoeConfig maps num_experts to num_local_experts, the name its save_pretrained writes.
            expertCount = try positive("num_experts", "num_local_experts")
            // OlmoeExperts are intermediate_size wide (olmoe has no dense MLP).
            expertWidth = try positive(type == "olmoe" ? "intermediate_size" : "moe_intermediate_size")
            normalizesTopK = fields["norm_topk_prob"]?.bool ?? false
            let step = fields["decoder_sparse_step"]?.integer ?? 1
            let denseOnly = Set((fields["mlp_only_layers"]?.array ?? []).compactMap(\.integer))
            sparseBlocks = (0..<layers).map { type == "olmoe" || (!denseOnly.contains($0) && step > 0 && ($0 + 1) % step == 0) }
            module = "mlp"
            projections = ("gate_proj", "up_proj", "down_proj")
            sharedExpertWidth = type == "qwen2_moe" ? try positive("shared_expert_intermediate_size") : nil
        }
        topK = try positive("num_experts_per_tok")
        guard topK <= expertCount else {
            throw ModelError(file: file, .invalidConfig("num_experts_per_tok \(topK) exceeds the \(expertCount) experts"))
        }
    }

    /// Name of expert `e`'s projection relative to the block, e.g. `block_sparse_moe.experts.3.w1`.
    func expert(_ e: Int, _ projection: String) -> String { "\(module).experts.\(e).\(projection)" }

    public static func == (a: Self, b: Self) -> Bool {
        (a.expertCount, a.topK, a.normalizesTopK, a.expertWidth, a.sparseBlocks, a.module)
            == (b.expertCount, b.topK, b.normalizesTopK, b.expertWidth, b.sparseBlocks, b.module)
            && a.projections == b.projections && a.sharedExpertWidth == b.sharedExpertWidth
    }
}
