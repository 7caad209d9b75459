/// The tokenizer.ggml.* arrays every GGUF tokenizer model shares, read and checked once, and the
/// pieces of tokenizer.json that both builders (GGUFByteLevelTokenizerJSON,
/// GGUFSentencePieceTokenizerJSON) write the same way.
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
}
