import Foundation

/// Byte-pair encoding as the library's `models::bpe` runs it on one word.
///
///     "model": {"type": "BPE", "dropout": null, "unk_token": null|"<unk>",
///               "continuing_subword_prefix": null|"##", "end_of_word_suffix": null|"</w>",
///               "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
///               "vocab": {token: id, …}, "merges": ["a b", …] | [["a", "b"], …]}
///
/// A word starts as one symbol per Unicode scalar (the prefix on all but the first, the suffix on the
/// last). A scalar missing from the vocabulary becomes its UTF-8 bytes as `<0xXX>` tokens when
/// byte_fallback finds all of them, else the unknown token (consecutive ones fused into one with
/// fuse_unk), else it is dropped. Then merges apply lowest rank first, leftmost first among equal
/// ranks. The merge of a and b makes a + b without b's prefix. With ignore_merges a word that is
/// itself in the vocabulary is taken whole.
struct BPEModel: Sendable {
    struct Merge {
        var rank: Int32
        var newID: Int32
    }

    let vocab: [ExactString: Int]
    private let merges: [UInt64: Merge]
    private let unknownID: Int?
    private let prefix: String?
    private let suffix: String?
    private let fuseUnknown: Bool
    /// The ids of `<0x00>` … `<0xFF>` when byte_fallback is on (nil where the vocabulary lacks one).
    private let byteIDs: [Int?]?
    private let ignoreMerges: Bool
    private let cache = WordCache()

    init(_ reader: ComponentReader) throws {
        if let dropout = reader.value("dropout"), dropout != .integer(0), dropout != .number(0) {
            throw reader.unsupported("dropout (random merges)")
        }
        vocab = try Vocabulary.read(reader)
        prefix = try reader.optionalString("continuing_subword_prefix")
        suffix = try reader.optionalString("end_of_word_suffix")
        fuseUnknown = try reader.bool("fuse_unk", default: false)
        ignoreMerges = try reader.bool("ignore_merges", default: false)
        if let unknown = try reader.optionalString("unk_token") {
            guard let id = vocab[ExactString(unknown)] else { throw reader.invalid("unk_token \(unknown) is not in the vocabulary") }
            unknownID = id
        } else {
            unknownID = nil
        }
        if try reader.bool("byte_fallback", default: false) {
            byteIDs = (0..<256).map { [vocab] in vocab[ExactString(String(format: "<0x%02X>", $0))] }
        } else {
            byteIDs = nil
        }
        merges = try Self.readMerges(reader, vocab: vocab, prefixLength: prefix?.unicodeScalars.count ?? 0)
    }

    /// Each merge as (left id, right id) → (rank, merged id). A pair listed twice keeps its last rank,
    /// as the library's map does.
    private static func readMerges(_ reader: ComponentReader, vocab: [ExactString: Int], prefixLength: Int) throws -> [UInt64: Merge] {
        let entries = try reader.array("merges")
        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(entries.count)
        for (rank, entry) in entries.enumerated() {
            let parts: [String]
            if let line = entry.string {
                parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else {
                parts = entry.array?.compactMap(\.string) ?? []
            }
            guard parts.count == 2 else { throw reader.invalid("merge \(rank) is not a pair of tokens") }
            let right = parts[1]
            let merged = parts[0] + String(right.unicodeScalars.dropFirst(min(prefixLength, right.unicodeScalars.count)))
            let ids = try [parts[0], right, merged].map { token in
                guard let id = vocab[ExactString(token)] else {
                    throw reader.invalid("merge \(rank) uses \(token), which is not in the vocabulary")
                }
                return id
            }
            merges[pairKey(ids[0], ids[1])] = Merge(rank: Int32(rank), newID: Int32(ids[2]))
        }
        return merges
    }

    private static func pairKey(_ left: Int, _ right: Int) -> UInt64 { UInt64(UInt32(left)) << 32 | UInt64(UInt32(right)) }

    func tokenize(_ word: String, into ids: inout [Int]) {
        if word.isEmpty { return }
        if ignoreMerges, let id = vocab[ExactString(word)] { return ids.append(id) }
        if let cached = cache[word] { return ids.append(contentsOf: cached) }
        let result = merge(symbols(word))
        cache[word] = result
        ids.append(contentsOf: result)
    }

    /// The word's starting symbols, before any merge.
    private func symbols(_ word: String) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(word.utf8.count)
        var pendingUnknown = false
        let scalars = word.unicodeScalars
        var index = scalars.startIndex
        while index != scalars.endIndex {
            let next = scalars.index(after: index)
            var symbol = index == scalars.startIndex ? "" : prefix ?? ""
            symbol.unicodeScalars.append(scalars[index])
            if next == scalars.endIndex, let suffix { symbol += suffix }
            index = next
            if let id = vocab[ExactString(symbol)] {
                if pendingUnknown, let unknownID { out.append(unknownID) }
                pendingUnknown = false
                out.append(id)
                continue
            }
            // The library adds fallback bytes before flushing a pending unknown token; a scalar is
            // only unknown when one of its bytes has no token, so the order shows in odd vocabularies.
            if let byteIDs {
                let fallback = symbol.utf8.map { byteIDs[Int($0)] }
                if fallback.allSatisfy({ $0 != nil }) {
                    out.append(contentsOf: fallback.map { $0! })
                    continue
                }
            }
            if let unknownID {
                if pendingUnknown && !fuseUnknown { out.append(unknownID) }
                pendingUnknown = true
            }
        }
        if pendingUnknown, let unknownID { out.append(unknownID) }
        return out
    }

    /// The library's `Word::merge_all`: a queue of candidate merges ordered by (rank, position); a
    /// popped candidate whose symbols have changed since it was queued is skipped.
    private func merge(_ ids: [Int]) -> [Int] {
        guard ids.count > 1 else { return ids }
        var symbols = ids.enumerated().map { Symbol(id: $0.element, previous: $0.offset - 1, next: $0.offset + 1) }
        symbols[symbols.count - 1].next = -1
        var queue = MergeQueue()
        for position in 0..<(symbols.count - 1) {
            if let merge = merges[Self.pairKey(symbols[position].id, symbols[position + 1].id)] {
                queue.push(Candidate(rank: merge.rank, position: Int32(position), newID: merge.newID))
            }
        }
        while let top = queue.pop() {
            let position = Int(top.position)
            guard symbols[position].alive, symbols[position].next >= 0 else { continue }
            let right = symbols[symbols[position].next]
            guard let merge = merges[Self.pairKey(symbols[position].id, right.id)], merge.newID == top.newID else { continue }
            symbols[symbols[position].next].alive = false
            symbols[position].id = Int(top.newID)
            symbols[position].next = right.next
            if right.next >= 0 { symbols[right.next].previous = position }
            let current = symbols[position]
            if current.previous >= 0, let merge = merges[Self.pairKey(symbols[current.previous].id, current.id)] {
                queue.push(Candidate(rank: merge.rank, position: Int32(current.previous), newID: merge.newID))
            }
            if current.next >= 0, let merge = merges[Self.pairKey(current.id, symbols[current.next].id)] {
                queue.push(Candidate(rank: merge.rank, position: Int32(position), newID: merge.newID))
            }
        }
        return symbols.filter(\.alive).map(\.id)
    }

    private struct Symbol {
        var id: Int
        var previous: Int
        var next: Int
        var alive = true
    }

    struct Candidate {
        var rank: Int32
        var position: Int32
        var newID: Int32

        func precedes(_ other: Candidate) -> Bool { (rank, position) < (other.rank, other.position) }
    }

    /// A binary min-heap of candidates by (rank, position).
    struct MergeQueue {
        private var items: [Candidate] = []

        mutating func push(_ item: Candidate) {
            items.append(item)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard items[child].precedes(items[parent]) else { break }
                items.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> Candidate? {
            guard let first = items.first else { return nil }
            let last = items.removeLast()
            if items.isEmpty { return first }
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < items.count, items[left].precedes(items[smallest]) { smallest = left }
                if right < items.count, items[right].precedes(items[smallest]) { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
            return first
        }
    }
}
