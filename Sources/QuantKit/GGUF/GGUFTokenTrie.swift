/// A vocabulary as a trie over Unicode scalars (forwards, or backwards for suffixes), so that every
/// token that is a prefix of a string is found in one walk along it. Looking each prefix up in a
/// dictionary instead hashes every prefix anew: quadratic in the string's length, minutes for one
/// 60k-character token (issue 17, F7).
///
/// One dictionary holds every edge, keyed by (node << 21 | scalar) — scalars need 21 bits — so the
/// trie costs one entry per scalar of the vocabulary, not a dictionary per node.
struct GGUFTokenTrie {
    private var edges: [UInt64: Int32] = [:]
    /// Token id at each node, -1 where no token ends.
    private var ids: [Int32] = [-1]

    init(_ vocabulary: GGUFTokenizerMetadata.VocabularyIndex, backwards: Bool) {
        for token in vocabulary.tokensInFirstOrder {
            guard let id = vocabulary.id(of: token) else { continue }
            var node = 0
            for scalar in backwards ? Array(token.unicodeScalars.reversed()) : Array(token.unicodeScalars) {
                let key = UInt64(node) << 21 | UInt64(scalar.value)
                if let next = edges[key] {
                    node = Int(next)
                } else {
                    edges[key] = Int32(ids.count)
                    node = ids.count
                    ids.append(-1)
                }
            }
            ids[node] = Int32(id)
        }
    }

    /// `result[c - 1]`: the id of the token `scalars.prefix(c)`, or nil; for c in 1…scalars.count.
    func idsOfPrefixes<C: Collection>(_ scalars: C) -> [Int?] where C.Element == Unicode.Scalar {
        var result = [Int?](repeating: nil, count: scalars.count)
        var node = 0
        for (index, scalar) in scalars.enumerated() {
            guard let next = edges[UInt64(node) << 21 | UInt64(scalar.value)] else { break }
            node = Int(next)
            if ids[node] >= 0 { result[index] = Int(ids[node]) }
        }
        return result
    }
}
