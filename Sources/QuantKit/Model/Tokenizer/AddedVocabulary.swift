/// A token from `added_tokens`: special ones (BOS, [CLS], <|im_end|>) and plain additions alike.
///
///     {"id": 128000, "content": "<|begin_of_text|>", "single_word": false, "lstrip": false,
///      "rstrip": false, "normalized": false, "special": true}
public struct AddedToken: Sendable, Equatable {
    public let id: Int
    public let content: String
    public let special: Bool
    /// Only matched where neither neighbour is a word character (\w).
    public let singleWord: Bool
    /// The match takes the whitespace before it (RoBERTa's <mask>) …
    public let lstrip: Bool
    /// … or after it.
    public let rstrip: Bool
    /// Matched in the normalized text (content normalized too) rather than in the raw input.
    public let normalized: Bool
}

/// Input after the added tokens are taken out: stretches of text for the pre-tokenizer and model, and
/// the ids of the added tokens between them.
enum Segment {
    case text(Piece)
    case token(Int)
}

/// The library's `AddedVocabulary::extract_and_normalize`:
///   1. tokens with normalized == false are found in the raw text;
///   2. each stretch between them is normalized on its own;
///   3. tokens with normalized == true (their content normalized the same way) are found in that.
/// So a special token is never normalized, and the normalizer (Prepend("▁") for instance) sees the
/// text on each side of it separately.
struct AddedVocabulary: Sendable {
    let tokens: [AddedToken]
    private let raw: AddedTokenMatcher
    private let normalized: AddedTokenMatcher

    init(_ tokens: [AddedToken], normalizer: Normalizer?) throws {
        self.tokens = tokens
        // Special tokens first, then the others (the library's pattern order), each in file order.
        let ordered = tokens.filter(\.special) + tokens.filter { !$0.special }
        raw = AddedTokenMatcher(ordered.filter { !$0.normalized }.map { ($0.content, $0) })
        normalized = AddedTokenMatcher(try ordered.filter(\.normalized).map { (try normalizer?.apply($0.content) ?? $0.content, $0) })
    }

    func extract(_ text: String, normalizer: Normalizer?) throws -> [Segment] {
        try raw.split(Piece(text: text, atStart: true)).flatMap { segment -> [Segment] in
            guard case .text(let piece) = segment else { return [segment] }
            let text = try normalizer?.apply(piece.text) ?? piece.text
            return normalized.split(Piece(text: text, atStart: piece.atStart))
        }
    }
}

/// Finds added tokens as the library's Aho-Corasick automaton does with MatchKind::LeftmostLongest:
/// the match that starts first wins, the longest among those; the search goes on after its end,
/// even when a single_word check then discards it.
struct AddedTokenMatcher: Sendable {
    /// A trie over Unicode scalars (matching valid UTF-8 bytes is the same thing).
    private var children: [[UInt32: Int32]] = [[:]]
    private var terminal: [AddedToken?] = [nil]

    init(_ patterns: [(String, AddedToken)]) {
        for (pattern, token) in patterns where !pattern.isEmpty {
            var node = 0
            for c in pattern.unicodeScalars {
                if let child = children[node][c.value] {
                    node = Int(child)
                } else {
                    children.append([:])
                    terminal.append(nil)
                    children[node][c.value] = Int32(children.count - 1)
                    node = children.count - 1
                }
            }
            if terminal[node] == nil { terminal[node] = token }
        }
    }

    func split(_ piece: Piece) -> [Segment] {
        if piece.text.isEmpty { return [] }
        if children[0].isEmpty { return [.text(piece)] }
        let scalars = Array(piece.text.unicodeScalars)
        var segments: [Segment] = []
        var textStart = 0
        var searchFrom = 0
        func emitText(_ end: Int) {
            if textStart < end {
                segments.append(.text(Piece(text: String(String.UnicodeScalarView(scalars[textStart..<end])), atStart: piece.atStart && textStart == 0)))
            }
        }
        while let (start, end, token) = leftmostLongest(scalars, from: searchFrom) {
            searchFrom = end
            if token.singleWord {
                let alonePrevious = start == 0 || !CharacterClasses.isWordCharacter(scalars[start - 1])
                let aloneNext = end == scalars.count || !CharacterClasses.isWordCharacter(scalars[end])
                if !alonePrevious || !aloneNext { continue }
            }
            var from = start
            var to = end
            if token.lstrip {
                while from > 0, CharacterClasses.isWhitespace(scalars[from - 1]) { from -= 1 }
                // Whitespace an earlier match already took stays with it.
                from = max(from, textStart)
            }
            if token.rstrip {
                while to < scalars.count, CharacterClasses.isWhitespace(scalars[to]) { to += 1 }
            }
            emitText(from)
            segments.append(.token(token.id))
            textStart = to
        }
        emitText(scalars.count)
        return segments
    }

    private func leftmostLongest(_ scalars: [Unicode.Scalar], from: Int) -> (Int, Int, AddedToken)? {
        var start = from
        while start < scalars.count {
            var node = 0
            var best: (Int, AddedToken)?
            var position = start
            while position < scalars.count, let child = children[node][scalars[position].value] {
                node = Int(child)
                position += 1
                if let token = terminal[node] { best = (position, token) }
            }
            if let (end, token) = best { return (start, end, token) }
            start += 1
        }
        return nil
    }
}
