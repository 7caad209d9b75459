import QuantKit

/// The whole model at once: transformer blocks down, hidden dimensions across (binned to the width). A
/// cell is shaded by how far the largest |x| among its dimensions reaches against the threshold at the
/// block's hidden-state inputs (attention and first MLP projection: `HiddenStateInputs`), so outlier
/// features show as vertical stripes. Right of each row, a bar of its outlier columns at the threshold.
/// With more blocks than rows, neighbouring blocks share a row (its label gives the range, its cells the
/// largest value); the title lists the outlier features at the counted threshold at or below the
/// threshold, ≈ when that is not the threshold itself.
enum OutlierMapView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        guard rect.height >= 4, rect.width >= 20 else { return }
        frame.put(String(repeating: glyphs.horizontal, count: rect.width), x: rect.x, y: rect.y, role: .dim)
        let blocks = blockMaxima(state)
        let why: String? = state.hiddenInputs.inputs.isEmpty ? "no Linear here reads the hidden state"
            : !state.hasActivations ? (state.activationsUnavailable == nil && state.isAnalysing ? "calibrating…"
                                       : "no activations: they need a model qtui can run")
            : state.threshold <= 0 ? "threshold 0: no outlier columns (pure int8)"
            : blocks.isEmpty ? "no statistics at the hidden-state inputs" : nil
        if let why {
            frame.put(" outlier features · \(why) ", x: rect.x + 1, y: rect.y, role: .dim, limit: rect.width - 2)
            return
        }
        let hidden = state.hiddenInputs.hiddenSize
        let rows = rowRanges(blocks: blocks.count, rows: rect.height - 2)
        let labels = rows.map { range in
            let (first, last) = (blocks[range.lowerBound].block, blocks[range.upperBound - 1].block)
            return first == last ? "\(first)" : "\(first)-\(last)"
        }
        let labelWidth = (labels.map(\.count).max() ?? 1) + 1
        let barWidth = rect.width >= 70 ? 12 : 9
        let plotWidth = min(hidden, rect.width - 3 - labelWidth - 1 - barWidth)
        guard plotWidth >= 4 else { return }
        let plot = Rect(x: rect.x + 2 + labelWidth, y: rect.y + 1, width: plotWidth, height: rows.count)
        let features = state.outlierFeatures(at: state.threshold)
        drawTitle(&frame, rect, features, state, glyphs)
        let limit = Float(Float16(state.threshold))
        let selectedBlock = state.selectedLayer.flatMap { HiddenStateInputs.block(of: $0.name) }
        var rowMaxima: [[Float]] = []
        for range in rows {
            var maxima = blocks[range.lowerBound].maxima
            for index in range.dropFirst() { for d in 0..<hidden { maxima[d] = max(maxima[d], blocks[index].maxima[d]) } }
            rowMaxima.append(maxima)
        }
        let counts = rowMaxima.map { maxima in maxima.reduce(0) { $0 + (Float(Float16($1)) >= limit ? 1 : 0) } }
        let peak = max(counts.max() ?? 0, 1)
        for (row, range) in rows.enumerated() {
            let y = plot.y + row
            let selected = selectedBlock.map { block in blocks[range].contains { $0.block == block } } ?? false
            let label = (selected ? String(glyphs.selected) : " ") + Format.right(labels[row], labelWidth - 1)
            frame.put(label, x: rect.x + 1, y: y, role: selected ? .selected : .dim)
            for x in 0..<plotWidth {
                let largest = rowMaxima[row][(x * hidden / plotWidth)..<((x + 1) * hidden / plotWidth)].max() ?? 0
                let level = shade(largest, threshold: state.threshold, limit: limit)
                frame.put(String(glyphs.shades[level]), x: plot.x + x, y: y, role: level >= 3 ? .alert : .dim)
            }
            let cells = counts[row] == 0 ? 0 : max(1, counts[row] * (barWidth - 6) / peak)
            let bar = Format.right("\(counts[row])", 5) + " " + String(repeating: glyphs.full, count: cells)
            frame.put(bar, x: plot.maxX + 1, y: y, role: counts[row] > 0 ? .warn : .dim, limit: barWidth)
        }
        drawAxis(&frame, Rect(x: plot.x, y: plot.maxY, width: plotWidth, height: 1), hidden: hidden, features: features, glyphs: glyphs)
        frame.put(String(format: "cols≥%g", state.threshold), x: plot.maxX + 1, y: plot.maxY, role: .dim, limit: barWidth)
    }

    /// Per block with statistics (ascending), the largest |x| per hidden dimension over its counted inputs.
    static func blockMaxima(_ state: ExplorerState) -> [(block: Int, maxima: [Float])] {
        var result: [(block: Int, maxima: [Float])] = []
        for input in state.hiddenInputs.inputs {
            guard let seen = input.layers.lazy.compactMap({ state.layerIndex[$0].flatMap { state.layers[$0].activations } }).first,
                  seen.features == state.hiddenInputs.hiddenSize else { continue }
            if result.last?.block == input.block {
                for d in 0..<seen.features { result[result.count - 1].maxima[d] = max(result[result.count - 1].maxima[d], seen.columnMax[d]) }
            } else {
                result.append((input.block, seen.columnMax))
            }
        }
        return result
    }

    /// Blocks `0..<blocks` split into at most `rows` consecutive, nearly equal ranges.
    static func rowRanges(blocks: Int, rows: Int) -> [Range<Int>] {
        let count = min(blocks, max(rows, 1))
        return (0..<count).map { ($0 * blocks / count)..<(($0 + 1) * blocks / count) }
    }

    /// 0–2 below the threshold (under a quarter, a half, the whole of it), 3–5 at or above it (under
    /// twice, four times, beyond); "at" is bitsandbytes' fp16 comparison, as for outlier columns.
    static func shade(_ value: Float, threshold: Float, limit: Float) -> Int {
        if Float(Float16(value)) >= limit { return value >= 4 * threshold ? 5 : value >= 2 * threshold ? 4 : 3 }
        return value >= threshold / 2 ? 2 : value >= threshold / 4 ? 1 : 0
    }

    private static func drawTitle(_ frame: inout Frame, _ rect: Rect, _ features: OutlierFeatures?, _ state: ExplorerState, _ glyphs: Glyphs) {
        let found: String
        if let features {
            let at = (features.threshold == state.threshold ? "" : "≈") + String(format: "≥%g", features.threshold)
            let dimensions = features.features.prefix(6).map { "\($0.dimension)" }.joined(separator: " ")
                + (features.features.count > 6 ? " +\(features.features.count - 6)" : "")
            found = features.features.isEmpty ? "no outlier features \(at)" : "outlier features \(at): \(dimensions)"
        } else {
            found = "outlier features: threshold below the counted grid"
        }
        let s = glyphs.shades
        let parts = [found, "max|x|/t \(s[1]).25 \(s[2]).5 \(s[3])1 \(s[4])2 \(s[5])4", "blocks ↓ dims →", "f: next panel"]
        frame.put(" " + Format.parts(parts, width: rect.width - 4, separator: " · ", glyphs: glyphs) + " ", x: rect.x + 1, y: rect.y,
                  role: .header, limit: rect.width - 2)
    }

    /// The first and last dimension, and ▲ under the columns holding an outlier feature.
    private static func drawAxis(_ frame: inout Frame, _ rect: Rect, hidden: Int, features: OutlierFeatures?, glyphs: Glyphs) {
        frame.put("0", x: rect.x, y: rect.y, role: .dim)
        let last = "\(hidden - 1)"
        frame.put(last, x: rect.maxX - last.count, y: rect.y, role: .dim)
        for feature in features?.features ?? [] {
            // The column whose range of dimensions holds it (the inverse of the cells' `x * hidden / width`).
            frame.put("▲", x: rect.x + ((feature.dimension + 1) * rect.width - 1) / hidden, y: rect.y, role: .alert)
        }
    }
}
