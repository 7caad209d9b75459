import Foundation

/// One block's routed feed-forward over one chunk, as transformers' MixtralSparseMoeBlock /
/// Qwen2MoeSparseMoeBlock / Qwen3MoeSparseMoeBlock / OlmoeSparseMoeBlock compute it (MixtureOfExperts.swift has the formula): the
/// router's softmax and top-k per token, then each expert on the tokens routed to it, weighted, summed in
/// expert order, plus qwen2_moe's gated shared expert, and added to the residual stream.
///
/// The observer sees every expert's inputs under the names the checkpoint stores — the gate and up
/// projections' (the normed block input) and the down projection's (act(gate) ⊙ up) — with only the tokens
/// routed to that expert (`LinearInput.routedTokens`); an expert no token chose is shown with zero rows,
/// so a caller can count routed tokens and say which experts saw none. transformers does not convert
/// these: they are observed for the what-if only.
struct RoutedFeedForward {
    let experts: MixtureOfExperts
    let activation: Activation
    let hiddenSize: Int

    /// The block's tensors for the router and every expert, relative to the block.
    var tensors: [TensorSpec] {
        var specs = [TensorSpec(name: experts.module + ".gate.weight", shape: [experts.expertCount, hiddenSize])]
        let (gate, up, down) = experts.projections
        for e in 0..<experts.expertCount {
            specs.append(TensorSpec(name: experts.expert(e, gate) + ".weight", shape: [experts.expertWidth, hiddenSize]))
            specs.append(TensorSpec(name: experts.expert(e, up) + ".weight", shape: [experts.expertWidth, hiddenSize]))
            specs.append(TensorSpec(name: experts.expert(e, down) + ".weight", shape: [hiddenSize, experts.expertWidth]))
        }
        if let shared = experts.sharedExpertWidth {
            specs.append(TensorSpec(name: experts.module + ".shared_expert.gate_proj.weight", shape: [shared, hiddenSize]))
            specs.append(TensorSpec(name: experts.module + ".shared_expert.up_proj.weight", shape: [shared, hiddenSize]))
            specs.append(TensorSpec(name: experts.module + ".shared_expert.down_proj.weight", shape: [hiddenSize, shared]))
            specs.append(TensorSpec(name: experts.module + ".shared_expert_gate.weight", shape: [1, hiddenSize]))
        }
        return specs
    }

    /// h[r] += Σ p · expert(normed[r]) for the `rows` tokens of the chunk starting at `firstToken`.
    /// `module` is the block prefix the observed names start with.
    func apply(_ normed: UnsafePointer<Float>, rows: Int, firstToken: Int, into h: UnsafeMutablePointer<Float>,
               weights: BlockWeights, block: Int, module: String, run: RunContext) throws {
        let routes = route(normed, rows: rows, weights: weights, run: run)
        let width = hiddenSize, inner = experts.expertWidth
        let sum = run.scratch("moe-sum", count: rows * width)
        sum.update(repeating: 0, count: rows * width)
        let (gateName, upName, downName) = experts.projections
        for e in 0..<experts.expertCount {
            let chosen = routes.enumerated().compactMap { row, picks in picks.first { $0.expert == e }.map { (row, $0.weight) } }
            let count = chosen.count
            let input = run.scratch("expert-input", count: count * width)
            for (i, (row, _)) in chosen.enumerated() { (input + i * width).update(from: normed + row * width, count: width) }
            let tokens = chosen.map { firstToken + $0.0 }
            func observe(_ projection: String, _ values: UnsafePointer<Float>, columns: Int) throws {
                try run.observe(module + experts.expert(e, projection), block: block, firstToken: firstToken, values,
                                rows: count, columns: columns, routedTokens: tokens)
            }
            try observe(gateName, input, columns: width)
            try observe(upName, input, columns: width)
            guard count > 0 else {
                try observe(downName, input, columns: inner)
                continue
            }
            let gate = run.scratch("expert-gate", count: count * inner), up = run.scratch("expert-up", count: count * inner)
            weights.linear(experts.expert(e, gateName)).apply(input, rows: count, into: gate)
            weights.linear(experts.expert(e, upName)).apply(input, rows: count, into: up)
            activation.applyGated(gate, times: up, count: count * inner)
            try observe(downName, gate, columns: inner)
            let output = run.scratch("expert-output", count: count * width)
            weights.linear(experts.expert(e, downName)).apply(gate, rows: count, into: output)
            for (i, (row, weight)) in chosen.enumerated() {
                let source = output + i * width, target = sum + row * width
                for j in 0..<width { target[j] += source[j] * weight }
            }
        }
        if experts.sharedExpertWidth != nil {
            try addSharedExpert(normed, rows: rows, firstToken: firstToken, into: sum, weights: weights, block: block, module: module, run: run)
        }
        for i in 0..<rows * width { h[i] += sum[i] }
    }

    /// sum[r] += sigmoid(normed[r]·wᵀ) · MLP_shared(normed[r]) — converted Linears, observed on every token.
    private func addSharedExpert(_ normed: UnsafePointer<Float>, rows: Int, firstToken: Int, into sum: UnsafeMutablePointer<Float>,
                                 weights: BlockWeights, block: Int, module: String, run: RunContext) throws {
        let width = hiddenSize, inner = experts.sharedExpertWidth ?? 0, shared = experts.module + ".shared_expert"
        let linear = BlockLinears(weights: weights, observe: BlockObserver(run: run, module: module, block: block,
                                                                           chunk: firstToken..<firstToken + rows))
        let gate = run.scratch("shared-gate", count: rows * inner), up = run.scratch("shared-up", count: rows * inner)
        try linear(shared + ".gate_proj", normed, into: gate)
        try linear(shared + ".up_proj", normed, into: up)
        activation.applyGated(gate, times: up, count: rows * inner)
        let output = run.scratch("shared-output", count: rows * width)
        try linear(shared + ".down_proj", gate, into: output)
        let logit = run.scratch("shared-expert-gate", count: rows)
        try linear(experts.module + ".shared_expert_gate", normed, into: logit)
        for r in 0..<rows {
            let scale = 1 / (1 + exp(-logit[r]))
            for j in 0..<width { sum[r * width + j] += scale * output[r * width + j] }
        }
    }

    /// Per token: its top_k experts (largest router probability first) and their weights.
    private func route(_ normed: UnsafePointer<Float>, rows: Int, weights: BlockWeights, run: RunContext) -> [[(expert: Int, weight: Float)]] {
        let count = experts.expertCount
        let logits = run.scratch("router-logits", count: rows * count)
        weights.linear(experts.module + ".gate").apply(normed, rows: rows, into: logits)
        return (0..<rows).map { row in
            let z = UnsafeBufferPointer(start: logits + row * count, count: count)
            let largest = z.max() ?? 0
            let exps = z.map { exp($0 - largest) }
            let total = exps.reduce(0, +)
            let probabilities = exps.map { $0 / total }
            let picks = probabilities.enumerated().sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }
                .prefix(experts.topK).map { (expert: $0.offset, weight: $0.element) }
            guard experts.normalizesTopK else { return picks }
            let kept = picks.reduce(0) { $0 + $1.weight }
            return picks.map { ($0.expert, $0.weight / kept) }
        }
    }
}
