import Foundation
import QuantKit

/// One routed expert of an MoE model as the explorer knows it: always kept as stored (bitsandbytes in
/// transformers does not quantize it — `reason`); once calibrated, the tokens routed to it and what its
/// inputs reached; then what-if errors, which are never part of the plan.
struct ExpertEntry {
    /// The layer's module (`model.layers.0.block_sparse_moe`) and the expert's index in it.
    let module: String
    let index: Int
    let block: Int
    /// Its projections' stored bytes, in the dtype kept tensors are counted in.
    let storedBytes: Int
    var routedTokens: Int?
    var gateUpInput: ActivationStatistics?
    var downInput: ActivationStatistics?
    var whatIf: ExpertWhatIf?
    /// The blocksize the what-if 4-bit errors were measured at (int8 holds at any).
    var whatIfBlocksize: Int?

    static let reason = KeptTensor.Reason.moeExpert.rawValue

    var name: String { Self.name(module, index) }
    static func name(_ module: String, _ index: Int) -> String { "\(module).experts.\(index)" }

    /// The largest what-if int8 error of the three projections at `threshold` (exact when all are).
    func whatIfInt8(at threshold: Float) -> (value: Double, exact: Bool)? {
        guard let whatIf else { return nil }
        let errors = whatIf.projections.map { $0.int8Error(at: threshold) }
        return (errors.map(\.value).max() ?? 0, errors.allSatisfy(\.exact))
    }

    /// The largest what-if error of a 4-bit method, once measured at `blocksize`.
    func whatIf(_ method: QuantMethod, blocksize: Int) -> Double? {
        guard let whatIf, whatIfBlocksize == blocksize else { return nil }
        return whatIf.projections.compactMap { $0.fourBit[method] }.max()
    }

    /// The routed experts of a model's kept tensors (`<module>.experts.<e>.<projection>.weight`), by block and index.
    static func entries(_ model: OpenedModel) -> [ExpertEntry] {
        var bytes: [String: Int] = [:]
        var places: [String: (module: String, index: Int, block: Int)] = [:]
        for kept in model.plan.kept where kept.reason == .moeExpert {
            let name = kept.tensor.name
            guard let marker = name.range(of: ".experts.", options: .backwards),
                  let index = Int(name[marker.upperBound...].prefix { $0 != "." }) else { continue }
            let module = String(name[..<marker.lowerBound])
            let key = Self.name(module, index)
            places[key] = (module, index, HiddenStateInputs.block(of: module) ?? 0)
            bytes[key, default: 0] += kept.tensor.elementCount * kept.tensor.dtype.kept(as: model.keptDType).byteSize
        }
        return places.values.sorted { ($0.block, $0.module, $0.index) < ($1.block, $1.module, $1.index) }.map {
            ExpertEntry(module: $0.module, index: $0.index, block: $0.block, storedBytes: bytes[Self.name($0.module, $0.index)] ?? 0)
        }
    }
}

/// What the table lists: the converted Linears, or (`x`, MoE models) the routed experts kept beside them.
enum TableContent { case layers, experts }

extension ExplorerState {
    /// What calibration saw at the experts; experts it did not see keep no numbers.
    mutating func setExperts(_ layers: [MoELayerActivity]) {
        for layer in layers {
            expertTopK = layer.topK
            for seen in layer.experts {
                guard let index = expertIndex[ExpertEntry.name(layer.module, seen.index)] else { continue }
                experts[index].routedTokens = seen.routedTokens
                experts[index].gateUpInput = seen.gateUpInput
                experts[index].downInput = seen.downInput
            }
        }
    }

    /// Indices into `experts` that pass the filter, in the chosen order.
    var visibleExperts: [Int] {
        var rows = Array(experts.indices)
        if !filter.isEmpty { rows = rows.filter { Self.matches(experts[$0].name, filter) } }
        func descending(_ key: (ExpertEntry) -> Double?) { rows.sort { (key(experts[$0]) ?? -1) > (key(experts[$1]) ?? -1) } }
        switch sort {
        case .file: break
        case .name: rows.sort { experts[$0].name < experts[$1].name }
        case .outliers: descending { $0.gateUpInput.map { Double($0.outlierColumns(atLeast: threshold)) } }
        case .int8Error: descending { $0.whatIfInt8(at: threshold)?.value }
        case .fourBitError: descending { $0.whatIf(fourBitMethod, blocksize: blocksize) }
        case .size: descending { Double($0.storedBytes) }
        case .routedTokens: descending { $0.routedTokens.map(Double.init) }
        }
        return rows
    }

    var selectedExpert: ExpertEntry? {
        guard table == .experts else { return nil }
        let rows = visibleExperts
        return rows.indices.contains(selection) ? experts[rows[selection]] : nil
    }

    /// The experts of one layer, in index order.
    func experts(of module: String) -> [ExpertEntry] { experts.filter { $0.module == module } }
}
