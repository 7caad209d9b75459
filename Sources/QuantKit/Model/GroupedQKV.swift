/// Splits the output of a fused q/k/v projection whose columns are grouped by key/value head:
///
///     row = | group 0: q heads (queriesPerGroup) | k | v | group 1: q … | k | v | …      (each head headSize)
///
/// GPT-NeoX and Falcon's old multi-head layout have one query per group (per head q|k|v); Falcon's new
/// architecture has heads/kvHeads queries per group, its multi-query one a single group. The runtime's
/// attention wants each of q, k, v as heads side by side, so the rows are copied into three packed buffers.
struct GroupedQKV {
    let groups: Int
    let queriesPerGroup: Int
    let headSize: Int

    var queryWidth: Int { groups * queriesPerGroup * headSize }
    var keyValueWidth: Int { groups * headSize }
    var fusedWidth: Int { queryWidth + 2 * keyValueWidth }

    func split(_ fused: UnsafePointer<Float>, rows: Int, query: UnsafeMutablePointer<Float>,
               key: UnsafeMutablePointer<Float>, value: UnsafeMutablePointer<Float>) {
        let groupWidth = (queriesPerGroup + 2) * headSize, queries = queriesPerGroup * headSize
        for row in 0..<rows {
            let source = fused + row * fusedWidth
            for group in 0..<groups {
                let start = source + group * groupWidth
                (query + row * queryWidth + group * queries).update(from: start, count: queries)
                (key + row * keyValueWidth + group * headSize).update(from: start + queries, count: headSize)
                (value + row * keyValueWidth + group * headSize).update(from: start + queries + headSize, count: headSize)
            }
        }
    }
}
