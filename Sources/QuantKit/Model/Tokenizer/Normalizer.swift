import Foundation

/// The `normalizer` of tokenizer.json: rewrites each stretch of text between added tokens before it
/// is pre-tokenized. Only the text matters here (ids, not offsets), so no alignments are kept.
///
///     {"type": "Sequence", "normalizers": [ … ]}
///     {"type": "BertNormalizer", "clean_text", "handle_chinese_chars", "strip_accents": null|bool, "lowercase"}
///     {"type": "NFC"|"NFD"|"NFKC"|"NFKD"|"Lowercase"|"StripAccents"}
///     {"type": "Strip", "strip_left", "strip_right"}
///     {"type": "Replace", "pattern": {"String"|"Regex": …}, "content": "…"}
///     {"type": "Prepend", "prepend": "▁"}
///     {"type": "ByteLevel"}
indirect enum Normalizer: Sendable {
    case sequence([Normalizer])
    case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case stripAccents
    case strip(left: Bool, right: Bool)
    case replace(TextPattern, with: String)
    case prepend(String)
    case byteLevel

    init(_ reader: ComponentReader) throws {
        switch reader.type {
        case "Sequence":
            self = .sequence(try reader.children("normalizers").map(Normalizer.init))
        case "BertNormalizer":
            let lowercase = try reader.bool("lowercase", default: true)
            // strip_accents null means "as lowercase says" (BERT's uncased models strip, cased keep).
            self = .bert(cleanText: try reader.bool("clean_text", default: true),
                         handleChineseChars: try reader.bool("handle_chinese_chars", default: true),
                         stripAccents: try reader.optionalBool("strip_accents") ?? lowercase,
                         lowercase: lowercase)
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "Lowercase": self = .lowercase
        case "StripAccents": self = .stripAccents
        case "Strip":
            self = .strip(left: try reader.bool("strip_left", default: true), right: try reader.bool("strip_right", default: true))
        case "Replace":
            self = .replace(try TextPattern(reader, key: "pattern"), with: try reader.string("content"))
        case "Prepend":
            self = .prepend(try reader.string("prepend"))
        case "ByteLevel":
            self = .byteLevel
        default:
            throw reader.unsupported()
        }
    }

    /// How far a chain may grow a text: real chains stay within about 3× (NFKD of Hangul, BERT's spacing
    /// of Chinese characters, Prepend's prefix, "▁" for " "); 8× plus 1024 scalars leaves room (only a
    /// text made mostly of the rare 18-scalar NFKD ligatures like U+FDFA would pass it). Past that —
    /// 40 Replace "a" → "aa" double the text 40 times (issue 17, F9) — the chain stops, a Replace
    /// before it builds its output. The bound is also a time bound: each stage costs its text's length.
    static let growthFactor = 8, growthSlack = 1024

    /// A stage that grew the text past the limit; Tokenizer names its file.
    struct Growth: Error {
        let stage: String
        let input: Int
        let limit: Int
    }

    /// `text` normalized; throws Growth when a stage's output would pass growthFactor × the length of
    /// `text` + growthSlack scalars.
    func apply(_ text: String) throws -> String {
        let input = text.unicodeScalars.count
        return try apply(text, stage: "normalizer", input: input, limit: input * Self.growthFactor + Self.growthSlack)
    }

    private func apply(_ text: String, stage: String, input: Int, limit: Int) throws -> String {
        let growth = Growth(stage: "\(stage) (\(typeName))", input: input, limit: limit)
        let out: String
        switch self {
        case .sequence(let steps):
            return try steps.enumerated().reduce(text) { text, step in
                try step.element.apply(text, stage: stage + ".normalizers[\(step.offset)]", input: input, limit: limit)
            }
        case .replace(let pattern, let content):
            out = try Self.replace(text, pattern, with: content, limit: limit, growth: growth)
        default:
            out = applyStep(text)
        }
        guard out.unicodeScalars.count <= limit else { throw growth }
        return out
    }

    /// One stage other than Sequence and Replace, each growing the text by a bounded factor.
    private func applyStep(_ text: String) -> String {
        switch self {
        case .sequence, .replace: preconditionFailure("handled by apply")
        case .bert(let cleanText, let handleChineseChars, let stripAccents, let lowercase):
            var out = text
            if cleanText { out = Self.bertClean(out) }
            if handleChineseChars { out = Self.spaceChineseCharacters(out) }
            if stripAccents { out = Self.removeNonspacingMarks(out.decomposedStringWithCanonicalMapping) }
            if lowercase { out = Self.lowercased(out) }
            return out
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase: return Self.lowercased(text)
        case .stripAccents: return Self.removeNonspacingMarks(text)
        case .strip(let left, let right): return Self.strip(text, left: left, right: right)
        case .prepend(let prefix): return text.isEmpty ? text : prefix + text
        case .byteLevel: return ByteLevel.encode(text)
        }
    }

    /// The tokenizer.json type, for messages.
    private var typeName: String {
        switch self {
        case .sequence: return "Sequence"
        case .bert: return "BertNormalizer"
        case .nfc: return "NFC"
        case .nfd: return "NFD"
        case .nfkc: return "NFKC"
        case .nfkd: return "NFKD"
        case .lowercase: return "Lowercase"
        case .stripAccents: return "StripAccents"
        case .strip: return "Strip"
        case .replace: return "Replace"
        case .prepend: return "Prepend"
        case .byteLevel: return "ByteLevel"
        }
    }

    /// Lowercase one scalar at a time with its full mapping (İ → i̇), as Rust's `char::to_lowercase`
    /// does; Swift's `lowercased()` would also apply the final-sigma rule, which the library does not.
    static func lowercased(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for c in text.unicodeScalars {
            let properties = c.properties
            if properties.changesWhenLowercased {
                out.append(contentsOf: properties.lowercaseMapping.unicodeScalars)
            } else {
                out.append(c)
            }
        }
        return String(out)
    }

    /// Drops NUL, U+FFFD and controls; every kind of whitespace becomes a plain space.
    static func bertClean(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for c in text.unicodeScalars where !(c.value == 0 || c.value == 0xFFFD || CharacterClasses.isBertControl(c)) {
            out.append(CharacterClasses.isBertWhitespace(c) ? " " : c)
        }
        return String(out)
    }

    static func spaceChineseCharacters(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for c in text.unicodeScalars {
            if CharacterClasses.isChineseCharacter(c) {
                out.append(contentsOf: [" ", c, " "])
            } else {
                out.append(c)
            }
        }
        return String(out)
    }

    static func removeNonspacingMarks(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for c in text.unicodeScalars where !CharacterClasses.isNonspacingMark(c) { out.append(c) }
        return String(out)
    }

    static func strip(_ text: String, left: Bool, right: Bool) -> String {
        let scalars = text.unicodeScalars
        var start = scalars.startIndex
        var end = scalars.endIndex
        if left {
            while start != end, CharacterClasses.isWhitespace(scalars[start]) { start = scalars.index(after: start) }
        }
        if right {
            while end != start, CharacterClasses.isWhitespace(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        }
        return String(scalars[start..<end])
    }

    /// Sizes the output first (length − matched + matches × content) and throws `growth` past `limit`.
    static func replace(_ text: String, _ pattern: TextPattern, with content: String, limit: Int, growth: Growth) throws -> String {
        let matches = pattern.matches(in: text)
        if matches.isEmpty { return text }
        let scalars = text.unicodeScalars
        let matched = matches.reduce(0) { $0 + scalars.distance(from: $1.lowerBound, to: $1.upperBound) }
        let (added, overflow) = matches.count.multipliedReportingOverflow(by: content.unicodeScalars.count)
        guard !overflow, scalars.count - matched + added <= limit else { throw growth }
        var out = String.UnicodeScalarView()
        var previous = scalars.startIndex
        for match in matches {
            out.append(contentsOf: scalars[previous..<match.lowerBound])
            out.append(contentsOf: content.unicodeScalars)
            previous = match.upperBound
        }
        out.append(contentsOf: scalars[previous...])
        return String(out)
    }
}
