import Foundation
import XCTest
@testable import QuantKit

/// GGUF's "llama" tokenizer model (SentencePiece BPE) → tokenizer.json. Tests/Fixtures/gguf/sentencepiece
/// (scripts/fixtures/make_gguf_sentencepiece_fixture.py): three GGUF files, for each the tokenizer.json
/// transformers' own GGUF tokenizer builds from it and that tokenizer's ids for awkward texts.
final class GGUFSentencePieceTests: XCTestCase {
    static let fixture = fixturesFolder + "/gguf/sentencepiece"

    func testConversionWritesTransformersTokenizerJSONAndItsIDs() throws {
        let expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.fixture + "/expected.json")))
        let files = try XCTUnwrap(expected["files"]?.object)
        XCTAssertEqual(files.count, 3)
        var agreeing = 0
        for (name, file) in files.sorted(by: { $0.key < $1.key }) {
            let cache = TemporaryFolder()
            let result = try GGUFConversion(path: Self.fixture + "/" + name, cacheFolder: cache.path).run()
            XCTAssertNil(result.tokenizerNote, name)
            let written = result.folder + "/tokenizer.json"
            let ours = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: written))).object!
            let reference = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Self.fixture + "/" + file["tokenizer"]!.string!))).object!
            XCTAssertEqual(Set(ours.keys), Set(reference.keys), name)
            for (key, value) in reference { XCTAssertEqual(ours[key], value, "\(name): \(key)") }

            let tokenizer = try Calibration.tokenizer(for: try Checkpoint(path: result.folder))
            for (index, testCase) in file["cases"]!.array!.enumerated() {
                let text = testCase["text"]!.string!
                let ids = try tokenizer.encode(text)
                let plain = try tokenizer.encode(text, addSpecialTokens: false)
                XCTAssertEqual(ids, testCase["ids"]!.array!.map { $0.integer! }, "\(name) case \(index) \(text.debugDescription)")
                XCTAssertEqual(plain, testCase["ids_without_special_tokens"]!.array!.map { $0.integer! },
                               "\(name) case \(index) \(text.debugDescription) without special tokens")
                agreeing += ids == testCase["ids"]!.array!.map { $0.integer! } ? 1 : 0
            }
        }
        XCTAssertEqual(agreeing, 39, "cases whose ids equal transformers'")
    }

    /// Python's generate_merges on a vocabulary small enough to work by hand: cuts of one token are
    /// ordered by (left id, right id) and share its score; then (score, left length, right length)
    /// descending, ties in that order.
    func testMergesFromScoresFollowTransformersOrder() {
        let tokens = ["a", "b", "c", "ab", "bc", "abc", "ca", "x", "é", "éa"]
        let scores: [Double] = [0, 0, 0, -1, -1, -2, -1, 0, 0, -1]
        let merges = GGUFSentencePieceTokenizerJSON.mergesFromScores(tokens: tokens, scores: scores)
        XCTAssertEqual(merges.map { "\($0.left) \($0.right)" }, ["a b", "b c", "c a", "é a", "ab c", "a bc"])
    }

    /// A token listed twice keeps its last id and its last score (Python dicts), and is written once.
    func testDuplicateTokensKeepTheirLastIDAsPythonDictsDo() {
        let index = GGUFTokenizerMetadata.VocabularyIndex(tokens: ["a", "b", "ab", "a"])
        XCTAssertEqual(index.id(of: "a"), 3)
        XCTAssertEqual(index.tokensInIDOrder.map(\.id), [1, 2, 3])
        XCTAssertEqual(index.tokensInFirstOrder, ["a", "b", "ab"])
    }

    func testMalformedTokenizerMetadataIsAOneLineErrorNamingTheFile() throws {
        let original = try GGUFFile(path: Self.fixture + "/llama.gguf")
        let metadata = Dictionary(uniqueKeysWithValues: original.metadata.map { ($0.key, $0.value) })
        let count = original["tokenizer.ggml.tokens"].flatMap { value -> Int? in
            if case .array(_, let tokens) = value { return tokens.count }
            return nil
        }!
        let broken: [(String, GGUFValue?, String)] = [
            ("tokenizer.ggml.scores", .array(.float32, Array(repeating: .float32(0), count: count - 1)),
             "metadata tokenizer.ggml.scores: has \(count - 1) scores for \(count) tokens"),
            ("tokenizer.ggml.scores", .array(.string, Array(repeating: .string("0"), count: count)),
             "metadata tokenizer.ggml.scores: entry 0 is string, not a finite number"),
            ("tokenizer.ggml.scores", nil, "metadata tokenizer.ggml.scores: is missing or not an array"),
            ("tokenizer.ggml.token_type", .array(.int32, [.int32(1)]), "metadata tokenizer.ggml.token_type: is not an array of \(count) integers"),
            ("tokenizer.ggml.bos_token_id", .uint32(UInt32(count)), "metadata tokenizer.ggml.bos_token_id: is not a token id below \(count)"),
            ("tokenizer.ggml.add_bos_token", .string("yes"), "metadata tokenizer.ggml.add_bos_token: is string, not a boolean"),
        ]
        for (key, value, message) in broken {
            let cache = TemporaryFolder()
            var changed = metadata
            changed[key] = value
            let path = cache.write("broken.gguf", GGUFConversionTests.metadataOnlyGGUF(changed))
            let converted = cache.path + "/converted"
            XCTAssertThrowsError(try GGUFConversion(path: path, cacheFolder: converted).run(), key) { error in
                let text = "\(error)"
                XCTAssertTrue(error is CheckpointError, text)
                XCTAssertTrue(text.hasPrefix(path + ": " + message), text)
                XCTAssertFalse(text.contains("\n"), text)
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: converted), [], "nothing left behind")
        }
    }

    /// Folders converted by an earlier converter (before SentencePiece tokenizers were supported, say:
    /// weights and no tokenizer.json) are not reused: the converter version is part of the name.
    func testFoldersOfAnEarlierConverterAreNotReused() throws {
        let cache = TemporaryFolder()
        let conversion = GGUFConversion(path: Self.fixture + "/llama.gguf", cacheFolder: cache.path)
        let current = try conversion.destination()
        XCTAssertTrue(current.hasSuffix("-c\(GGUFConversion.converterVersion)"), current)
        let earlier = String(current.dropLast("-c\(GGUFConversion.converterVersion)".count))
        try FileManager.default.createDirectory(atPath: earlier, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: earlier + "/model.safetensors", contents: Data("stale".utf8))
        let result = try conversion.run()
        XCTAssertTrue(result.converted)
        XCTAssertEqual(result.folder, current)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: current).sorted(), ["config.json", "source.txt", "tokenizer.json"])
    }
}
