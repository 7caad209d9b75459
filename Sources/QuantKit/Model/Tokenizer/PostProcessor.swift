/// The `post_processor` of tokenizer.json: what `add_special_tokens` adds around the encoded text. For
/// a single sequence, which is all `Tokenizer.encode` handles:
///
///     {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
///                                               {"Sequence": {"id": "A", "type_id": 0}}, …],
///      "pair": […], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
///     {"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}     [CLS] A [SEP]
///     {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], …}      <s> A </s>
///     {"type": "ByteLevel", …}            offsets only: the ids stay as they are
///     {"type": "Sequence", "processors": [ … ]}   each in turn
enum PostProcessor: Sendable {
    /// The ids before and after the text (a template's special tokens around $A).
    case wrap(prefix: [Int], suffix: [Int])
    case sequence([PostProcessor])

    init(_ reader: ComponentReader) throws {
        switch reader.type {
        case "TemplateProcessing":
            self = try Self.template(reader)
        case "BertProcessing", "RobertaProcessing":
            self = .wrap(prefix: [try Self.idPair(reader, "cls")], suffix: [try Self.idPair(reader, "sep")])
        case "ByteLevel":
            self = .wrap(prefix: [], suffix: [])
        case "Sequence":
            self = .sequence(try reader.children("processors").map(PostProcessor.init))
        default:
            throw reader.unsupported()
        }
    }

    func apply(_ ids: [Int], addSpecialTokens: Bool) -> [Int] {
        guard addSpecialTokens else { return ids }
        switch self {
        case .wrap(let prefix, let suffix):
            return prefix.isEmpty && suffix.isEmpty ? ids : prefix + ids + suffix
        case .sequence(let steps):
            return steps.reduce(ids) { $1.apply($0, addSpecialTokens: true) }
        }
    }

    /// What `apply` puts before and after the text.
    var added: (prefix: [Int], suffix: [Int]) {
        switch self {
        case .wrap(let prefix, let suffix):
            return (prefix, suffix)
        case .sequence(let steps):
            return steps.reduce(([], [])) { sum, step in
                let inner = step.added
                return (inner.prefix + sum.prefix, sum.suffix + inner.suffix)
            }
        }
    }

    /// `["[CLS]", 101]` → 101.
    private static func idPair(_ reader: ComponentReader, _ key: String) throws -> Int {
        let pair = try reader.array(key)
        guard pair.count == 2, pair[0].string != nil, let id = pair[1].integer else {
            throw reader.invalid("\(key) is not a [token, id] pair")
        }
        return id
    }

    private static func template(_ reader: ComponentReader) throws -> PostProcessor {
        let specials = try reader.object("special_tokens")
        var prefix: [Int] = []
        var suffix: [Int] = []
        var seenSequence = false
        for item in try reader.array("single") {
            if let special = item["SpecialToken"], let name = special["id"]?.string {
                guard let ids = specials[name]?["ids"]?.array?.compactMap(\.integer) else {
                    throw reader.invalid("single uses \(name), which special_tokens does not define")
                }
                if seenSequence { suffix += ids } else { prefix += ids }
            } else if let sequence = item["Sequence"], sequence["id"]?.string == "A", !seenSequence {
                seenSequence = true
            } else {
                throw reader.invalid("single must hold special tokens and $A once")
            }
        }
        guard seenSequence else { throw reader.invalid("single must hold $A") }
        return .wrap(prefix: prefix, suffix: suffix)
    }
}
