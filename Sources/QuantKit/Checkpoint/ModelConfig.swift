import Foundation

/// The few fields of a Hugging Face `config.json` that qtui reads. The raw JSON object is kept as
/// bytes so the exporter can write it back with `quantization_config` added and nothing else changed.
public struct ModelConfig: Sendable {
    /// Where config.json was read from.
    public let path: String
    public let modelType: String?
    public let architectures: [String]
    /// The shape-fixing numbers, validated (ModelGeometry): an absurd one fails the open.
    public let geometry: ModelGeometry
    public var hiddenSize: Int? { geometry.hiddenSize }
    public var layerCount: Int? { geometry.layerCount }
    public var vocabularySize: Int? { geometry.vocabularySize }
    public let rawJSON: Data

    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CheckpointError(file: path, .cannotOpen(reason: "unreadable"))
        }
        guard let fields = (try? JSONValue.parse(data))?.object else {
            throw CheckpointError(file: path, .invalidJSON("config.json is not a JSON object"))
        }
        self.path = path
        rawJSON = data
        modelType = fields["model_type"]?.string
        architectures = fields["architectures"]?.array?.compactMap(\.string) ?? []
        geometry = try ModelGeometry(file: path, config: fields,
                                     rotary: [.llama, .gemma].contains(modelType.flatMap(ModelDescription.family(of:))))
    }
}
