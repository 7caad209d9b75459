/// The numbers that fix a transformer's tensor shapes, checked in one place before anything divides by
/// them, sizes an array with them or allocates from them. config.json (ModelConfig, on opening a
/// checkpoint) and GGUF metadata (GGUFModelConfig, before a conversion) both build one; ModelDescription
/// and the converter read their numbers from it and from nowhere else.
///
/// A value is refused — one line naming the file, the key as that file spells it, and the value — when
/// - it is not an integer (a float such as 1.5, a string, a bool; 2.0 counts as 2, as JSONValue reads it);
/// - it is outside 1…bound. The bounds are far above any released model and far below overflow: a
///   product of any two fields is at most 2^48, so tokens × hidden, vocabulary × hidden, heads × head
///   size and the like cannot wrap, and no `Array(repeating:count:)` over layers can ask for gigabytes;
/// - the fields disagree: key/value heads must divide heads; a head size derived from hidden / heads
///   needs hidden divisible by heads; a rotary model needs an even head size (RoPE rotates pairs), and
///   rotary dimensions must be even and at most the head size.
/// Every field is optional, because a config.json names only some of them (an architecture qtui does
/// not run may use others); relations are checked among those present. A JSON null counts as absent,
/// as transformers reads it.
public struct ModelGeometry: Sendable, Equatable {
    public enum Field: String, CaseIterable, Sendable {
        case hiddenSize, layerCount, headCount, keyValueHeadCount, headSize, intermediateSize, vocabularySize
        case maxPositions, rotaryDimensions, slidingWindow, typeVocabularySize

        /// The largest value accepted.
        var bound: Int {
            switch self {
            case .hiddenSize: return 1 << 20
            case .layerCount, .headCount, .keyValueHeadCount, .headSize: return 1 << 16
            case .intermediateSize: return 1 << 22
            case .vocabularySize: return 1 << 24
            case .maxPositions, .slidingWindow: return 1 << 24
            case .rotaryDimensions, .typeVocabularySize: return 1 << 16
            }
        }
    }

    /// A value as the file holds it: an integer, or a description of whatever else is there.
    public enum Value: Sendable, Equatable {
        case integer(Int)
        case other(String)
    }

    /// The config.json keys of each field, first present wins (transformers' names, then GPT-2's and
    /// T5's spellings of the same thing).
    static let configKeys: [Field: [String]] = [
        .hiddenSize: ["hidden_size", "n_embd", "d_model"], .layerCount: ["num_hidden_layers", "n_layer", "num_layers"],
        .headCount: ["num_attention_heads", "n_head"], .keyValueHeadCount: ["num_key_value_heads"], .headSize: ["head_dim"],
        .intermediateSize: ["intermediate_size", "n_inner"], .vocabularySize: ["vocab_size"],
        .maxPositions: ["n_positions", "max_position_embeddings"], .slidingWindow: ["sliding_window"],
        .typeVocabularySize: ["type_vocab_size"],
    ]

    /// The geometry a config.json's top-level object describes.
    init(file: String, config fields: [String: JSONValue], rotary: Bool) throws {
        var present: [Field: (key: String, value: Value)] = [:]
        for field in Field.allCases {
            for key in Self.configKeys[field] ?? [] {
                guard let json = fields[key], json != .null else { continue }
                present[field] = (key, json.integer.map(Value.integer) ?? .other(Self.describe(json)))
                break
            }
        }
        try self.init(file: file, fields: present, rotary: rotary)
    }

    /// A non-integer JSON value, short enough for a one-line message.
    private static func describe(_ json: JSONValue) -> String {
        switch json {
        case .number(let value): return "\(value)"
        case .string(let text): return "\"" + (text.count > 40 ? text.prefix(40) + "…" : text) + "\""
        case .bool(let value): return "\(value)"
        case .array: return "(an array)"
        case .object: return "(an object)"
        case .null, .integer: return "\(json)"
        }
    }

    private struct Entry: Sendable, Equatable {
        let key: String
        let value: Int
    }

    public let file: String
    /// Each present field's value and the key it came from.
    private let values: [Field: Entry]

    public var hiddenSize: Int? { self[.hiddenSize] }
    public var layerCount: Int? { self[.layerCount] }
    public var headCount: Int? { self[.headCount] }
    /// Defaults to the head count (no grouped-query attention), as transformers does.
    public var keyValueHeadCount: Int? { self[.keyValueHeadCount] ?? headCount }
    /// Explicit (head_dim, key_length), else hidden / heads.
    public var headSize: Int? {
        if let explicit = self[.headSize] { return explicit }
        guard let hiddenSize, let headCount else { return nil }
        return hiddenSize / headCount
    }
    public var intermediateSize: Int? { self[.intermediateSize] }
    public var vocabularySize: Int? { self[.vocabularySize] }
    public var maxPositions: Int? { self[.maxPositions] }
    public var rotaryDimensions: Int? { self[.rotaryDimensions] }
    public var slidingWindow: Int? { self[.slidingWindow] }
    public var typeVocabularySize: Int? { self[.typeVocabularySize] }

    public subscript(field: Field) -> Int? { values[field]?.value }

    /// The key a field was read from (for messages), or the field's name when it was not in the file.
    public func key(_ field: Field) -> String { values[field]?.key ?? field.rawValue }

    /// `fields`: for each field present, the key it was read under and its value. `rotary`: the model
    /// rotates q and k (llama family), so its head size must be even.
    init(file: String, fields: [Field: (key: String, value: Value)], rotary: Bool) throws {
        self.file = file
        var values: [Field: Entry] = [:]
        // In Field order, so the first of several bad values is always the one reported.
        for field in Field.allCases {
            guard let entry = fields[field] else { continue }
            guard case .integer(let number) = entry.value else {
                throw GeometryError(file: file, key: entry.key, value: entry.value, reason: "is not an integer")
            }
            // A sliding window of 0 means none (Qwen2MoeConfig writes it so when use_sliding_window is off).
            if field == .slidingWindow && number == 0 { continue }
            guard (1...field.bound).contains(number) else {
                throw GeometryError(file: file, key: entry.key, value: entry.value, reason: "is outside 1…\(field.bound)")
            }
            values[field] = Entry(key: entry.key, value: number)
        }
        self.values = values
        try checkRelations(rotary: rotary)
    }

    private func checkRelations(rotary: Bool) throws {
        func fail(_ field: Field, _ reason: String) -> GeometryError {
            GeometryError(file: file, key: key(field), value: .integer(self[field] ?? 0), reason: reason)
        }
        if let heads = headCount, let groups = self[.keyValueHeadCount], heads % groups != 0 {
            throw fail(.keyValueHeadCount, "does not divide \(key(.headCount)) \(heads)")
        }
        if self[.headSize] == nil, let hidden = hiddenSize, let heads = headCount, hidden % heads != 0 {
            throw fail(.hiddenSize, "is not divisible by \(key(.headCount)) \(heads)")
        }
        if rotary, let size = headSize, size % 2 != 0 {
            throw GeometryError(file: file, key: self[.headSize] == nil ? "\(key(.hiddenSize)) / \(key(.headCount))" : key(.headSize),
                                value: .integer(size), reason: "is odd: rotary embeddings rotate pairs of a head's dimensions")
        }
        if let dimensions = rotaryDimensions {
            if dimensions % 2 != 0 { throw fail(.rotaryDimensions, "is odd: rotary embeddings rotate pairs") }
            if let size = headSize, dimensions > size { throw fail(.rotaryDimensions, "is more than the head size \(size)") }
        }
    }
}

/// A geometry value refused by ModelGeometry: `FILE: KEY VALUE reason`.
public struct GeometryError: BadInputError, Equatable {
    public let file: String
    public let key: String
    public let value: ModelGeometry.Value
    public let reason: String

    public var message: String {
        switch value {
        case .integer(let number): return "\(key) \(number) \(reason)"
        case .other(let text): return "\(key) \(text) \(reason)"
        }
    }
}
