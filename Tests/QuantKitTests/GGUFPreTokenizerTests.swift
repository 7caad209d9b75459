import Foundation
import XCTest
@testable import QuantKit

/// tokenizer.ggml.pre → the pre-tokenizer of a byte-level GGUF tokenizer. Tests/Fixtures/gguf/pre-tokenizers
/// (scripts/fixtures/make_gguf_pretokenizer_fixtures.py): transformers 5.24's table itself (table.json), and for
/// each distinct regex in it (and one name it does not know) a tokenizer-only GGUF sharing one vocabulary
/// whose merges cross every split boundary, with the tokenizer.json transformers builds from it and its
/// ids for texts that tell the regexes apart.
final class GGUFPreTokenizerTests: XCTestCase {
    static let fixture = fixturesFolder + "/gguf/pre-tokenizers"

    func testTableIsTransformersNameForName() throws {
        let table = try XCTUnwrap(JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.fixture + "/table.json"))).object)
        XCTAssertEqual(Set(GGUFPreTokenizerSplits.byName.keys), Set(table.keys))
        for (name, regex) in table {
            XCTAssertEqual(GGUFPreTokenizerSplits.byName[name], regex.string, name)
        }
    }

    func testEachRegexGivesTransformersTokenizerJSONAndIDs() throws {
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.fixture + "/expected.json")))
        let texts = try XCTUnwrap(expected["texts"]?.array).map { $0.string! }
        let files = try XCTUnwrap(expected["files"]?.object)
        XCTAssertEqual(files.count, 6, "llama-bpe, tekken, qwen2, qwen35, gpt-4o and a name transformers does not know")
        var agreeing = 0
        for (name, file) in files.sorted(by: { $0.key < $1.key }) {
            let cache = TemporaryFolder()
            let result = try GGUFConversion(path: Self.fixture + "/" + name, cacheFolder: cache.path).run()
            let pre = try GGUFFile(path: Self.fixture + "/" + name)["tokenizer.ggml.pre"]?.string ?? ""
            XCTAssertEqual(result.tokenizerNote != nil, GGUFPreTokenizerSplits.byName[pre] == nil, "\(name): a note only for a name transformers does not map")
            let ours = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: result.folder + "/tokenizer.json"))).object!
            let reference = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.fixture + "/" + file["tokenizer"]!.string!))).object!
            XCTAssertEqual(ours["pre_tokenizer"], reference["pre_tokenizer"], "\(name): pre_tokenizer")
            XCTAssertEqual(Set(ours.keys), Set(reference.keys), name)
            for (key, value) in reference { XCTAssertEqual(ours[key], value, "\(name): \(key)") }

            let tokenizer = try Calibration.tokenizer(for: try Checkpoint(path: result.folder))
            for (text, testCase) in zip(texts, file["cases"]!.array!) {
                let ids = testCase["ids"]!.array!.map { $0.integer! }
                XCTAssertEqual(try tokenizer.encode(text), ids, "\(name) \(text.debugDescription)")
                XCTAssertEqual(try tokenizer.encode(text, addSpecialTokens: false), testCase["ids_without_special_tokens"]!.array!.map { $0.integer! },
                               "\(name) \(text.debugDescription) without special tokens")
                agreeing += try tokenizer.encode(text) == ids ? 1 : 0
            }
        }
        XCTAssertEqual(agreeing, files.count * texts.count, "cases whose ids equal transformers'")
    }
}
