/// tokenizer.json for GGUF's "llama" tokenizer model (a SentencePiece BPE vocabulary), as transformers
/// 5.24 builds it from the same metadata (integrations/gguf/gguf_tokenizer_mapping.py:
/// `sentencepiece_tokenizer` hands tokens and derived merges to `LlamaTokenizer`, then
/// `add_gguf_special_tokens`; tokenization_utils_tokenizers.py adds the named special tokens and
/// `update_post_processor` writes the template):
///
///     {"version": "1.0", "added_tokens": [see addedTokens], "normalizer": null,
///      "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false},
///      "post_processor": TemplateProcessing [bos:0]? $A:0 [eos:0]?, pair … [bos:1]? $B:1 [eos:1]?,
///      "decoder": Sequence [Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)],
///      "model": {"type": "BPE", "unk_token": null, "fuse_unk": true, "byte_fallback": true,
///                "vocab": {token: id}, "merges": tokenizer.ggml.merges, else derived from the scores}}
///
/// Metadata read: tokenizer.ggml.tokens, .scores (one number per token; needed when there are no
/// merges), .token_type (optional, one integer per token: 3 control, 4 user-defined), .bos/.eos/
/// .unknown/.padding_token_id (optional, inside the vocabulary), .add_bos_token (absent: true, as
/// llama.cpp does for SentencePiece), .add_eos_token (absent: false). transformers ignores
/// tokenizer.ggml.add_space_prefix here (the Metaspace always prepends to the first piece), so do we.
enum GGUFSentencePieceTokenizerJSON {
    /// LlamaTokenizer's default special tokens: transformers adds them as special tokens whatever the
    /// file's ids say, appending any the vocabulary lacks after its last token, in this order.
    static let llamaDefaultSpecialTokens = ["<s>", "</s>", "<unk>"]

    static func build(_ file: GGUFFile) throws -> String {
        let tokens = try GGUFTokenizerMetadata.tokens(file)
        let vocabulary = VocabularyIndex(tokens: tokens)
        let types = try tokenTypes(file, count: tokens.count)
        let named = try ["bos", "eos", "unknown", "padding"].reduce(into: [String: Int]()) { ids, name in
            ids[name] = try tokenID(file, key: "tokenizer.ggml.\(name)_token_id", count: tokens.count)
        }
        let merges = try GGUFTokenizerMetadata.merges(file)
            ?? mergesFromScores(tokens: tokens, scores: try scores(file, count: tokens.count))
        let added = addedTokens(tokens: tokens, types: types, vocabulary: vocabulary, namedIDs: Array(named.values))
        // A flag without a token id adds nothing; the id written is the token's (a repeated token's last).
        func templateToken(_ name: String, absent: Bool) throws -> (token: String, id: Int)? {
            guard try flag(file, "tokenizer.ggml.add_\(name)_token", absent: absent), let id = named[name] else { return nil }
            return (tokens[id], vocabulary.id(of: tokens[id]) ?? id)
        }
        let bos = try templateToken("bos", absent: true), eos = try templateToken("eos", absent: false)
        let vocab = vocabulary.tokensInIDOrder.map { "\(SafetensorsWriter.quoted($0.token)):\($0.id)" }
        return """
        {"version":"1.0","truncation":null,"padding":null,\
        "added_tokens":[\(added.map(\.json).joined(separator: ","))],\
        "normalizer":null,\
        "pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false},\
        "post_processor":\(postProcessorJSON(bos: bos, eos: eos)),\
        "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},\
        {"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},\
        "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,\
        "fuse_unk":true,"byte_fallback":true,"ignore_merges":false,\
        "vocab":{\(vocab.joined(separator: ","))},"merges":\(GGUFTokenizerMetadata.mergesJSON(merges))}}

        """
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

    /// transformers' `generate_merges(vocab, vocab_scores)` (tokenization_utils_base.py), which
    /// recovers a BPE merge list from a SentencePiece vocabulary: every way to cut a token into two
    /// tokens of the vocabulary is a merge with that token's score; within a token, cuts are ordered
    /// by (left id, right id); then all merges are sorted by (score, left length, right length),
    /// highest first, a stable sort (ties keep that order). Lengths are in code points, as Python's.
    /// Linear in the total length of the tokens: one dictionary lookup per cut, then one sort.
    static func mergesFromScores(tokens: [String], scores: [Double]) -> [(left: String, right: String)] {
        let vocabulary = VocabularyIndex(tokens: tokens)
        struct Merge { let left: String, right: String, score: Double, leftLength: Int, rightLength: Int, order: Int }
        var merges: [Merge] = []
        for token in vocabulary.tokensInFirstOrder {
            let scalars = Array(token.unicodeScalars)
            guard scalars.count > 1, let tokenID = vocabulary.id(of: token) else { continue }
            var cuts: [(leftID: Int, rightID: Int, left: String, right: String, leftLength: Int)] = []
            for cut in 1..<scalars.count {
                let left = String(String.UnicodeScalarView(scalars[..<cut]))
                let right = String(String.UnicodeScalarView(scalars[cut...]))
                if let leftID = vocabulary.id(of: left), let rightID = vocabulary.id(of: right) {
                    cuts.append((leftID, rightID, left, right, cut))
                }
            }
            cuts.sort { ($0.leftID, $0.rightID) < ($1.leftID, $1.rightID) }
            for cut in cuts {
                merges.append(Merge(left: cut.left, right: cut.right, score: scores[tokenID], leftLength: cut.leftLength,
                                    rightLength: scalars.count - cut.leftLength, order: merges.count))
            }
        }
        merges.sort {
            if $0.score != $1.score { return $0.score > $1.score }
            if $0.leftLength != $1.leftLength { return $0.leftLength > $1.leftLength }
            if $0.rightLength != $1.rightLength { return $0.rightLength > $1.rightLength }
            return $0.order < $1.order
        }
        return merges.map { ($0.left, $0.right) }
    }

    struct AddedToken {
        let id: Int, content: String, special: Bool
        var json: String { GGUFTokenizerMetadata.addedTokenJSON(id: id, content: content, special: special) }
    }

    /// In id order: control tokens (type 3, special), user-defined tokens (type 4, not special), the
    /// tokens the bos/eos/unknown/padding ids name and LlamaTokenizer's defaults (special). A token
    /// that is user-defined stays not special even when named: transformers adds it first.
    static func addedTokens(tokens: [String], types: [Int]?, vocabulary: VocabularyIndex, namedIDs: [Int]) -> [AddedToken] {
        var special: [Int: Bool] = [:]
        for (id, type) in (types ?? []).enumerated() where type == 3 || type == 4 {
            special[vocabulary.id(of: tokens[id]) ?? id] = type == 3
        }
        for token in namedIDs.map({ tokens[$0] }) + llamaDefaultSpecialTokens {
            if let id = vocabulary.id(of: token), special[id] == nil { special[id] = true }
        }
        let inVocabulary = special.sorted { $0.key < $1.key }.map { AddedToken(id: $0.key, content: tokens[$0.key], special: $0.value) }
        let appended = llamaDefaultSpecialTokens.filter { vocabulary.id(of: $0) == nil }
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

    /// tokenizer.ggml.scores: one number per token.
    static func scores(_ file: GGUFFile, count: Int) throws -> [Double] {
        let key = "tokenizer.ggml.scores"
        guard case .array(_, let values)? = file[key] else {
            throw CheckpointError(file: file.path, .invalidMetadata(key: key, reason: "is missing or not an array (a SentencePiece vocabulary without merges needs one score per token)"))
        }
        guard values.count == count else {
            throw CheckpointError(file: file.path, .invalidMetadata(key: key, reason: "has \(values.count) scores for \(count) tokens"))
        }
        return try values.enumerated().map { index, value in
            switch value {
            case .float32(let number) where number.isFinite: return Double(number)
            case .float64(let number) where number.isFinite: return number
            default:
                if let integer = value.integer { return Double(integer) }
                throw CheckpointError(file: file.path, .invalidMetadata(key: key, reason: "entry \(index) is \(value.type), not a finite number"))
            }
        }
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

    private static func tokenID(_ file: GGUFFile, key: String, count: Int) throws -> Int? {
        guard let value = file[key] else { return nil }
        guard let id = value.integer, id >= 0, id < count else {
            throw CheckpointError(file: file.path, .invalidMetadata(key: key, reason: "is not a token id below \(count)"))
        }
        return id
    }

    private static func flag(_ file: GGUFFile, _ key: String, absent: Bool) throws -> Bool {
        guard let value = file[key] else { return absent }
        guard case .bool(let flag) = value else {
            throw CheckpointError(file: file.path, .invalidMetadata(key: key, reason: "is \(value.type), not a boolean"))
        }
        return flag
    }
}
