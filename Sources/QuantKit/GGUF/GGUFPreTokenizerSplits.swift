/// tokenizer.ggml.pre → the split regex transformers 5.24 gives a byte-level ("gpt2") GGUF tokenizer:
/// GGUF_PRE_TOKENIZER_SPLITS in integrations/gguf/gguf_tokenizer_mapping.py, name for name (the test
/// compares it with a dump of that dict). The regex is the one the file's merges were learned with;
/// transformers' set_split_regex turns every entry into the same pre-tokenizer,
///
///     {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated"},
///                                            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}
///
/// and changes nothing else (normalizer, decoder and post-processor do not depend on the name). A name
/// not in the table keeps GPT2Tokenizer's ByteLevel with GPT-2's regex, as transformers does — whatever
/// llama.cpp would split such a file with.
enum GGUFPreTokenizerSplits {
    /// Llama 3's: case-insensitive contractions, a letter run takes one leading non-letter, digits in
    /// runs of up to three, punctuation runs keep their trailing newlines.
    static let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Qwen2's (models/qwen2/tokenization_qwen2.py PRETOKENIZE_REGEX): Llama 3's with digits one at a time.
    static let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Qwen3.5's (models/qwen3_5/tokenization_qwen3_5.py PRETOKENIZE_REGEX): Qwen2's with combining
    /// marks (\p{M}) counted as part of a word, not as punctuation.
    static let qwen35 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Mistral's Tekken: a word ends where lower case turns upper ("HelloWorld" is two), no contraction
    /// rule, digits one at a time, slashes join a punctuation run's tail.
    static let tekken = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// GPT-4o's (o200k): Tekken's case-change words, each keeping a case-insensitive contraction,
    /// digits in runs of up to three.
    static let gpt4o = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// In transformers' order.
    static let byName: [String: String] = [
        "llama3": llama3, "llama-v3": llama3, "llama-bpe": llama3, "falcon3": llama3, "falcon-h1": llama3,
        "pixtral": llama3, "midm-2.0": llama3, "lfm2": llama3, "jina-v5-nano": llama3, "dbrx": llama3,
        "smaug-bpe": llama3,
        "tekken": tekken,
        "qwen2": qwen2, "deepseek-r1-qwen": qwen2, "kormo": qwen2, "f2llmv2": qwen2, "megrez": qwen2,
        "qwen35": qwen35,
        "gpt-4o": gpt4o, "llama4": gpt4o, "kanana2": gpt4o, "talkie": gpt4o, "minimax-m2": gpt4o,
    ]
}
