import Foundation

/// A GGUF of an architecture the runtime has no forward pass for (GGUFArchitecture has no entry) still
/// opens: its weights are converted under their GGUF names (no table says which transformers name each
/// has for that architecture) for the weight analysis, and config.json says why it cannot run.
///
///     config.json  {"architectures": [], "model_type": <general.architecture>,
///                   "qtui_weight_only": <why it cannot run>}   (ModelDescription throws that reason)
///
/// Kept: every tensor of at most 2 dimensions whose type dequantizes — the 2-D ones are the Linear weights
/// LinearLayerPlan lists (token_embd and output stay as the embedding and the head), the 1-D ones the
/// norms and biases the size table counts. Tensors of more dimensions (MoE expert stacks) and of types
/// without a dequantizer are left out and named in the reason.
enum GGUFWeightOnly {
    /// The config key ModelDescription reads the reason from.
    static let reasonKey = "qtui_weight_only"

    static func tensors(_ file: GGUFFile) -> [(GGUFTensor, String)] {
        file.tensors.filter(isKept).map { ($0, $0.name) }
    }

    private static func isKept(_ tensor: GGUFTensor) -> Bool { tensor.shape.count <= 2 && tensor.type.isDequantizable }

    static func reason(_ file: GGUFFile) -> String {
        let name = file["general.architecture"]?.string ?? "unknown"
        let runnable = GGUFArchitecture.supported.map(\.name).joined(separator: ", ")
        var reason = "GGUF architecture \(name) opens weight-only: qtui runs \(runnable) GGUF files; its weights keep their GGUF names"
        let left = file.tensors.filter { !isKept($0) }
        if !left.isEmpty {
            reason += "; \(left.count) tensor\(left.count == 1 ? "" : "s") of more than 2 dimensions or without a dequantizer left out (\(left[0].name)\(left.count > 1 ? ", …" : ""))"
        }
        return reason
    }

    static func configJSON(_ file: GGUFFile) -> String {
        let name = file["general.architecture"]?.string ?? "unknown"
        return "{\n  \"architectures\": [],\n  \"model_type\": \(SafetensorsWriter.quoted(name)),\n"
            + "  \"\(reasonKey)\": \(SafetensorsWriter.quoted(reason(file)))\n}\n"
    }
}
