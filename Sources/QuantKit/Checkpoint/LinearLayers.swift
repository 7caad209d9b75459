/// Which tensors transformers + bitsandbytes would quantize, decided from names, shapes and the config.
/// transformers 5.24 (`get_keys_to_not_convert` + `replace_with_bnb_linear`) converts every nn.Linear
/// and GPT-2 Conv1D except the output embeddings, tied weights and the module owning the model's last
/// parameter. From a checkpoint that reads: embeddings, norms and all 1-D or non-float tensors stay;
/// the output head stays (`lm_head`, `embed_out`, BERT's `cls.predictions.decoder`, and a bias-free
/// top-level `score` / `classifier` / `qa_outputs`, whose weight is the last parameter). A head with a
/// bias is converted: its last parameter is the bias, which matches no module.
/// Mixture-of-experts models (mixtral, qwen2_moe, qwen3_moe, olmoe) are stored per expert
/// (`experts.N.w1` / `experts.N.gate_proj`…), but transformers 5.24 loads each layer's experts into two
/// fused 3-D parameters (`experts.gate_up_proj`, `experts.down_proj`) and the router `gate` into a TopKRouter
/// holding a bare parameter: neither is an nn.Linear, so both stay in the compute dtype. Shared experts
/// (qwen2_moe's `shared_expert.*` and its `shared_expert_gate`) are plain nn.Linear and are converted.
public struct LinearLayer: Sendable, Hashable {
    /// Module name, e.g. `model.layers.0.mlp.up_proj`.
    public let name: String
    public let weight: TensorInfo
    public let bias: TensorInfo?
    public let outFeatures: Int
    public let inFeatures: Int
    /// GPT-2's Conv1D stores its weight as [in, out]; bitsandbytes quantizes the transpose.
    public let isTransposedInFile: Bool

    public var parameterCount: Int { outFeatures * inFeatures }
}

public struct KeptTensor: Sendable, Hashable {
    public enum Reason: String, Sendable, Codable {
        case embedding = "embedding (nn.Embedding is not converted)"
        case outputHead = "output head (transformers keeps it unconverted)"
        case bias = "bias of a converted Linear (kept as is)"
        case notMatrix = "not a 2-D weight (norms, buffers, biases)"
        case notFloat = "not a float dtype"
        case notWeight = "not a Linear weight"
        case subclassOfLinear = "a subclass of nn.Linear (transformers converts nn.Linear itself only)"
        case multiheadAttention = "out_proj of nn.MultiheadAttention (not exactly nn.Linear; transformers keeps it)"
        case empty = "has a zero dimension (holds no values to quantize)"
        case moeExpert = "MoE expert weights: transformers fuses them into 3-D parameters bitsandbytes does not quantize"
        case moeRouter = "MoE router: a TopKRouter parameter, not an nn.Linear (bitsandbytes does not quantize it)"

        /// A mixture-of-experts tensor transformers + bitsandbytes leave unquantized.
        public var isMoE: Bool { self == .moeExpert || self == .moeRouter }
    }

    public let tensor: TensorInfo
    public let reason: Reason
}

public struct LinearLayerPlan: Sendable {
    public let linears: [LinearLayer]
    public let kept: [KeptTensor]
    /// The output head modules transformers leaves unconverted by default — stored in the file, or tied
    /// to the input embedding and so absent from it (`get_output_embeddings()` still returns it). An
    /// explicit skip list replaces that default, so an export must name these in it.
    public let headModules: [String]

    public init(checkpoint: Checkpoint) {
        let isGPT2 = checkpoint.config?.modelType == "gpt2"
            || checkpoint.tensors.contains { $0.name.hasSuffix(".attn.c_attn.weight") }
        var linears: [LinearLayer] = []
        var kept: [KeptTensor] = []
        var biasesOfLinears = Set<String>()
        // transformers 5.24 replaces `type(module) is nn.Linear` only; Falcon's layers are all FalconLinear.
        let linearSubclasses = checkpoint.config?.modelType == "falcon"
        let fusesExperts = Self.fusedExpertModelTypes.contains(checkpoint.config?.modelType ?? "")
        for tensor in checkpoint.tensors {
            guard tensor.name.hasSuffix(".weight") || tensor.name == "weight" else { continue }
            let module = String(tensor.name.dropLast(tensor.name == "weight" ? 6 : 7))
            let hasBias = checkpoint.tensor(named: module + ".bias") != nil
            // transformers converts modules whose type is exactly nn.Linear; nn.MultiheadAttention (whose
            // q/k/v live in its own `in_proj_weight`) holds a NonDynamicallyQuantizableLinear out_proj.
            if module.hasSuffix(".out_proj"), checkpoint.tensor(named: module.dropLast("out_proj".count) + "in_proj_weight") != nil {
                kept.append(KeptTensor(tensor: tensor, reason: .multiheadAttention))
                continue
            }
            if fusesExperts, let reason = Self.moeReason(module: module, checkpoint: checkpoint) {
                kept.append(KeptTensor(tensor: tensor, reason: reason))
                continue
            }
            switch Self.classify(tensor, module: module, hasBias: hasBias) ?? (linearSubclasses ? .subclassOfLinear : nil) {
            case .some(let reason):
                kept.append(KeptTensor(tensor: tensor, reason: reason))
            case .none:
                let transposed = isGPT2 && Self.isConv1D(module)
                let bias = checkpoint.tensor(named: module + ".bias")
                if let bias { biasesOfLinears.insert(bias.name) }
                linears.append(LinearLayer(
                    name: module, weight: tensor, bias: bias,
                    outFeatures: transposed ? tensor.shape[1] : tensor.shape[0],
                    inFeatures: transposed ? tensor.shape[0] : tensor.shape[1],
                    isTransposedInFile: transposed))
            }
        }
        for tensor in checkpoint.tensors where !(tensor.name.hasSuffix(".weight") || tensor.name == "weight") {
            let reason: KeptTensor.Reason
            if biasesOfLinears.contains(tensor.name) { reason = .bias }
            else if !tensor.dtype.isDecodableFloat { reason = .notFloat }
            else if tensor.shape.count != 2 { reason = .notMatrix }
            else { reason = .notWeight }
            kept.append(KeptTensor(tensor: tensor, reason: reason))
        }
        self.linears = Self.inModelOrder(linears)
        self.kept = kept
        let stored = kept.filter { $0.reason == .outputHead }.map { String($0.tensor.name.dropLast(".weight".count)) }
        headModules = stored.isEmpty ? Self.tiedHead(architectures: checkpoint.config?.architectures ?? []).map { [$0] } ?? [] : stored
    }

    /// The model types whose experts transformers 5.24 fuses on load (each checked against a real bitsandbytes
    /// load of a fixture in scripts/fixtures/make_moe_fixtures.py).
    public static let fusedExpertModelTypes: Set<String> = ["mixtral", "qwen2_moe", "qwen3_moe", "olmoe"]

    /// `….experts.<N>.<projection>` is a routed expert; `….gate` beside such experts is the router.
    private static func moeReason(module: String, checkpoint: Checkpoint) -> KeptTensor.Reason? {
        let parts = module.split(separator: ".")
        if parts.count >= 3, parts[parts.count - 3] == "experts", Int(parts[parts.count - 2]) != nil { return .moeExpert }
        guard parts.last == "gate" else { return nil }
        let experts = module.dropLast("gate".count) + "experts."
        return checkpoint.tensors.contains { $0.name.hasPrefix(experts) } ? .moeRouter : nil
    }

    /// The module `get_output_embeddings()` returns for a model class whose head is tied (not stored):
    /// `lm_head` for every class that has one (PreTrainedModel's default), the classes that name it
    /// otherwise, nil for base models (LlamaModel, BertModel…), which have no head.
    static func tiedHead(architectures: [String]) -> String? {
        guard let name = architectures.first else { return nil }
        if name == "GPTNeoXForCausalLM" { return "embed_out" }
        if name.hasPrefix("Bert") && ["ForMaskedLM", "ForPreTraining", "LMHeadModel"].contains(where: name.hasSuffix) {
            return "cls.predictions.decoder"
        }
        if ["Roberta", "XLMRoberta"].contains(where: name.hasPrefix) && ["ForMaskedLM", "ForCausalLM"].contains(where: name.hasSuffix) {
            return "lm_head.decoder"
        }
        return ["ForCausalLM", "LMHeadModel", "ForConditionalGeneration"].contains(where: name.hasSuffix) ? "lm_head" : nil
    }

    /// Block order: by the numbers in the name (layers.2 before layers.10, which files sorted by name
    /// put after layers.1), and in file order within a block.
    private static func inModelOrder(_ linears: [LinearLayer]) -> [LinearLayer] {
        func numbers(_ name: String) -> [Int] { name.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) } }
        return linears.enumerated().sorted { a, b in
            let (left, right) = (numbers(a.element.name), numbers(b.element.name))
            return left != right ? left.lexicographicallyPrecedes(right) : a.offset < b.offset
        }.map(\.element)
    }

    /// nil when the weight is converted; otherwise why it stays.
    private static func classify(_ tensor: TensorInfo, module: String, hasBias: Bool) -> KeptTensor.Reason? {
        let last = module.split(separator: ".").last.map(String.init) ?? module
        if last == "lm_head" || last == "embed_out" || module.hasSuffix("cls.predictions.decoder") { return .outputHead }
        // GGUF names (a weight-only GGUF keeps them): `output` is the head, `token_embd` / `pos_embd` embeddings.
        if module == "output" { return .outputHead }
        if last.hasSuffix("_embd") { return .embedding }
        if !hasBias && !module.contains(".") && ["score", "classifier", "qa_outputs"].contains(module) { return .outputHead }
        if last.contains("embed") || ["wte", "wpe", "shared"].contains(last) { return .embedding }
        if tensor.shape.count != 2 { return .notMatrix }
        if !tensor.dtype.isDecodableFloat { return .notFloat }
        // [2^40, 0] holds no bytes yet would size per-row buffers of 2^40: never an analysed layer.
        if tensor.shape.contains(0) { return .empty }
        return nil
    }

    private static func isConv1D(_ module: String) -> Bool {
        ["c_attn", "c_proj", "c_fc", "q_attn"].contains(module.split(separator: ".").last.map(String.init) ?? "")
    }
}
