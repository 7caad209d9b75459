/// tokenizer.json for GGUF's "gpt2" tokenizer model (byte-level BPE), shaped as transformers' GGUF
/// tokenizer converter writes it:
///
///     {"version": "1.0", "added_tokens": [GGUFTokenizerMetadata.addedTokens: control (type 3, when spelled in
///                                          the byte alphabet), user-defined (type 4), named, <|endoftext|>],
///      "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}
///                                           (GPT-2's regex) or, for a tokenizer.ggml.pre in GGUFPreTokenizerSplits,
///                                           {"type": "Sequence", "pretokenizers": [Split(that regex, Isolated),
///                                            ByteLevel(use_regex: false)]},
///      "post_processor": TemplateProcessing [bos]? $A [eos]? when add_bos/eos_token (absent: false),
///      "decoder": ByteLevel,
///      "model": {"type": "BPE", "vocab": {token: id}, "merges": [[a, b], …], …}}
enum GGUFByteLevelTokenizerJSON {
    static func preTokenizerJSON(_ file: GGUFFile) -> String {
        guard let pre = file["tokenizer.ggml.pre"]?.string, let pattern = GGUFPreTokenizerSplits.byName[pre] else {
            return "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}"
        }
        return "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\(SafetensorsWriter.quoted(pattern))},"
            + "\"behavior\":\"Isolated\",\"invert\":false},"
            + "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}"
    }

    /// GPT2Tokenizer's unk, bos and eos default: transformers adds it as a special token whatever the
    /// file names, appended after the vocabulary when the vocabulary lacks it.
    static let gpt2DefaultSpecialTokens = ["<|endoftext|>"]

    static func build(_ file: GGUFFile) throws -> String {
        let tokens = try GGUFTokenizerMetadata.tokens(file)
        let vocabulary = GGUFTokenizerMetadata.VocabularyIndex(tokens: tokens)
        // A control token spelled outside the byte alphabet is a llama.cpp mislabel transformers skips.
        let types = try GGUFTokenizerMetadata.tokenTypes(file, count: tokens.count).map { types in
            zip(tokens, types).map { token, type in type == 3 && !spelledInByteAlphabet(token) ? 1 : type }
        }
        let named = try GGUFTokenizerMetadata.namedTokenIDs(file, count: tokens.count)
        let merges = try GGUFTokenizerMetadata.merges(file) ?? []
        let added = GGUFTokenizerMetadata.addedTokens(tokens: tokens, types: types, vocabulary: vocabulary,
                                                      namedIDs: Array(named.values), defaults: gpt2DefaultSpecialTokens)
        let bos = try GGUFTokenizerMetadata.templateToken(file, "bos", absent: false, named: named, tokens: tokens, vocabulary: vocabulary)
        let eos = try GGUFTokenizerMetadata.templateToken(file, "eos", absent: false, named: named, tokens: tokens, vocabulary: vocabulary)
        let vocab = vocabulary.tokensInIDOrder.map { "\(SafetensorsWriter.quoted($0.token)):\($0.id)" }
        return """
        {"version":"1.0","truncation":null,"padding":null,"added_tokens":[\(added.map(\.json).joined(separator: ","))],\
        "normalizer":null,\
        "pre_tokenizer":\(preTokenizerJSON(file)),\
        "post_processor":\(GGUFTokenizerMetadata.postProcessorJSON(bos: bos, eos: eos)),\
        "decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},\
        "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":"","end_of_word_suffix":"",\
        "fuse_unk":false,"byte_fallback":false,"ignore_merges":false,\
        "vocab":{\(vocab.joined(separator: ","))},"merges":\(GGUFTokenizerMetadata.mergesJSON(merges))}}

        """
    }

    /// Every real token of a byte-level vocabulary is written in GPT-2's byte alphabet (ByteLevel).
    private static func spelledInByteAlphabet(_ token: String) -> Bool {
        token.unicodeScalars.allSatisfy { byteAlphabet.contains($0) }
    }

    private static let byteAlphabet = Set(ByteLevel.scalars)
}
