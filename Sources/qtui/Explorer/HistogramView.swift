import Foundation
import QuantKit

/// The selected layer's log-binned |x| histogram (activations when known, else weights) with the
/// threshold marked: bins at or above it in the alert colour, a marker column at the threshold.
enum HistogramView {
    static func draw(_ frame: inout Frame, _ rect: Rect, _ state: ExplorerState, _ glyphs: Glyphs) {
        guard rect.height >= 4, rect.width >= 20 else { return }
        frame.put(String(repeating: glyphs.horizontal, count: rect.width), x: rect.x, y: rect.y, role: .dim)
        guard let layer = state.selectedLayer else { return }
        guard let source = Source(layer, state) else {
            frame.put(" \(layer.name) · not analysed yet", x: rect.x + 1, y: rect.y, role: .dim, limit: rect.width - 2)
            return
        }
        let scale = state.logCounts ? "log" : "linear"
        // What is shown, then the layer's name: the title gives way before the name's distinctive end does.
        let titles = [" \(source.title) · \(scale) · ", " \(source.symbol) · \(scale) · ", " \(source.symbol) · "]
        let wanted = min(layer.name.count, 28)
        let title = titles.first { rect.width - 3 - $0.count >= wanted } ?? titles[titles.count - 1]
        let room = max(0, rect.width - 3 - title.count)
        let name = layer.name.count <= room ? layer.name : Format.fit(layer.name, room, glyphs)
        frame.put(title + name + " ", x: rect.x + 1, y: rect.y, role: .header, limit: rect.width - 2)

        let plot = Rect(x: rect.x + 1, y: rect.y + 1, width: rect.width - 2, height: rect.height - 3)
        let bins = binRange(source.histogram, largest: source.largest, threshold: state.threshold)
        let columns = columnCounts(source.histogram, bins: bins, columns: plot.width)
        drawBars(&frame, plot, columns: columns, bins: bins, state: state, glyphs: glyphs)
        drawAxis(&frame, Rect(x: plot.x, y: plot.maxY, width: plot.width, height: 1), bins: bins)
        drawSummary(&frame, Rect(x: rect.x + 1, y: rect.maxY - 1, width: rect.width - 2, height: 1), source, layer, state, glyphs)
    }

    /// The histogram to draw: the layer's activations when known and chosen, else its weights.
    struct Source {
        let histogram: LogHistogram
        let largest: Float
        let count: Int
        let symbol: String
        let title: String
        let activations: ActivationStatistics?

        init?(_ layer: LayerEntry, _ state: ExplorerState) {
            if state.histogramSource == .activations, let seen = layer.activations {
                histogram = seen.histogram
                largest = seen.columnMax.max() ?? 0
                count = seen.tokens * seen.features
                symbol = "|x|"
                title = "|x| activations · \(seen.tokens) tokens"
                activations = seen
            } else if let report = layer.weights {
                histogram = report.fullHistogram
                largest = max(abs(report.statistics.min), abs(report.statistics.max))
                count = report.statistics.count
                symbol = "|w|"
                title = "|w| weights · \(ReportFormatter.formatCount(count)) values"
                activations = nil
            } else {
                return nil
            }
        }
    }

    /// Bins shown: from five decades below the largest value (smaller ones gather in the first
    /// column) to past the threshold or the largest value, whichever is higher.
    static func binRange(_ histogram: LogHistogram, largest: Float, threshold: Float) -> ClosedRange<Int> {
        let top = max(largest, threshold * 1.3, 1e-6)
        let low = LogHistogram.bin(of: top / 1e5)
        let high = max(LogHistogram.bin(of: top) + 1, low + 8)
        return low...min(high, LogHistogram.binCount - 1)
    }

    /// Count under each column. With fewer bins than columns a bin spans several columns (each shows
    /// it); with more, a column sums its bins. Values below the range gather in the first column.
    static func columnCounts(_ histogram: LogHistogram, bins: ClosedRange<Int>, columns: Int) -> [UInt64] {
        var perBin = Array(histogram.counts[bins])
        perBin[0] += histogram.counts[..<bins.lowerBound].reduce(0, +)
        if bins.count <= columns {
            return (0..<columns).map { perBin[$0 * bins.count / columns] }
        }
        var counts = [UInt64](repeating: 0, count: max(columns, 1))
        for (offset, count) in perBin.enumerated() { counts[offset * columns / bins.count] += count }
        return counts
    }

    /// The first column showing a bin.
    static func column(of bin: Int, bins: ClosedRange<Int>, columns: Int) -> Int {
        min(columns - 1, ((bin - bins.lowerBound) * columns + bins.count - 1) / bins.count)
    }

    /// The lowest bin a column shows (the inverse of both mappings in `columnCounts`).
    static func firstBin(ofColumn column: Int, bins: ClosedRange<Int>, columns: Int) -> Int {
        bins.lowerBound + column * bins.count / columns
    }

    private static func drawBars(_ frame: inout Frame, _ plot: Rect, columns: [UInt64], bins: ClosedRange<Int>,
                                 state: ExplorerState, glyphs: Glyphs) {
        let peak = Double(columns.max() ?? 0)
        guard peak > 0, plot.height > 0 else { return }
        let levels = plot.height * 8
        let thresholdBin = LogHistogram.bin(of: state.threshold)
        let markerColumn = column(of: min(max(thresholdBin, bins.lowerBound), bins.upperBound), bins: bins, columns: plot.width)
        for x in 0..<plot.width {
            let count = Double(columns[x])
            let height = state.logCounts ? log10(1 + count) / log10(1 + peak) : count / peak
            var eighths = Int((height * Double(levels)).rounded())
            if count > 0 { eighths = max(eighths, 1) }
            let alert = firstBin(ofColumn: x, bins: bins, columns: plot.width) >= thresholdBin
            for row in 0..<plot.height {
                let y = plot.maxY - 1 - row
                let fill = min(8, max(0, eighths - row * 8))
                if fill > 0 {
                    frame.put(String(glyphs.bars[fill]), x: plot.x + x, y: y, role: alert ? .alert : .bar)
                } else if x == markerColumn {
                    frame.put(String(glyphs.marker), x: plot.x + x, y: y, role: .marker)
                }
            }
        }
    }

    /// Decade labels (1e-3 … 100) under their columns, where they fit.
    private static func drawAxis(_ frame: inout Frame, _ rect: Rect, bins: ClosedRange<Int>) {
        var nextFree = rect.x
        for exponent in -8...4 {
            let value = Float(pow(10.0, Double(exponent)))
            let bin = LogHistogram.bin(of: value)
            guard bins.contains(bin) else { continue }
            let label = exponent >= 0 ? String(Int(value)) : (exponent >= -2 ? String(format: "%g", value) : "1e\(exponent)")
            let x = rect.x + column(of: bin, bins: bins, columns: rect.width)
            guard x >= nextFree, x + label.count <= rect.maxX else { continue }
            frame.put(label, x: x, y: rect.y, role: .dim)
            nextFree = x + label.count + 1
        }
    }

    private static func drawSummary(_ frame: inout Frame, _ rect: Rect, _ source: Source, _ layer: LayerEntry,
                                    _ state: ExplorerState, _ glyphs: Glyphs) {
        let above = source.histogram.count(atLeast: state.threshold)
        let exact = LogHistogram.lowerEdge(of: LogHistogram.bin(of: state.threshold)) == state.threshold
        let fraction = Double(above) / Double(max(source.count, 1))
        let outliers: String
        if let seen = layer.activations {
            let columns = seen.outlierColumns(atLeast: state.threshold)
            outliers = "outlier cols \(columns)" + String(format: " (%.1f%%)", Double(columns) / Double(max(seen.features, 1)) * 100)
        } else {
            outliers = "outlier cols: " + (state.activationsUnavailable == nil && state.isAnalysing ? "calibrating…" : "no activations")
        }
        // The outlier columns are what the threshold is about: they come before the value count.
        let parts = [String(format: "max \(source.symbol) %.4g", source.largest), outliers,
                     String(format: "\(source.symbol) ≥ %.2f: ", state.threshold) + (exact ? "" : "≈") + "\(above)"
                        + String(format: " (%.4f%%)", fraction * 100)]
        frame.put(Format.parts(parts, width: rect.width, separator: " · ", glyphs: glyphs), x: rect.x, y: rect.y,
                  role: above > 0 ? .warn : .dim, limit: rect.width)
    }
}
