import Foundation
import XCTest
import QuantKit
@testable import qtui

/// A deeper synthetic llama (12 blocks, planted dimensions 7, 61, 62), calibrated: more blocks than an
/// 80×24 panel has rows.
func deepCalibratedState(width: Int, height: Int) throws -> ExplorerState {
    let folder = NSTemporaryDirectory() + "qtui-explorer-deep-\(getpid())"
    if !FileManager.default.fileExists(atPath: folder + "/tokenizer.json") {
        var model = SyntheticModel.calibrationFixture
        model.layers = 12
        try model.write(to: folder)
        let tokenizer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tokenizers/smollm2.tokenizer.json")
        try FileManager.default.copyItem(atPath: tokenizer.path, toPath: folder + "/tokenizer.json")
    }
    let model = OpenedModel(try Checkpoint(path: folder))
    var state = ExplorerState(model: model, threshold: 6, blocksize: 64, width: width, height: height)
    var request = CalibrationRequest(text: CalibrationText.standard, source: "built-in text")
    request.calibration.tokenLimit = 64
    try analyse(&state, model, calibration: request)
    return state
}

/// The outlier features map and the threshold trade-off chart, as text frames at several sizes.
final class OutlierPanelTests: XCTestCase {
    func testMapShowsThePlantedDimensionsAsStripesAtEverySize() throws {
        var state = try deepCalibratedState(width: 80, height: 24)
        XCTAssertEqual(state.panel, .histogram)
        send([.character("f")], to: &state)
        XCTAssertEqual(state.panel, .outlierMap)
        for (width, height) in [(80, 24), (60, 14), (120, 30), (100, 40)] {
            state.width = width
            state.height = height
            for glyphs in [Glyphs.unicode, .ascii] {
                let frame = render(state, glyphs: glyphs)
                let lines = frame.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                for line in lines { XCTAssertLessThanOrEqual(line.count, width) }
                let map = try mapRows(frame, glyphs: glyphs)
                let title = try XCTUnwrap(lines.first { $0.contains("outlier features") }, "\(width)×\(height)")
                XCTAssertTrue(title.contains("outlier features \(glyphs.vertical == "|" ? ">" : "≥")6: 7 61 62"), "\(width)×\(height): \(title)")
                // Every block is shown: row labels cover 0…11, merged into ranges when the rows are fewer.
                XCTAssertEqual(map.labels.first?.hasPrefix("0"), true, "\(width)×\(height)")
                XCTAssertEqual(map.labels.last?.hasSuffix("11"), true, "\(map.labels)")
                XCTAssertEqual(map.labels.count, min(12, map.rowCount))
                if width < 110 && height <= 24 {
                    XCTAssertLessThan(map.rowCount, 12)
                    XCTAssertTrue(map.labels.contains { $0.contains("-") }, "merged blocks show their range: \(map.labels)")
                }
                // Under each marker, every row is at or above the threshold: a vertical stripe.
                XCTAssertGreaterThanOrEqual(map.markers.count, 2)
                for x in map.markers {
                    for y in map.rows { XCTAssertEqual(frame[x, y].role, .alert, "\(width)×\(height) column \(x) row \(y)") }
                }
                // Each row has the three planted outlier columns at 6.
                for y in map.rows { XCTAssertTrue(lines[y].contains("    3 "), lines[y]) }
                if glyphs.vertical == "|" { XCTAssertTrue(frame.text.allSatisfy(\.isASCII)) }
            }
        }
    }

    func testMapMarksTheSelectedBlockAndRedrawsWithTheThreshold() throws {
        var state = try deepCalibratedState(width: 80, height: 24)
        send([.character("f")], to: &state)
        var frame = render(state)
        var map = try mapRows(frame, glyphs: .unicode)
        XCTAssertEqual(frame.line(map.rows[0]).dropFirst().first, "▶", "block 0's layer is selected")
        // Block 11's q_proj (seven Linears a block) is in the last row.
        send(Array(repeating: .down, count: 77), to: &state)
        XCTAssertEqual(state.selectedLayer?.name, "model.layers.11.self_attn.q_proj")
        frame = render(state)
        map = try mapRows(frame, glyphs: .unicode)
        XCTAssertEqual(frame.line(map.rows.last!).dropFirst().first, "▶")
        XCTAssertEqual(frame[1, map.rows.last!].role, .selected)
        XCTAssertFalse(frame.line(map.rows[0]).contains("▶"))

        // A threshold above every value: no stripes, no outlier columns; off the counted grid the features
        // are those at the grid point below, marked ≈.
        send([.character("t")] + typing("90") + [.enter], to: &state)
        frame = render(state)
        map = try mapRows(frame, glyphs: .unicode)
        XCTAssertTrue(map.rows.allSatisfy { y in (0..<80).allSatisfy { frame[$0, y].role != .alert } })
        XCTAssertTrue(map.rows.allSatisfy { frame.line($0).contains("    0") })
        XCTAssertTrue(frame.text.contains("≈≥20"), frame.text)
        // A low one: many more columns reach it, and more features qualify.
        send([.character("t")] + typing("1") + [.enter], to: &state)
        frame = render(state)
        let counts = try mapRows(frame, glyphs: .unicode).rows.map { y in
            Int(frame.line(y).split(separator: " ").dropLast().last.map(String.init) ?? "") ?? -1
        }
        XCTAssertTrue(counts.allSatisfy { $0 > 3 }, "\(counts)")
        XCTAssertEqual(state.outlierFeatures(at: 1)?.threshold, 1)
        XCTAssertGreaterThan(state.outlierFeatures(at: 1)?.features.count ?? 0, 3)
    }

    func testTradeoffChartAppearsWithPerplexityAndMarksThresholdAndSuggestion() throws {
        var state = try deepCalibratedState(width: 80, height: 24)
        // Before perplexity, f skips the chart.
        send([.character("f"), .character("f")], to: &state)
        XCTAssertEqual(state.panel, .histogram)
        let runtime = try ModelRuntime(checkpoint: try Checkpoint(path: NSTemporaryDirectory() + "qtui-explorer-deep-\(getpid())"))
        let report = try PerplexityReport.measure(runtime, tokens: Array(1...20), threshold: 6, blocksize: 64, fullCurve: true)
        _ = reduce(&state, .analysis(.perplexity(report, threshold: 6)))
        XCTAssertEqual(state.panel, .tradeoff)
        for (width, height) in [(80, 24), (60, 14), (120, 30)] {
            state.width = width
            state.height = height
            for glyphs in [Glyphs.unicode, .ascii] {
                let frame = render(state, glyphs: glyphs)
                let lines = frame.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                for line in lines { XCTAssertLessThanOrEqual(line.count, width) }
                let dot = glyphs.vertical == "|" ? "." : "·"
                let suggestion = report.suggestedThreshold.map { String(format: "trade-off \(dot) suggested %g", $0) }
                    ?? "trade-off \(dot) no threshold within tolerance"
                XCTAssertTrue(lines.contains { $0.contains(suggestion) }, "\(width)×\(height): the suggestion shows at every size")
                let axis = try XCTUnwrap(lines.lastIndex { $0.contains(" 0 ") && $0.contains(" 6 ") }, "\(width)×\(height)\n\(frame.text)")
                let six = try XCTUnwrap(lines[axis].range(of: " 6 ")).lowerBound.utf16Offset(in: lines[axis]) + 1
                XCTAssertEqual(frame[six, axis].role, .selected, "the current threshold's label")
                if let suggested = report.suggestedThreshold, suggested != 6 {
                    let label = " \(String(format: "%g", suggested))"
                    if let range = lines[axis].range(of: label) {
                        XCTAssertEqual(frame[range.lowerBound.utf16Offset(in: lines[axis]) + 1, axis].role, .good)
                    }
                }
                XCTAssertFalse(markerColumns(frame).isEmpty, "the threshold's column is marked")
                if glyphs.vertical == "|" { XCTAssertTrue(frame.text.allSatisfy(\.isASCII)) }
            }
        }
        // The marker follows the threshold between grid points at once.
        state.width = 80
        state.height = 24
        let before = markerColumns(render(state))
        send([.right], to: &state)
        XCTAssertEqual(state.threshold, 6.5)
        let after = markerColumns(render(state))
        XCTAssertFalse(before.isEmpty)
        XCTAssertGreaterThan(after.min() ?? 0, before.max() ?? 0)
        // f cycles on to the histogram, the map, and back to the chart.
        send([.character("f")], to: &state)
        XCTAssertEqual(state.panel, .histogram)
        send([.character("f"), .character("f")], to: &state)
        XCTAssertEqual(state.panel, .tradeoff)
    }

    func testMapOfAWeightOnlyModelSaysWhy() throws {
        var state = try openedState()
        send([.character("f")], to: &state)
        XCTAssertEqual(state.panel, .outlierMap)
        XCTAssertTrue(render(state).text.contains("outlier features · no activations: they need a model qtui can run"), render(state).text)
    }

    /// The map's rows (screen lines between its title and its axis), their labels and the ▲ columns.
    private func mapRows(_ frame: Frame, glyphs: Glyphs) throws -> (rows: [Int], labels: [String], markers: [Int], rowCount: Int) {
        let lines = frame.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let title = try XCTUnwrap(lines.firstIndex { $0.contains("outlier features") })
        let marker: Character = glyphs.vertical == "|" ? "^" : "▲"
        let axis = try XCTUnwrap(lines.indices.first { $0 > title && lines[$0].contains(marker) || ($0 > title && lines[$0].contains("cols≥") || $0 > title && lines[$0].contains("cols>")) })
        let rows = Array((title + 1)..<axis)
        let side = Layout(width: frame.width, height: frame.height).histogram.x
        let label = try NSRegularExpression(pattern: "^ ?[▶>]? *([0-9]+(-[0-9]+)?)")
        let labels = rows.map { y -> String in
            let line = String(lines[y].dropFirst(side))
            guard let match = label.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)),
                  let range = Range(match.range(at: 1), in: line) else { return "" }
            return String(line[range])
        }
        let markers = (0..<frame.width).filter { frame[$0, axis].character == marker }
        return (rows, labels, markers, rows.count)
    }

    private func markerColumns(_ frame: Frame) -> [Int] {
        var columns = Set<Int>()
        for y in 0..<frame.height { for x in 0..<frame.width where frame[x, y].role == .marker { columns.insert(x) } }
        return columns.sorted()
    }
}
