import Foundation
@testable import QuantKit
import XCTest

/// Gemma's tokenizer: Tests/Fixtures/tokenizers/gemma (scripts/fixtures/make_gemma_tokenizer_fixture.py), a
/// tokenizer.json with the components of Gemma's and the ids the `tokenizers` library gives for it; and a
/// vocabulary of Gemma 3's size (262,144 entries) to show that loading one stays fast.
final class GemmaTokenizerTests: XCTestCase {
    func testIdsMatchTheTokenizersLibrary() throws {
        let folder = fixturesFolder + "/tokenizers/gemma"
        let tokenizer = try Tokenizer(path: folder + "/tokenizer.json")
        let cases = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: folder + "/cases.json"))).object!["cases"]!.array!
        XCTAssertEqual(cases.count, 44)
        for testCase in cases {
            let text = testCase["text"]!.string!, special = testCase["add_special_tokens"]!.bool!
            XCTAssertEqual(try tokenizer.encode(text, addSpecialTokens: special), testCase["ids"]!.array!.map { $0.integer! },
                           "\(text.debugDescription) add_special_tokens=\(special)")
        }
    }

    /// A synthetic Gemma-sized tokenizer.json: the five specials, the 256 byte tokens, then every string of
    /// 1…4 letters a–z until 262,144 entries, each longer one with the merge (all but its last letter, its
    /// last letter), ranked shortest first. The load time is printed, not asserted (the machine is shared);
    /// what is asserted is how the merges combine (a b c → ab c → abc, but a b c d → ab c d → ab cd, which
    /// has no merge) and that a character outside the vocabulary falls back to bytes.
    func testAGemmaSizedVocabularyLoads() throws {
        let size = 262_144
        var tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"] + (0..<256).map { String(format: "<0x%02X>", $0) }
        var merges: [(String, String)] = []
        let letters = (UInt8(ascii: "a")...UInt8(ascii: "z")).map { String(UnicodeScalar($0)) }
        var level = letters
        tokens += level
        while tokens.count < size {
            var next: [String] = []
            for prefix in level {
                for letter in letters where tokens.count < size {
                    next.append(prefix + letter)
                    tokens.append(prefix + letter)
                    merges.append((prefix, letter))
                }
            }
            level = next
        }
        let vocab = tokens.enumerated().map { "\(SafetensorsWriter.quoted($0.element)):\($0.offset)" }.joined(separator: ",")
        let mergeList = merges.map { "[\(SafetensorsWriter.quoted($0.0)),\(SafetensorsWriter.quoted($0.1))]" }.joined(separator: ",")
        let specials = (0..<5).map { GGUFTokenizerMetadata.addedTokenJSON(id: $0, content: tokens[$0], special: true) }.joined(separator: ",")
        let json = """
        {"version":"1.0","truncation":null,"padding":null,"added_tokens":[\(specials)],\
        "normalizer":{"type":"Replace","pattern":{"String":" "},"content":"▁"},\
        "pre_tokenizer":{"type":"Split","pattern":{"String":" "},"behavior":"MergedWithPrevious","invert":false},\
        "post_processor":null,"decoder":null,\
        "model":{"type":"BPE","dropout":null,"unk_token":"<unk>","continuing_subword_prefix":null,"end_of_word_suffix":null,\
        "fuse_unk":true,"byte_fallback":true,"ignore_merges":false,"vocab":{\(vocab)},"merges":[\(mergeList)]}}
        """
        let folder = TemporaryFolder()
        let path = folder.write("tokenizer.json", text: json)
        let start = Date()
        let tokenizer = try Tokenizer(path: path)
        let seconds = Date().timeIntervalSince(start)
        print("Gemma-sized tokenizer.json (\(tokens.count) tokens, \(merges.count) merges, \(json.utf8.count / 1_000_000) MB): loaded in \(String(format: "%.2f", seconds)) s")
        let id = { (token: String) in tokens.firstIndex(of: token)! }
        // "▁" (the space, normalized) is not in the vocabulary: its three UTF-8 bytes.
        XCTAssertEqual(try tokenizer.encode("abc efgh", addSpecialTokens: false),
                       [id("abc"), id("<0xE2>"), id("<0x96>"), id("<0x81>"), id("ef"), id("gh")])
        XCTAssertEqual(try tokenizer.encode("<bos>zz", addSpecialTokens: false), [2, id("zz")])
    }
}
