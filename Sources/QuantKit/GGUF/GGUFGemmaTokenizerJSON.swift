/// tokenizer.json for a gemma2 or gemma3 GGUF ("llama" tokenizer model), as transformers 5.24
/// builds it (integrations/gguf/gguf_tokenizer_mapping.py `gemma_tokenizer`, then GemmaTokenizer,
/// `add_gguf_special_tokens` and `update_post_processor`):
///
///     {"version": "1.0", "added_tokens": [control: special; user-defined: not special; named + defaults],
///      "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
///      "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false},
///      "post_processor": TemplateProcessing [bos]? $A [eos]?,
///      "decoder": Sequence [Replace("▁", " "), ByteFallback, Fuse],
///      "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
///                "vocab": {token: id}, "merges": derived with the file order as the score}}
///
/// Two things differ from other SentencePiece files: a token made only of whitespace that holds a space
/// (Gemma files store "  " where the vocabulary means "▁▁") is respelled as that many "▁"; and the file has
/// no merges, which are rebuilt from the vocabulary with score −(token id) — Gemma's scores do not follow
/// its merge order, the file order does.
enum GGUFGemmaTokenizerJSON {
    /// GemmaTokenizer's special tokens (its __init__ order), added as special tokens whatever the file names.
    static let defaultSpecialTokens = ["<unk>", "<bos>", "<eos>", "<pad>", "<mask>"]

    static func build(_ file: GGUFFile) throws -> String {
        let tokens = try GGUFTokenizerMetadata.tokens(file).map(respelled)
        let vocabulary = GGUFTokenizerMetadata.VocabularyIndex(tokens: tokens)
        let types = try GGUFTokenizerMetadata.tokenTypes(file, count: tokens.count)
        let named = try GGUFTokenizerMetadata.namedTokenIDs(file, count: tokens.count)
        let merges = try GGUFTokenizerMetadata.merges(file)
            ?? GGUFSentencePieceTokenizerJSON.mergesFromScores(tokens: tokens, scores: tokens.indices.map { -Double($0) })
        let added = GGUFTokenizerMetadata.addedTokens(tokens: tokens, types: types, vocabulary: vocabulary,
                                                      namedIDs: Array(named.values), defaults: defaultSpecialTokens)
        let bos = try GGUFTokenizerMetadata.templateToken(file, "bos", absent: true, named: named, tokens: tokens, vocabulary: vocabulary)
        let eos = try GGUFTokenizerMetadata.templateToken(file, "eos", absent: false, named: named, tokens: tokens, vocabulary: vocabulary)
        let unknown = named["unknown"].map { SafetensorsWriter.quoted(tokens[$0]) } ?? "\"<unk>\""
        let vocab = vocabulary.tokensInIDOrder.map { "\(SafetensorsWriter.quoted($0.token)):\($0.id)" }
        return """
        {"version":"1.0","truncation":null,"padding":null,\
        "added_tokens":[\(added.map(\.json).joined(separator: ","))],\
        "normalizer":{"type":"Replace","pattern":{"String":" "},"content":"▁"},\
        "pre_tokenizer":{"type":"Split","pattern":{"String":" "},"behavior":"MergedWithPrevious","invert":false},\
        "post_processor":\(GGUFTokenizerMetadata.postProcessorJSON(bos: bos, eos: eos)),\
        "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},\
        {"type":"ByteFallback"},{"type":"Fuse"}]},\
        "model":{"type":"BPE","dropout":null,"unk_token":\(unknown),"continuing_subword_prefix":null,"end_of_word_suffix":null,\
        "fuse_unk":true,"byte_fallback":true,"ignore_merges":false,\
        "vocab":{\(vocab.joined(separator: ","))},"merges":\(GGUFTokenizerMetadata.mergesJSON(merges))}}

        """
    }

    /// Python's `"▁" * len(t) if " " in t and not t.strip() else t`: only whitespace (str.strip's set),
    /// at least one space; the length in code points.
    static func respelled(_ token: String) -> String {
        let scalars = token.unicodeScalars
        guard scalars.contains(" "), scalars.allSatisfy(isPythonWhitespace) else { return token }
        return String(repeating: "▁", count: scalars.count)
    }

    /// str.isspace: Unicode White_Space plus the separators Python adds (0x1C–0x1F).
    private static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }
}
