/// WordPiece as BERT runs it (the library's `models::wordpiece`), greedy longest match first.
///
///     "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
///               "max_input_chars_per_word": 100, "vocab": {token: id, …}}
///
/// From the start of the word, the longest prefix in the vocabulary is taken, then the longest
/// continuation written with "##", and so on. A word longer than max_input_chars_per_word Unicode
/// scalars, or one with a stretch that nothing matches, becomes a single unknown token.
struct WordPieceModel: Sendable {
    let vocab: [ExactString: Int]
    private let unknownID: Int
    private let prefix: String
    private let maxCharacters: Int
    /// The longest vocabulary entry, in Unicode scalars: no candidate longer can match, so a word costs
    /// length × longest lookups instead of length² (a file may allow words of any length).
    private let longestEntry: Int
    private let cache = WordCache()

    init(_ reader: ComponentReader) throws {
        vocab = try Vocabulary.read(reader)
        let unknown = try reader.optionalString("unk_token") ?? "[UNK]"
        guard let id = vocab[ExactString(unknown)] else { throw reader.invalid("unk_token \(unknown) is not in the vocabulary") }
        unknownID = id
        prefix = try reader.optionalString("continuing_subword_prefix") ?? "##"
        maxCharacters = try reader.integer("max_input_chars_per_word", default: 100)
        longestEntry = vocab.keys.map { $0.string.unicodeScalars.count }.max() ?? 0
    }

    func tokenize(_ word: String, into ids: inout [Int]) {
        if let cached = cache[word] { return ids.append(contentsOf: cached) }
        let result = pieces(of: Array(word.unicodeScalars))
        cache[word] = result
        ids.append(contentsOf: result)
    }

    private func pieces(of scalars: [Unicode.Scalar]) -> [Int] {
        if scalars.count > maxCharacters { return [unknownID] }
        var out: [Int] = []
        var start = 0
        while start < scalars.count {
            var end = min(scalars.count, start + longestEntry)
            var found: Int?
            while start < end {
                var candidate = start > 0 ? prefix : ""
                candidate.unicodeScalars.append(contentsOf: scalars[start..<end])
                if let id = vocab[ExactString(candidate)] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return [unknownID] }
            out.append(id)
            start = end
        }
        return out
    }
}
