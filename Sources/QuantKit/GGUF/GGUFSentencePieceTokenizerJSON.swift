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
        try build(file, normalizer: "null", preTokenizer: #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}"#)
    }

    /// Phi-3's shape (gguf_tokenizer_mapping.py `phi3_tokenizer`, picked by architecture): the prefix
    /// space comes from a normalizer, Prepend("▁") then Replace(" ", "▁"), and there is no pre-tokenizer —
    /// "  hi" becomes ▁▁▁hi where Metaspace gives ▁▁hi.
    static func buildPhi3(_ file: GGUFFile) throws -> String {
        try build(file, normalizer: #"{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}"#,
                  preTokenizer: "null")
    }

    private static func build(_ file: GGUFFile, normalizer: String, preTokenizer: String) throws -> String {
        let tokens = try GGUFTokenizerMetadata.tokens(file)
        let vocabulary = GGUFTokenizerMetadata.VocabularyIndex(tokens: tokens)
        let types = try GGUFTokenizerMetadata.tokenTypes(file, count: tokens.count)
        let named = try GGUFTokenizerMetadata.namedTokenIDs(file, count: tokens.count)
        let merges = try GGUFTokenizerMetadata.merges(file)
            ?? mergesFromScores(tokens: tokens, scores: try scores(file, count: tokens.count))
        let added = GGUFTokenizerMetadata.addedTokens(tokens: tokens, types: types, vocabulary: vocabulary,
                                                      namedIDs: Array(named.values), defaults: llamaDefaultSpecialTokens)
        let bos = try GGUFTokenizerMetadata.templateToken(file, "bos", absent: true, named: named, tokens: tokens, vocabulary: vocabulary)
        let eos = try GGUFTokenizerMetadata.templateToken(file, "eos", absent: false, named: named, tokens: tokens, vocabulary: vocabulary)
        let vocab = vocabulary.tokensInIDOrder.map { "\(SafetensorsWriter.quoted($0.token)):\($0.id)" }
        return """
        {"version":"1.0","truncation":null,"padding":null,\
        "added_tokens":[\(added.map(\.json).joined(separator: ","))],\
        "normalizer":\(normalizer),\
        "pre_tokenizer":\(preTokenizer),\
        "post_processor":\(GGUFTokenizerMetadata.postProcessorJSON(bos: bos, eos: eos)),\
        "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},\
        {"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},\
        "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,\
        "fuse_unk":true,"byte_fallback":true,"ignore_merges":false,\
        "vocab":{\(vocab.joined(separator: ","))},"merges":\(GGUFTokenizerMetadata.mergesJSON(merges))}}

        """
    }

    /// transformers' `generate_merges(vocab, vocab_scores)` (tokenization_utils_base.py), which
    /// recovers a BPE merge list from a SentencePiece vocabulary: every way to cut a token into two
    /// tokens of the vocabulary is a merge with that token's score; within a token, cuts are ordered
    /// by (left id, right id); then all merges are sorted by (score, left length, right length),
    /// highest first, a stable sort (ties keep that order). Lengths are in code points, as Python's.
    /// Linear in the total length of the tokens (two trie walks per token find every cut whose halves
    /// are tokens, and a merge refers to the vocabulary's strings, never copies), then one sort.
    static func mergesFromScores(tokens: [String], scores: [Double]) -> [(left: String, right: String)] {
        let vocabulary = GGUFTokenizerMetadata.VocabularyIndex(tokens: tokens)
        let prefixes = GGUFTokenTrie(vocabulary, backwards: false), suffixes = GGUFTokenTrie(vocabulary, backwards: true)
        struct Merge { let left: String, right: String, score: Double, leftLength: Int, rightLength: Int, order: Int }
        var merges: [Merge] = []
        for token in vocabulary.tokensInFirstOrder {
            let scalars = Array(token.unicodeScalars)
            guard scalars.count > 1, let tokenID = vocabulary.id(of: token) else { continue }
            let leftIDs = prefixes.idsOfPrefixes(scalars), rightIDs = suffixes.idsOfPrefixes(scalars.reversed())
            var cuts: [(leftID: Int, rightID: Int, left: String, right: String, leftLength: Int)] = []
            for cut in 1..<scalars.count {
                if let leftID = leftIDs[cut - 1], let rightID = rightIDs[scalars.count - cut - 1] {
                    cuts.append((leftID, rightID, tokens[leftID], tokens[rightID], cut))
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
}
