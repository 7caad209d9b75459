/// One component object of tokenizer.json — the model, a normalizer, a pre-tokenizer step, an added
/// token — with typed field access that throws a `TokenizerError` naming the file and the component.
///
///     tokenizer.json = {"version": "1.0", "truncation": {…}|null, "padding": {…}|null,
///                       "added_tokens": [{"id", "content", "single_word", "lstrip", "rstrip",
///                                         "normalized", "special"}, …],
///                       "normalizer": {"type": …}|null, "pre_tokenizer": {"type": …}|null,
///                       "model": {"type": "BPE"|"WordPiece", …},
///                       "post_processor": {"type": …}|null, "decoder": {…}|null}
///
/// A missing field takes the default the library gives it; a field of the wrong type is an error.
struct ComponentReader {
    let file: String
    /// Where the component sits, for messages: `normalizer`, `pre_tokenizer[1]`, `added_tokens[3]`.
    let path: String
    let fields: [String: JSONValue]

    init(file: String, path: String, json: JSONValue) throws {
        self.file = file
        self.path = path
        guard let object = json.object else {
            throw TokenizerError(file: file, .invalidComponent(component: path, reason: "is not a JSON object"))
        }
        fields = object
    }

    var type: String? { fields["type"]?.string }

    /// `pre_tokenizer[1] Split`, or just the path when the object has no type.
    var label: String { type.map { "\(path) \($0)" } ?? path }

    func invalid(_ reason: String) -> TokenizerError {
        TokenizerError(file: file, .invalidComponent(component: label, reason: reason))
    }

    func unsupported(_ what: String? = nil) -> TokenizerError {
        TokenizerError(file: file, .unsupported(component: path, type: what.map { "\(type ?? "?") \($0)" } ?? type ?? "without a type"))
    }

    /// The value of `key`, treating JSON null like a missing field.
    func value(_ key: String) -> JSONValue? {
        guard let value = fields[key], value != .null else { return nil }
        return value
    }

    func string(_ key: String) throws -> String {
        guard let value = try optionalString(key) else { throw invalid("\(key) is missing") }
        return value
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.string else { throw invalid("\(key) is not a string") }
        return string
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        try optionalBool(key) ?? fallback
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard let flag = value.bool else { throw invalid("\(key) is not a boolean") }
        return flag
    }

    func integer(_ key: String) throws -> Int {
        guard let value = value(key) else { throw invalid("\(key) is missing") }
        guard let number = value.integer else { throw invalid("\(key) is not an integer") }
        return number
    }

    func integer(_ key: String, default fallback: Int) throws -> Int {
        value(key) == nil ? fallback : try integer(key)
    }

    func array(_ key: String) throws -> [JSONValue] {
        guard let value = value(key) else { throw invalid("\(key) is missing") }
        guard let items = value.array else { throw invalid("\(key) is not an array") }
        return items
    }

    func object(_ key: String) throws -> [String: JSONValue] {
        guard let value = value(key) else { throw invalid("\(key) is missing") }
        guard let object = value.object else { throw invalid("\(key) is not an object") }
        return object
    }

    /// The components of a list field (`normalizers`, `pretokenizers`, `processors`), each named by
    /// its position under this component's path.
    func children(_ key: String) throws -> [ComponentReader] {
        try array(key).enumerated().map { try ComponentReader(file: file, path: "\(path)[\($0.offset)]", json: $0.element) }
    }

    /// A single character field (Metaspace's `replacement`): exactly one Unicode scalar, as Rust's
    /// `char` is.
    func scalar(_ key: String, default fallback: Unicode.Scalar) throws -> Unicode.Scalar {
        guard let text = try optionalString(key) else { return fallback }
        guard text.unicodeScalars.count == 1, let scalar = text.unicodeScalars.first else {
            throw invalid("\(key) must be one character")
        }
        return scalar
    }
}
