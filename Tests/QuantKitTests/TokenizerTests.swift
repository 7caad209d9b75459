import Foundation
import XCTest
import Synchronization
@testable import QuantKit

/// Tokenizers against the ids that the Hugging Face `tokenizers` library 0.23.3 itself produced
/// (scripts/fixtures/make_tokenizer_fixtures.py → Tests/Fixtures/tokenizers). Every case must be identical.
final class TokenizerTests: XCTestCase {
    static let folder = fixturesFolder + "/tokenizers"
    static let manifest: [String: JSONValue] = {
        let data = FileManager.default.contents(atPath: folder + "/cases.json")!
        return try! JSONValue.parse(data).object!
    }()

    private var described: [String: [String: JSONValue]] { Self.manifest["tokenizers"]!.object!.mapValues { $0.object! } }

    private func tokenizer(_ name: String) throws -> Tokenizer {
        let file = try XCTUnwrap(described[name]?["file"]?.string, "fixture tokenizer \(name)")
        return try Tokenizer(path: Self.folder + "/" + file)
    }

    func testEveryFixtureCaseGivesTheLibrarysIDs() throws {
        let cases = Self.manifest["cases"]!.array!.map { $0.object! }
        var tokenizers: [String: Tokenizer] = [:]
        for name in described.keys { tokenizers[name] = try tokenizer(name) }
        var failures: [String] = []
        for item in cases {
            let name = item["tokenizer"]!.string!
            let text = item["text"]!.string!
            let special = item["add_special_tokens"]!.bool!
            let expected = item["ids"]!.array!.map { $0.integer! }
            let actual = try tokenizers[name]!.encode(text, addSpecialTokens: special)
            if actual != expected {
                let at = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(actual.count, expected.count)
                failures.append("\(name) special=\(special) \(String(reflecting: String(text.prefix(40)))): "
                    + "\(actual.count) ids vs \(expected.count), first difference at \(at): "
                    + "\(actual.dropFirst(at).prefix(4).map(String.init)) vs \(expected.dropFirst(at).prefix(4).map(String.init))")
            }
        }
        XCTAssertGreaterThanOrEqual(cases.count, 400)
        XCTAssertEqual(Set(cases.map { $0["tokenizer"]!.string! }), Set(described.keys), "every tokenizer has cases")
        XCTAssert(failures.isEmpty, "\(failures.count) of \(cases.count) cases differ:\n" + failures.prefix(15).joined(separator: "\n"))
    }

    func testVocabularySizeAndTokensMatchTheLibrary() throws {
        for (name, info) in described {
            let tokenizer = try tokenizer(name)
            XCTAssertEqual(tokenizer.vocabularySize, info["vocab_size"]!.integer!, name)
            for (id, token) in info["tokens"]!.object! {
                XCTAssertEqual(tokenizer.token(for: Int(id)!), token.string, "\(name) id \(id)")
                XCTAssertEqual(tokenizer.id(of: token.string!), Int(id)!, "\(name) token \(token)")
            }
        }
    }

    func testRealMiniLMTokenizer() throws {
        let minilm = try tokenizer("minilm")
        XCTAssertEqual(minilm.vocabularySize, 30522)
        XCTAssertEqual(minilm.prefixIDs, [101])
        XCTAssertEqual(minilm.suffixIDs, [102])
        XCTAssertEqual(minilm.specialTokens["[MASK]"], 103)
        XCTAssertEqual(try minilm.encode("Hello, world!"), [101, 7592, 1010, 2088, 999, 102])
        XCTAssertEqual(try minilm.encode("Hello, world!", addSpecialTokens: false), [7592, 1010, 2088, 999])
    }

    func testPrefixAndSuffixFollowThePostProcessor() throws {
        XCTAssertEqual(try tokenizer("llama3").prefixIDs, [0])
        XCTAssertEqual(try tokenizer("llama3").suffixIDs, [])
        XCTAssertEqual(try tokenizer("llama2").prefixIDs, [1])
        XCTAssertEqual(try tokenizer("roberta").prefixIDs, [0])
        XCTAssertEqual(try tokenizer("roberta").suffixIDs, [2])
        XCTAssertEqual(try tokenizer("gpt2").prefixIDs + tokenizer("gpt2").suffixIDs, [])
    }

    func testCopiesShareTheWordCacheAcrossThreads() throws {
        let tokenizer = try tokenizer("gpt2")
        let text = String(repeating: "The quick brown fox jumps over the lazy dog; 12345 + 3.14. ", count: 40)
        let expected = try tokenizer.encode(text)
        let results = Mutex<[[Int]]>(Array(repeating: [], count: 8))
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            let ids = try! tokenizer.encode(text)
            results.withLock { $0[index] = ids }
        }
        XCTAssertTrue(results.withLock { $0 }.allSatisfy { $0 == expected })
    }

    /// A file may allow words of any length (the fuzzer found max_input_chars_per_word 798 and a 600-letter
    /// word taking seconds): candidates are bounded by the longest vocabulary entry, and the pieces stay
    /// those of the plain greedy longest-match-first loop.
    func testLongWordPieceWordsSplitAsTheGreedyDefinitionSays() throws {
        let vocab = ["[UNK]": 0, "a": 1, "ab": 2, "abc": 3, "##a": 4, "##b": 5, "##bc": 6, "##c": 7, "##abca": 8]
        let json = #"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "max_input_chars_per_word": 5000, "vocab": "#
            + String(decoding: try JSONSerialization.data(withJSONObject: vocab), as: UTF8.self) + "}}"
        let tokenizer = try Tokenizer(json: Data(json.utf8), source: "long-words/tokenizer.json")
        func greedy(_ word: [Character]) -> [Int] {
            var out: [Int] = [], start = 0
            while start < word.count {
                var end = word.count
                while end > start, vocab[(start > 0 ? "##" : "") + String(word[start..<end])] == nil { end -= 1 }
                if end == start { return [0] }
                out.append(vocab[(start > 0 ? "##" : "") + String(word[start..<end])]!)
                start = end
            }
            return out
        }
        for word in [String(repeating: "abc", count: 60), "ab" + String(repeating: "abca", count: 40), String(repeating: "ab", count: 90) + "x"] {
            XCTAssertEqual(try tokenizer.encode(word, addSpecialTokens: false), greedy(Array(word)), "\(word.prefix(12))… (\(word.count))")
        }
    }

    // MARK: - Errors: one line, naming the file and the component

    private func assertTokenizerError(_ json: String, _ check: (TokenizerError.Problem) -> Bool, contains fragment: String,
                                      line: UInt = #line) {
        do {
            _ = try Tokenizer(json: Data(json.utf8), source: "broken/tokenizer.json")
            XCTFail("expected a TokenizerError", line: line)
        } catch let error as TokenizerError {
            XCTAssertEqual(error.file, "broken/tokenizer.json", line: line)
            XCTAssertTrue(check(error.problem), "unexpected problem: \(error)", line: line)
            XCTAssertTrue(error.description.hasPrefix("broken/tokenizer.json: "), error.description, line: line)
            XCTAssertTrue(error.description.contains(fragment), "\(error.description) lacks \(fragment)", line: line)
            XCTAssertFalse(error.description.contains("\n"), "errors are one line", line: line)
        } catch {
            XCTFail("unexpected error \(error)", line: line)
        }
    }

    private let wordPiece = #"{"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}}"#

    func testBadJSON() {
        assertTokenizerError(#"{"model": {"type": "BPE""#, { if case .invalidJSON = $0 { return true } else { return false } },
                             contains: "invalid JSON")
        assertTokenizerError("[1, 2]", { if case .invalidJSON = $0 { return true } else { return false } }, contains: "invalid JSON")
        assertTokenizerError("{}", { $0 == .invalidComponent(component: "model", reason: "is missing") }, contains: "model")
    }

    func testMissingFile() {
        XCTAssertThrowsError(try Tokenizer(path: "/nonexistent/tokenizer.json")) { error in
            XCTAssertEqual((error as? TokenizerError)?.description, "/nonexistent/tokenizer.json: cannot open: no such file")
        }
    }

    func testUnsupportedModelType() {
        assertTokenizerError(#"{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]]}}"#,
                             { $0 == .unsupported(component: "model", type: "Unigram") }, contains: "unsupported model Unigram")
    }

    func testUnsupportedComponentsAreNamed() {
        assertTokenizerError(#"{"model": \#(wordPiece), "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "BertPreTokenizer"}, {"type": "UnicodeScripts"}]}}"#,
                             { $0 == .unsupported(component: "pre_tokenizer[1]", type: "UnicodeScripts") },
                             contains: "unsupported pre_tokenizer[1] UnicodeScripts")
        assertTokenizerError(#"{"model": \#(wordPiece), "normalizer": {"type": "Precompiled", "precompiled_charsmap": "AA=="}}"#,
                             { $0 == .unsupported(component: "normalizer", type: "Precompiled") }, contains: "Precompiled")
        assertTokenizerError(#"{"model": \#(wordPiece), "post_processor": {"type": "Whatever"}}"#,
                             { $0 == .unsupported(component: "post_processor", type: "Whatever") }, contains: "post_processor")
        assertTokenizerError(#"{"model": {"type": "BPE", "dropout": 0.1, "vocab": {"a": 0}, "merges": []}}"#,
                             { if case .unsupported(component: "model", _) = $0 { return true } else { return false } },
                             contains: "dropout")
        assertTokenizerError(#"{"model": \#(wordPiece), "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"}}"#,
                             { if case .unsupported(component: "pre_tokenizer", _) = $0 { return true } else { return false } },
                             contains: "Sideways")
    }

    func testInvalidComponents() {
        assertTokenizerError(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}"#,
                             { if case .invalidComponent(component: "model BPE", _) = $0 { return true } else { return false } },
                             contains: "merge 0 uses ab")
        assertTokenizerError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]}}"#,
                             { if case .invalidComponent = $0 { return true } else { return false } }, contains: "merge 0")
        assertTokenizerError(#"{"model": {"type": "WordPiece", "vocab": {"a": 1}}}"#,
                             { if case .invalidComponent = $0 { return true } else { return false } }, contains: "unk_token [UNK]")
        assertTokenizerError(#"{"model": \#(wordPiece), "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}}"#,
                             { if case .invalidComponent(component: "pre_tokenizer Split", _) = $0 { return true } else { return false } },
                             contains: "does not compile")
        assertTokenizerError(#"{"model": \#(wordPiece), "added_tokens": [{"id": 5}]}"#,
                             { $0 == .invalidComponent(component: "added_tokens[0]", reason: "content is missing") }, contains: "added_tokens[0]")
    }

    // MARK: - Pieces checked on their own

    func testOnigurumaWhitespaceClassIsTranslated() throws {
        let pattern = try TextPattern(regex: #"\s+|[^\s]+"#)
        let text = "a\u{0B}\u{85} b"
        XCTAssertEqual(pattern.matches(in: text).map { String(text.unicodeScalars[$0]) }, ["a", "\u{0B}\u{85} ", "b"])
    }

    func testSplitBehaviours() throws {
        let text = "a-b--c"
        let spans = Span.each(in: text) { $0 == "-" }
        func pieces(_ behavior: SplitBehavior) -> [String] { behavior.apply(spans).map { String(text.unicodeScalars[$0]) } }
        XCTAssertEqual(pieces(.removed), ["a", "b", "c"])
        XCTAssertEqual(pieces(.isolated), ["a", "-", "b", "-", "-", "c"])
        XCTAssertEqual(pieces(.mergedWithPrevious), ["a-", "b-", "-", "c"])
        XCTAssertEqual(pieces(.mergedWithNext), ["a", "-b", "-", "-c"])
        XCTAssertEqual(pieces(.contiguous), ["a", "-", "b", "--", "c"])
    }

    func testLowercaseIsPerScalarWithoutFinalSigma() throws {
        XCTAssertEqual(try Normalizer.lowercase.apply("ΑΣ Σ İ"), "ασ σ i\u{307}")
    }

    /// Issue 17, F9: a chain whose output outgrows its input by more than the bound stops with one line
    /// naming the file and the stage — on encoding, and on loading when a normalized added token runs
    /// through it — instead of doubling the text 40 times.
    func testAmplifyingNormalizerChainStopsNamingTheStage() throws {
        let path = fixturesFolder + "/malformed/tokenizer-normalizer-amplification-minimal.json"
        let tokenizer = try Tokenizer(path: path)
        XCTAssertThrowsError(try tokenizer.encode(String(repeating: "a", count: 5000))) { error in
            XCTAssertEqual("\(error)", "\(path): normalizer.normalizers[3] (Replace): grows a text of 5000 characters past 41024 (8× + 1024)")
        }
        XCTAssertEqual(try tokenizer.encode("xyz", addSpecialTokens: false).count, 0)

        var json = try XCTUnwrap(JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: path))).object)
        json["added_tokens"] = .array([.object(["id": .integer(0), "content": .string(String(repeating: "a", count: 200)),
                                                "special": .bool(false), "normalized": .bool(true)])])
        let data = Data(PythonJSON.text(.object(json)).utf8)
        XCTAssertThrowsError(try Tokenizer(json: data, source: "t.json")) { error in
            XCTAssertTrue("\(error)".hasPrefix("t.json: normalizer.normalizers["), "\(error)")
        }
    }
}
