import Foundation
import XCTest
@testable import QuantKit

/// The phi3, gpt_neox, opt and falcon families' tokenizer components (Pythia's space-run added tokens,
/// OPT's </s> template, Falcon's Punctuation/Digits/Split chain, Phi-4-mini's o200k regex, Phi-3's rstrip
/// chat tokens) against the ids of the `tokenizers` library (scripts/fixtures/make_arch_tokenizer_fixtures.py).
final class ArchitectureTokenizerTests: XCTestCase {
    static let folder = fixturesFolder + "/tokenizers/archs"

    func testEveryCaseGivesTheLibrarysIDs() throws {
        let manifest = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.folder + "/cases.json"))).object!
        let described = manifest["tokenizers"]!.object!
        XCTAssertEqual(Set(described.keys), ["pythia", "opt", "falcon", "phi4-mini", "phi3-mini"])
        var tokenizers: [String: Tokenizer] = [:]
        for (name, info) in described {
            let tokenizer = try Tokenizer(path: Self.folder + "/" + info["file"]!.string!)
            XCTAssertEqual(tokenizer.vocabularySize, info["vocab_size"]!.integer!, name)
            tokenizers[name] = tokenizer
        }
        let cases = manifest["cases"]!.array!.map { $0.object! }
        var failures: [String] = []
        for item in cases {
            let name = item["tokenizer"]!.string!, text = item["text"]!.string!, special = item["add_special_tokens"]!.bool!
            let expected = item["ids"]!.array!.map { $0.integer! }
            let actual = try tokenizers[name]!.encode(text, addSpecialTokens: special)
            if actual != expected {
                let at = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(actual.count, expected.count)
                failures.append("\(name) special=\(special) \(String(reflecting: String(text.prefix(40)))): first difference at \(at): "
                    + "\(actual.dropFirst(at).prefix(4).map(String.init)) vs \(expected.dropFirst(at).prefix(4).map(String.init))")
            }
        }
        XCTAssertEqual(cases.count, 220)
        XCTAssert(failures.isEmpty, "\(failures.count) of \(cases.count) cases differ:\n" + failures.prefix(15).joined(separator: "\n"))
    }
}
