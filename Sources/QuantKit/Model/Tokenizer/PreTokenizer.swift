/// A word on its way to the model: a piece of normalized text, and whether it begins at the very start
/// of the input (what Metaspace's `prepend_scheme: "first"` asks; the library reads that from the
/// piece's original offset being 0).
struct Piece {
    var text: String
    var atStart: Bool
}

/// The `pre_tokenizer` of tokenizer.json: splits each normalized piece into words the model encodes
/// one by one (and, for ByteLevel, rewrites them into the byte alphabet).
///
///     {"type": "Sequence", "pretokenizers": [ … ]}
///     {"type": "Split", "pattern": {"String"|"Regex": …}, "behavior": "Isolated"|…, "invert": false}
///     {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": …, "use_regex": true}
///     {"type": "Digits", "individual_digits": true}
///     {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"|"first"|"never", "split": true}
///         (older files: "add_prefix_space": bool instead of prepend_scheme)
///     {"type": "BertPreTokenizer"}
///     {"type": "Punctuation", "behavior": "Contiguous"}   (Falcon; default Isolated)
indirect enum PreTokenizer: Sendable {
    enum PrependScheme: String, Sendable { case always, first, never }

    case sequence([PreTokenizer])
    case split(TextPattern, SplitBehavior, invert: Bool)
    /// `regex` is GPT-2's pattern when `use_regex` is set.
    case byteLevel(addPrefixSpace: Bool, regex: TextPattern?)
    case digits(individual: Bool)
    case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme, split: Bool)
    case bert
    /// Splits around BERT's punctuation characters with the given behaviour.
    case punctuation(SplitBehavior)

    init(_ reader: ComponentReader) throws {
        switch reader.type {
        case "Sequence":
            self = .sequence(try reader.children("pretokenizers").map(PreTokenizer.init))
        case "Split":
            let name = try reader.string("behavior")
            guard let behavior = SplitBehavior(rawValue: name) else { throw reader.unsupported("behavior \(name)") }
            self = .split(try TextPattern(reader, key: "pattern"), behavior, invert: try reader.bool("invert", default: false))
        case "ByteLevel":
            let regex = try reader.bool("use_regex", default: true) ? try TextPattern(regex: ByteLevel.gpt2Pattern) : nil
            self = .byteLevel(addPrefixSpace: try reader.bool("add_prefix_space", default: true), regex: regex)
        case "Digits":
            self = .digits(individual: try reader.bool("individual_digits", default: false))
        case "Metaspace":
            self = .metaspace(replacement: try reader.scalar("replacement", default: "▁"),
                              prepend: try Self.prependScheme(reader),
                              split: try reader.bool("split", default: true))
        case "BertPreTokenizer":
            self = .bert
        case "Punctuation":
            let name = try reader.optionalString("behavior") ?? SplitBehavior.isolated.rawValue
            guard let behavior = SplitBehavior(rawValue: name) else { throw reader.unsupported("behavior \(name)") }
            self = .punctuation(behavior)
        default:
            throw reader.unsupported()
        }
    }

    private static func prependScheme(_ reader: ComponentReader) throws -> PrependScheme {
        if try reader.optionalBool("add_prefix_space") == false { return .never }
        guard let name = try reader.optionalString("prepend_scheme") else { return .always }
        guard let scheme = PrependScheme(rawValue: name) else { throw reader.unsupported("prepend_scheme \(name)") }
        return scheme
    }

    func apply(_ pieces: [Piece]) -> [Piece] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(pieces) { $1.apply($0) }
        case .split(let pattern, let behavior, let invert):
            return pieces.flatMap { piece in
                var spans = Span.around(pattern.matches(in: piece.text), in: piece.text)
                if invert { for i in spans.indices { spans[i].isMatch.toggle() } }
                return piece.split(behavior.apply(spans))
            }
        case .byteLevel(let addPrefixSpace, let regex):
            return pieces.flatMap { piece -> [Piece] in
                var piece = piece
                if addPrefixSpace && piece.text.unicodeScalars.first != " " { piece.text = " " + piece.text }
                let words = regex.map { piece.split(SplitBehavior.isolated.apply(Span.around($0.matches(in: piece.text), in: piece.text))) } ?? [piece]
                return words.map { Piece(text: ByteLevel.encode($0.text), atStart: $0.atStart) }
            }
        case .digits(let individual):
            return pieces.flatMap { piece in
                piece.split((individual ? SplitBehavior.isolated : .contiguous).apply(Span.each(in: piece.text, where: CharacterClasses.isNumeric)))
            }
        case .metaspace(let replacement, let prepend, let split):
            return pieces.flatMap { piece in Self.metaspace(piece, replacement, prepend, split) }
        case .bert:
            return pieces
                .flatMap { $0.split(SplitBehavior.removed.apply(Span.each(in: $0.text, where: CharacterClasses.isWhitespace))) }
                .flatMap { $0.split(SplitBehavior.isolated.apply(Span.each(in: $0.text, where: CharacterClasses.isBertPunctuation))) }
        case .punctuation(let behavior):
            return pieces.flatMap { $0.split(behavior.apply(Span.each(in: $0.text, where: CharacterClasses.isBertPunctuation))) }
        }
    }

    /// Spaces become the replacement, which is prepended as the scheme says unless the piece already
    /// starts with it; with `split`, every replacement starts a new word.
    private static func metaspace(_ piece: Piece, _ replacement: Unicode.Scalar, _ prepend: PrependScheme, _ split: Bool) -> [Piece] {
        var scalars = String.UnicodeScalarView()
        for c in piece.text.unicodeScalars { scalars.append(c == " " ? replacement : c) }
        let wantsPrefix = prepend == .always || (prepend == .first && piece.atStart)
        if wantsPrefix && scalars.first != replacement { scalars.insert(replacement, at: scalars.startIndex) }
        let replaced = Piece(text: String(scalars), atStart: piece.atStart)
        guard split else { return [replaced] }
        return replaced.split(SplitBehavior.mergedWithNext.apply(Span.each(in: replaced.text) { $0 == replacement }))
    }
}

extension Piece {
    /// The non-empty sub-pieces at `ranges` of this piece's text; only one that begins where this
    /// piece begins can still be at the start of the input.
    func split(_ ranges: [Range<String.Index>]) -> [Piece] {
        ranges.compactMap { range in
            range.isEmpty ? nil : Piece(text: String(text.unicodeScalars[range]), atStart: atStart && range.lowerBound == text.startIndex)
        }
    }
}
