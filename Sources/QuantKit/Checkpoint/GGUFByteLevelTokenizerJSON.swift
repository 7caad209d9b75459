/// tokenizer.json for GGUF's "gpt2" tokenizer model (byte-level BPE), shaped as transformers' GGUF
/// tokenizer converter writes it:
///
///     {"version": "1.0", "added_tokens": [control (type 3) and user-defined (type 4) tokens],
///      "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}
///                                           (GPT-2's regex) or, for a tokenizer.ggml.pre in GGUFPreTokenizerSplits,
///                                           {"type": "Sequence", "pretokenizers": [Split(that regex, Isolated),
///                                            ByteLevel(use_regex: false)]},
///      "post_processor": TemplateProcessing ($A, with bos when add_bos_token), "decoder": ByteLevel,
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

    static func build(_ file: GGUFFile) throws -> String {
        let tokens = try GGUFTokenizerMetadata.tokens(file)
        var types = [Int](repeating: 1, count: tokens.count)
        if case .array(_, let values)? = file["tokenizer.ggml.token_type"], values.count == tokens.count {
            types = values.map { $0.integer ?? 1 }
        }
        let merges = try GGUFTokenizerMetadata.merges(file) ?? []
        var added: [String] = []
        for (id, token) in tokens.enumerated() where types[id] == 3 || types[id] == 4 {
            added.append(GGUFTokenizerMetadata.addedTokenJSON(id: id, content: token, special: types[id] == 3))
        }
        var single = "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}"
        var specials = ""
        if file["tokenizer.ggml.add_bos_token"] == .bool(true), let bos = file["tokenizer.ggml.bos_token_id"]?.integer, bos < tokens.count {
            let quoted = SafetensorsWriter.quoted(tokens[bos])
            single = "{\"SpecialToken\":{\"id\":\(quoted),\"type_id\":0}}," + single
            specials = "\(quoted):{\"id\":\(quoted),\"ids\":[\(bos)],\"tokens\":[\(quoted)]}"
        }
        let vocab = tokens.enumerated().map { "\(SafetensorsWriter.quoted($0.element)):\($0.offset)" }
        return """
        {"version":"1.0","truncation":null,"padding":null,"added_tokens":[\(added.joined(separator: ","))],\
        "normalizer":null,\
        "pre_tokenizer":\(preTokenizerJSON(file)),\
        "post_processor":{"type":"TemplateProcessing","single":[\(single)],"pair":[\(single),{"Sequence":{"id":"B","type_id":1}}],"special_tokens":{\(specials)}},\
        "decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},\
        "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":"","end_of_word_suffix":"",\
        "fuse_unk":false,"byte_fallback":false,"ignore_merges":false,\
        "vocab":{\(vocab.joined(separator: ","))},"merges":\(GGUFTokenizerMetadata.mergesJSON(merges))}}

        """
    }
}
