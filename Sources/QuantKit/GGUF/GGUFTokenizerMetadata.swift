/// The tokenizer.ggml.* keys every GGUF tokenizer model shares, read and checked once, and the
/// pieces of tokenizer.json that both builders (GGUFByteLevelTokenizerJSON,
/// GGUFSentencePieceTokenizerJSON) write the same way: transformers hands both vocabularies to a
/// tokenizer class, then adds the same special tokens and post-processor (add_gguf_special_tokens,
/// tokenization_utils_tokenizers.py update_post_processor).
enum GGUFTokenizerMetadata {
    /// tokenizer.ggml.tokens: the vocabulary, token id = position.
    static func tokens(_ file: GGUFFile) throws -> [String] {
        guard case .array(.string, let values)? = file["tokenizer.ggml.tokens"] else {
            throw CheckpointError(file: file.path, .invalidMetadata(key: "tokenizer.ggml.tokens", reason: "is missing or not an array of strings"))
        }
        return values.map { $0.string ?? "" }
    }

    /// tokenizer.ggml.merges, each "left right" (split at the first space), or nil when the file has none.
    static func merges(_ file: GGUFFile) throws -> [(left: String, right: String)]? {
        guard case .array(.string, let values)? = file["tokenizer.ggml.merges"] else { return nil }
        return try values.map { value in
            let parts = (value.string ?? "").split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw CheckpointError(file: file.path, .invalidMetadata(key: "tokenizer.ggml.merges", reason: "entry \"\(value.string ?? "")\" is not two tokens"))
            }
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// One entry of "added_tokens": matched whole in the raw text, never normalized.
    static func addedTokenJSON(id: Int, content: String, special: Bool) -> String {
        "{\"id\":\(id),\"content\":\(SafetensorsWriter.quoted(content)),\"single_word\":false,\"lstrip\":false,"
            + "\"rstrip\":false,\"normalized\":false,\"special\":\(special)}"
    }

    static func mergesJSON(_ merges: [(left: String, right: String)]) -> String {
        "[" + merges.map { "[\(SafetensorsWriter.quoted($0.left)),\(SafetensorsWriter.quoted($0.right))]" }.joined(separator: ",") + "]"
    }

    /// The vocabulary as Python's `{token: index for index, token in enumerate(tokens)}` holds it: a
    /// token listed twice keeps its last id (and tokenizers then writes it once, at that id).
    /// Tokens are compared by their bytes, as Python compares code points.
    struct VocabularyIndex {
        private let ids: [ExactString: Int]
        /// Each distinct token once, at its id, ids ascending.
        let tokensInIDOrder: [(token: String, id: Int)]
        /// Each distinct token once, in the order it first appears (Python dict order).
        let tokensInFirstOrder: [String]

        init(tokens: [String]) {
            var ids: [ExactString: Int] = [:]
            var first: [String] = []
            for (id, token) in tokens.enumerated() {
                if ids.updateValue(id, forKey: ExactString(token)) == nil { first.append(token) }
            }
            self.ids = ids
            tokensInFirstOrder = first
            tokensInIDOrder = tokens.enumerated().compactMap { ids[ExactString($0.element)] == $0.offset ? ($0.element, $0.offset) : nil }
        }

        func id(of token: String) -> Int? { ids[ExactString(token)] }
    }

    struct AddedToken {
        let id: Int, content: String, special: Bool
        var json: String { addedTokenJSON(id: id, content: content, special: special) }
    }

    /// In id order: control tokens (type 3, special), user-defined tokens (type 4, not special), the
    /// tokens the bos/eos/unknown/padding ids name and the tokenizer class's `defaults` (special;
    /// those the vocabulary lacks appended after it, in that order). A token that is user-defined stays
    /// not special even when named: transformers adds it first.
    static func addedTokens(tokens: [String], types: [Int]?, vocabulary: VocabularyIndex, namedIDs: [Int], defaults: [String]) -> [AddedToken] {
        var special: [Int: Bool] = [:]
        for (id, type) in (types ?? []).enumerated() where type == 3 || type == 4 {
            special[vocabulary.id(of: tokens[id]) ?? id] = type == 3
        }
        for token in namedIDs.map({ tokens[$0] }) + defaults {
            if let id = vocabulary.id(of: token), special[id] == nil { special[id] = true }
        }
        let inVocabulary = special.sorted { $0.key < $1.key }.map { AddedToken(id: $0.key, content: tokens[$0.key], special: $0.value) }
        let appended = defaults.filter { vocabulary.id(of: $0) == nil }
        return inVocabulary + appended.enumerated().map { AddedToken(id: tokens.count + $0.offset, content: $0.element, special: true) }
    }

    /// transformers' `update_post_processor`: BOS and EOS around each sequence when asked and named.
    static func postProcessorJSON(bos: (token: String, id: Int)?, eos: (token: String, id: Int)?) -> String {
        func special(_ token: String, _ typeID: Int) -> String { "{\"SpecialToken\":{\"id\":\(SafetensorsWriter.quoted(token)),\"type_id\":\(typeID)}}" }
        func sequence(_ name: String, _ typeID: Int) -> [String] {
            [bos.map { special($0.0, typeID) }, "{\"Sequence\":{\"id\":\"\(name)\",\"type_id\":\(typeID)}}", eos.map { special($0.0, typeID) }].compactMap { $0 }
        }
        let specials = [bos, eos].compactMap { $0 }.map { token, id in
            let quoted = SafetensorsWriter.quoted(token)
            return "\(quoted):{\"id\":\(quoted),\"ids\":[\(id)],\"tokens\":[\(quoted)]}"
        }
        return "{\"type\":\"TemplateProcessing\",\"single\":[\(sequence("A", 0).joined(separator: ","))],"
            + "\"pair\":[\((sequence("A", 0) + sequence("B", 1)).joined(separator: ","))],\"special_tokens\":{\(specials.joined(separator: ","))}}"
    }

    /// tokenizer.ggml.token_type: nil when absent (transformers then adds no control or user-defined tokens).
    static func tokenTypes(_ file: GGUFFile, count: Int) throws -> [Int]? {
        let key = "tokenizer.ggml.token_type"
        guard let value = file[key] else { return nil }
        guard case .array(_, let values) = value, values.count == count else {
            throw CheckpointError(file: file.path, .invalidMetadata(key: key, reason: "is not an array of \(count) integers, one per token"))
        }
        return try values.enumerated().map { index, value in
            guard let type = value.integer else {
                throw CheckpointError(file: file.path, .invalidMetadata(key: key, reason: "entry \(index) is \(value.type), not an integer"))
            }
            return type
        }
    }

    static func tokenID(_ file: GGUFFile, key: String, count: Int) throws -> Int? {
        guard let value = file[key] else { return nil }
        guard let id = value.integer, id >= 0, id < count else {
            throw CheckpointError(file: file.path, .invalidMetadata(key: key, reason: "is not a token id below \(count)"))
        }
        return id
    }

    static func flag(_ file: GGUFFile, _ key: String, absent: Bool) throws -> Bool {
        guard let value = file[key] else { return absent }
        guard case .bool(let flag) = value else {
            throw CheckpointError(file: file.path, .invalidMetadata(key: key, reason: "is \(value.type), not a boolean"))
        }
        return flag
    }

    /// tokenizer.ggml.bos/eos/unknown/padding_token_id, those the file has, keyed by that name.
    static func namedTokenIDs(_ file: GGUFFile, count: Int) throws -> [String: Int] {
        try ["bos", "eos", "unknown", "padding"].reduce(into: [String: Int]()) { ids, name in
            ids[name] = try tokenID(file, key: "tokenizer.ggml.\(name)_token_id", count: count)
        }
    }

    /// The token TemplateProcessing puts around each sequence when tokenizer.ggml.add_<name>_token says
    /// so (`absent` when the file does not say). A flag without a token id adds nothing; the id written
    /// is the token's (a repeated token's last).
    static func templateToken(_ file: GGUFFile, _ name: String, absent: Bool, named: [String: Int], tokens: [String],
                              vocabulary: VocabularyIndex) throws -> (token: String, id: Int)? {
        guard try flag(file, "tokenizer.ggml.add_\(name)_token", absent: absent), let id = named[name] else { return nil }
        return (tokens[id], vocabulary.id(of: tokens[id]) ?? id)
    }
}
