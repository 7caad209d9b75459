import Foundation

/// What calibration saw at the routed experts of one MoE layer (mixtral, qwen2_moe, qwen3_moe, olmoe):
/// per expert the calibration tokens the router sent to it and the statistics of its two inputs. These
/// experts are not converted by transformers + bitsandbytes (LinearLayers.swift says why); the numbers are
/// for the what-if and for seeing how the router spreads the text, never for the plan.
public struct MoELayerActivity: Sendable, Equatable {
    /// The module holding the router and the experts, e.g. `model.layers.0.block_sparse_moe`.
    public let module: String
    public let block: Int
    /// Experts each token is routed to (`num_experts_per_tok`).
    public let topK: Int
    /// Every expert of the layer in index order, those that received no token included.
    public let experts: [ExpertActivity]

    /// Tokens that went through the layer (each counted once, though routed to `topK` experts).
    public var tokens: Int { experts.reduce(0) { $0 + $1.routedTokens } / max(topK, 1) }
}

public struct ExpertActivity: Sendable, Equatable {
    public let index: Int
    /// Stored module names of the expert's projections (gate, up, down), e.g. `….experts.3.w1`.
    public let gate: String
    public let up: String
    public let down: String
    /// Calibration tokens the router sent to this expert.
    public let routedTokens: Int
    /// The input of the gate and up projections (the normed block input of the routed tokens); nil when
    /// no token was routed here — there is nothing to describe, not an empty histogram.
    public let gateUpInput: ActivationStatistics?
    /// The input of the down projection, act(gate) ⊙ up; nil as `gateUpInput`.
    public let downInput: ActivationStatistics?
}

/// Folds the routed experts' inputs, as `ModelRuntime.runObservingExperts` shows them, into
/// `MoELayerActivity` per layer. The gate and up projections read the same rows: the gate's are kept.
struct ExpertActivityCollector {
    private let mixture: MixtureOfExperts
    private let countedThresholds: [Float]
    private let sampleStride: Int
    private let sampleLimit: Int
    /// Per `….experts.<e>.<projection>` name, keyed by the name of the statistics it feeds.
    private var statistics: [String: ActivationStatistics] = [:]
    private var routed: [String: Int] = [:]
    /// Layer modules in the order first seen (block order), with their block.
    private var layers: [(module: String, block: Int)] = []

    /// An expert sees about topK / experts of the tokens: its rows are sampled at a stride that spreads
    /// about `sampleLimit` of them over the whole text, counted in the expert's own routed rows.
    init(_ mixture: MixtureOfExperts, tokens: Int, sampleLimit: Int, countedThresholds: [Float]) {
        self.mixture = mixture
        self.countedThresholds = countedThresholds
        self.sampleLimit = sampleLimit
        sampleStride = max(1, tokens * mixture.topK / max(mixture.expertCount * max(sampleLimit, 1), 1))
    }

    /// Takes a routed expert's input; false for any other input (a converted Linear's).
    mutating func add(_ input: LinearInput) -> Bool {
        guard input.routedTokens != nil, let place = Self.place(of: input.name) else { return false }
        let (gate, _, down) = mixture.projections
        guard place.projection == gate || place.projection == down else { return true }
        if place.projection == gate {
            routed[place.module + "." + String(place.expert), default: 0] += input.tokens
            if !layers.contains(where: { $0.module == place.module }), let block = input.block { layers.append((place.module, block)) }
        }
        guard input.tokens > 0 else { return true }
        var entry = statistics[input.name]
            ?? ActivationStatistics(name: input.name, features: input.features, countedThresholds: countedThresholds)
        // The expert's routed rows count as its own sequence, so the stride spreads its sample over the text.
        entry.add(rows: input.values, count: input.tokens, firstToken: entry.tokens, sampleStride: sampleStride, sampleLimit: sampleLimit)
        statistics[input.name] = entry
        return true
    }

    func finish() -> [MoELayerActivity] {
        let (gate, up, down) = mixture.projections
        return layers.map { layer in
            let experts = (0..<mixture.expertCount).map { e in
                let name = { (projection: String) in "\(layer.module).experts.\(e).\(projection)" }
                let finished = { (projection: String) -> ActivationStatistics? in
                    guard var seen = statistics[name(projection)] else { return nil }
                    seen.finish()
                    return seen
                }
                return ExpertActivity(index: e, gate: name(gate), up: name(up), down: name(down),
                                      routedTokens: routed[layer.module + "." + String(e)] ?? 0,
                                      gateUpInput: finished(gate), downInput: finished(down))
            }
            return MoELayerActivity(module: layer.module, block: layer.block, topK: mixture.topK, experts: experts)
        }
    }

    /// `<layer module>.experts.<e>.<projection>` split into its parts.
    private static func place(of name: String) -> (module: String, expert: Int, projection: String)? {
        guard let marker = name.range(of: ".experts.", options: .backwards) else { return nil }
        let rest = name[marker.upperBound...].split(separator: ".", maxSplits: 1)
        guard rest.count == 2, let expert = Int(rest[0]) else { return nil }
        return (String(name[..<marker.lowerBound]), expert, String(rest[1]))
    }
}
