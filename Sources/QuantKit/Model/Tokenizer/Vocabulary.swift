import Foundation
import Synchronization

/// A string compared and hashed by its exact UTF-8 bytes. Swift's String equality is canonical
/// equivalence ("é" == "e\u{301}"), which would fold together vocabulary entries and cached words
/// that the library, comparing bytes, keeps apart.
struct ExactString: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (lhs: ExactString, rhs: ExactString) -> Bool { lhs.string.utf8.elementsEqual(rhs.string.utf8) }

    func hash(into hasher: inout Hasher) {
        var copy = string
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// The `vocab` object of a model, `{token: id}`.
enum Vocabulary {
    static func read(_ reader: ComponentReader) throws -> [ExactString: Int] {
        var vocab: [ExactString: Int] = [:]
        let entries = try reader.object("vocab")
        vocab.reserveCapacity(entries.count)
        for (token, value) in entries {
            guard let id = value.integer, id >= 0, id <= Int(Int32.max) else {
                throw reader.invalid("vocab entry \(token) has no valid id")
            }
            vocab[ExactString(token)] = id
        }
        return vocab
    }
}

/// Words already encoded by a model, shared by copies of a tokenizer and safe across threads.
/// Calibration text repeats its words, so most lookups hit. Full means no more insertions (the
/// library's cache behaves the same way), which bounds memory on endless input.
final class WordCache: Sendable {
    static let capacity = 10_000
    /// Longer words are rare and would only crowd the cache (the library's limit too).
    static let longestWord = 256

    private let entries = Mutex<[ExactString: [Int]]>([:])

    subscript(word: String) -> [Int]? {
        get { entries.withLock { $0[ExactString(word)] } }
        set {
            guard let newValue, word.utf8.count <= Self.longestWord else { return }
            entries.withLock { if $0.count < Self.capacity { $0[ExactString(word)] = newValue } }
        }
    }
}
