import Foundation

/// A Hugging Face tokenizer read from `tokenizer.json`, producing the ids the `tokenizers` library
/// (0.23.3, golden fixtures in Tests/Fixtures/tokenizers) produces for one sequence:
///
///     text ─ added tokens found in the raw text (AddedVocabulary)
///          ─ each stretch between them: normalizer → normalized added tokens → pre-tokenizer
///          ─ each word: model (BPE or WordPiece) → ids
///          ─ post-processor (with addSpecialTokens): BOS, [CLS] … [SEP], <s> … </s>
///
/// Truncation, padding and the decoder in the file are ignored: encode returns the whole sequence.
/// Any component this file does not reproduce exactly makes init throw (`TokenizerError.unsupported`)
/// rather than encode differently.
public struct Tokenizer: Sendable {
    /// The file (or the name given to `init(json:source:)`), for messages.
    public let source: String
    /// The tokens of `added_tokens`, in id order.
    public var addedTokens: [AddedToken] { added.tokens }

    private let added: AddedVocabulary
    private let normalizer: Normalizer?
    private let preTokenizer: PreTokenizer?
    private let model: Model
    private let postProcessor: PostProcessor?
    private let tokensByID: [Int: String]
    private let idsByToken: [ExactString: Int]

    private enum Model: Sendable {
        case bpe(BPEModel)
        case wordPiece(WordPieceModel)

        var vocab: [ExactString: Int] {
            switch self {
            case .bpe(let model): return model.vocab
            case .wordPiece(let model): return model.vocab
            }
        }

        func tokenize(_ word: String, into ids: inout [Int]) {
            switch self {
            case .bpe(let model): model.tokenize(word, into: &ids)
            case .wordPiece(let model): model.tokenize(word, into: &ids)
            }
        }
    }

    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let exists = FileManager.default.fileExists(atPath: path)
            throw TokenizerError(file: path, .cannotOpen(reason: exists ? "unreadable" : "no such file"))
        }
        try self.init(json: data, source: path)
    }

    public init(json: Data, source: String) throws {
        self.source = source
        let root: [String: JSONValue]
        do {
            guard let object = try JSONValue.parse(json).object else {
                throw TokenizerError(file: source, .invalidJSON("the top level is not an object"))
            }
            root = object
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError(file: source, .invalidJSON("does not parse"))
        }
        func component(_ key: String) throws -> ComponentReader? {
            guard let value = root[key], value != .null else { return nil }
            return try ComponentReader(file: source, path: key, json: value)
        }

        guard let modelReader = try component("model") else {
            throw TokenizerError(file: source, .invalidComponent(component: "model", reason: "is missing"))
        }
        model = try Self.readModel(modelReader)
        normalizer = try component("normalizer").map(Normalizer.init)
        preTokenizer = try component("pre_tokenizer").map(PreTokenizer.init)
        postProcessor = try component("post_processor").map(PostProcessor.init)

        let vocab = model.vocab
        let tokens = try Self.readAddedTokens(root["added_tokens"], vocab: vocab, file: source)
        let normalizer = self.normalizer
        added = try Self.growthChecked(source) { try AddedVocabulary(tokens, normalizer: normalizer) }
        var byID: [Int: String] = [:]
        byID.reserveCapacity(vocab.count + tokens.count)
        for (token, id) in vocab { byID[id] = token.string }
        var byToken = vocab
        for token in tokens {
            byID[token.id] = token.content
            byToken[ExactString(token.content)] = token.id
        }
        tokensByID = byID
        idsByToken = byToken
    }

    /// `type` names the model; files from before it was written are recognised by their fields.
    private static func readModel(_ reader: ComponentReader) throws -> Model {
        switch reader.type {
        case "BPE":
            return .bpe(try BPEModel(reader))
        case "WordPiece":
            return .wordPiece(try WordPieceModel(reader))
        case nil where reader.fields["merges"] != nil:
            return .bpe(try BPEModel(reader))
        case nil where reader.fields["max_input_chars_per_word"] != nil:
            return .wordPiece(try WordPieceModel(reader))
        default:
            throw reader.unsupported()
        }
    }

    /// A token whose content the model vocabulary already holds keeps the model's id, as the library
    /// assigns it.
    private static func readAddedTokens(_ json: JSONValue?, vocab: [ExactString: Int], file: String) throws -> [AddedToken] {
        guard let json, json != .null else { return [] }
        guard let items = json.array else {
            throw TokenizerError(file: file, .invalidComponent(component: "added_tokens", reason: "is not an array"))
        }
        var tokens: [AddedToken] = []
        for (index, item) in items.enumerated() {
            let reader = try ComponentReader(file: file, path: "added_tokens[\(index)]", json: item)
            let content = try reader.string("content")
            let special = try reader.bool("special", default: false)
            guard !content.isEmpty else { continue }
            let id = try vocab[ExactString(content)] ?? reader.integer("id")
            tokens.append(AddedToken(id: id, content: content, special: special,
                                     singleWord: try reader.bool("single_word", default: false),
                                     lstrip: try reader.bool("lstrip", default: false),
                                     rstrip: try reader.bool("rstrip", default: false),
                                     normalized: try reader.bool("normalized", default: !special)))
        }
        return tokens.sorted { $0.id < $1.id }
    }

    /// The ids of `text`. With `addSpecialTokens` the post-processor adds its tokens (BOS, [CLS] and
    /// [SEP], …); added and special tokens written in the text are recognised either way, as the
    /// library does.
    /// Throws a TokenizerError naming the normalizer stage that would grow the text without bound.
    public func encode(_ text: String, addSpecialTokens: Bool = true) throws -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3)
        for segment in try Self.growthChecked(source, { try added.extract(text, normalizer: normalizer) }) {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let piece):
                for word in preTokenizer?.apply([piece]) ?? [piece] {
                    model.tokenize(word.text, into: &ids)
                }
            }
        }
        return postProcessor?.apply(ids, addSpecialTokens: addSpecialTokens) ?? ids
    }

    /// `body`, with a normalizer's Growth reported as this file's TokenizerError.
    private static func growthChecked<T>(_ file: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let growth as Normalizer.Growth {
            throw TokenizerError(file: file, .invalidComponent(component: growth.stage, reason: "grows a text of \(growth.input) characters past \(growth.limit) (\(Normalizer.growthFactor)× + \(Normalizer.growthSlack))"))
        }
    }

    /// The vocabulary string of an id (an added token's content, or the model's token: byte-level
    /// vocabularies write "Ġthe" for " the").
    public func token(for id: Int) -> String? { tokensByID[id] }

    public func id(of token: String) -> Int? { idsByToken[ExactString(token)] }

    /// Distinct tokens, model vocabulary and added tokens together (the library's
    /// `get_vocab_size(with_added_tokens=True)`). The embedding matrix may have more rows.
    public var vocabularySize: Int { idsByToken.count }

    /// The ids `encode(_:addSpecialTokens: true)` puts before the text (BOS, [CLS], <s>) …
    public var prefixIDs: [Int] { postProcessor?.added.prefix ?? [] }

    /// … and after it ([SEP], </s>).
    public var suffixIDs: [Int] { postProcessor?.added.suffix ?? [] }

    /// Added tokens marked special, by content.
    public var specialTokens: [String: Int] {
        Dictionary(added.tokens.filter(\.special).map { ($0.content, $0.id) }, uniquingKeysWith: { first, _ in first })
    }
}
