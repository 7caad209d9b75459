import Foundation
import XCTest
import QuantKit
@testable import qtui

/// The explorer on an MoE model (scripts/fixtures/make_moe_fixtures.py's mixtral with 8 experts, one per
/// token, calibrated on 16 tokens so that some experts receive none): `x` lists the routed experts — kept,
/// with their routing and what-if errors — which sort and filter like layers; the panel shows the routing
/// of the selected expert's layer. Routed counts come from transformers' hooks (the manifest).
final class ExplorerExpertTests: XCTestCase {
    private static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/moe")
    private static let folder = fixtures.appendingPathComponent("mixtral-idle-f32").path

    /// transformers' routed-token counts per layer for the calibration tokens.
    private func routed() throws -> [Int: [Int]] {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("manifest.json")))
        let cases = try XCTUnwrap((manifest as? [String: Any])?["cases"] as? [String: Any])
        let entry = try XCTUnwrap(cases["mixtral-idle-f32"] as? [String: Any])
        XCTAssertEqual(entry["calibration_tokens"] as? Int, 16)
        let counts = try XCTUnwrap(entry["calibration_routed_tokens"] as? [String: [Int]])
        return Dictionary(uniqueKeysWithValues: counts.map { (Int($0.key)!, $0.value) })
    }

    private func calibrated(width: Int = 80, height: Int = 24) throws -> ExplorerState {
        let model = OpenedModel(try Checkpoint(path: Self.folder))
        var state = ExplorerState(model: model, threshold: 6, blocksize: 64, width: width, height: height)
        var request = CalibrationRequest(text: CalibrationText.standard, source: "built-in text")
        request.calibration.tokenLimit = 16
        try analyse(&state, model, calibration: request)
        return state
    }

    func testExpertRowsAreVisibleBeforeCalibrationAsKept() throws {
        var state = ExplorerState(model: OpenedModel(try Checkpoint(path: Self.folder)), threshold: 6, blocksize: 64, width: 80, height: 24)
        XCTAssertEqual(state.experts.count, 16)
        send([.character("x")], to: &state)
        XCTAssertEqual(state.table, .experts)
        let lines = render(state).text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[1].contains("tokens") && lines[1].contains("int8 what-if") && lines[1].hasSuffix("plan"), lines[1])
        XCTAssertTrue(lines[2].hasPrefix("▶…s.0.block_sparse_moe.experts.0") && lines[2].hasSuffix("—  kept"), lines[2])
        XCTAssertTrue(render(state).text.contains("kept: " + KeptTensor.Reason.moeExpert.rawValue.prefix(30)), render(state).text)
        XCTAssertTrue(render(state).text.contains("e0 needs calibration"), render(state).text)
    }

    /// The footer names what the keys do in the table shown; a dense model's footer has no `x`.
    func testFooterFollowsTheTable() throws {
        var state = ExplorerState(model: OpenedModel(try Checkpoint(path: Self.folder)), threshold: 6, blocksize: 64, width: 120, height: 24)
        var footer: String { render(state).text.split(separator: "\n").last.map(String.init) ?? "" }
        XCTAssertTrue(footer.contains("↑↓ layer  x experts"), footer)
        send([.character("x"), .down], to: &state)   // the table's note gives way to the hints at the next key
        XCTAssertTrue(footer.contains("↑↓ expert  x layers"), footer)
        XCTAssertFalse(footer.contains("↑↓ layer"), footer)

        let dense = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/runtime/llama-f32").path
        state = ExplorerState(model: OpenedModel(try Checkpoint(path: dense)), threshold: 6, blocksize: 64, width: 120, height: 24)
        XCTAssertTrue(footer.contains("↑↓ layer  m method"), footer)
        XCTAssertFalse(footer.contains("x "), footer)
    }

    func testRoutingCountsAndIdleExpertsAsTransformersRoutedThem() throws {
        let routed = try routed()
        var state = try calibrated()
        send([.character("x")], to: &state)
        for expert in state.experts {
            XCTAssertEqual(expert.routedTokens, routed[expert.block]?[expert.index], expert.name)
            XCTAssertEqual(expert.gateUpInput == nil, expert.routedTokens == 0, expert.name)
            XCTAssertEqual(expert.whatIf == nil, expert.routedTokens == 0, expert.name)
        }
        let idle = try XCTUnwrap(routed[0]?.firstIndex(of: 0))
        send(Array(repeating: .down, count: idle), to: &state)
        let text = render(state).text
        let lines = text.split(separator: "\n").map(String.init)
        let row = try XCTUnwrap(lines.first { $0.hasPrefix("▶") })
        XCTAssertTrue(row.hasSuffix("experts.\(idle)      0 no tokens            —           —  kept"), row)
        XCTAssertTrue(text.contains("─ routing · 16 tokens, top-1 · model.layers.0.block_sparse_moe ─"), text)
        XCTAssertTrue(lines.contains(" e\(idle) no calibration tokens"), text)
        let busiest = routed[0]!.firstIndex(of: routed[0]!.max()!)!
        let share = String(format: "%.1f%%", Double(routed[0]![busiest]) / 16 * 100)
        XCTAssertTrue(lines.contains { $0.hasPrefix(" e\(busiest) █") && $0.hasSuffix(" \(routed[0]![busiest]) \(share)") }, text)
        // An expert that saw tokens: its what-if, labelled as not what bitsandbytes does.
        send([.home], to: &state)
        XCTAssertTrue(render(state).text.contains("what-if (not bitsandbytes): int8@6 "), render(state).text)
    }

    func testSortAndFilterByExpert() throws {
        let routed = try routed()
        var state = try calibrated()
        // The layer table's sort skips the experts' order.
        for _ in 0..<SortKey.allCases.count { send([.character("o")], to: &state) }
        XCTAssertEqual(state.sort, .name, "routed tokens skipped: file → … → size → file → name")
        send([.character("x")], to: &state)
        while state.sort != .routedTokens { send([.character("o")], to: &state) }
        XCTAssertEqual(state.message, "sorted by routed tokens")
        let counts = state.visibleRows.map { state.experts[$0].routedTokens ?? -1 }
        XCTAssertEqual(counts, routed.keys.sorted().flatMap { routed[$0]! }.sorted(by: >))
        send([.character("/")] + typing("experts\\.[123]$") + [.enter], to: &state)
        XCTAssertEqual(state.visibleRows.map { state.experts[$0].name }.sorted(),
                       (0..<2).flatMap { block in (1...3).map { "model.layers.\(block).block_sparse_moe.experts.\($0)" } })
        // Back to the layers: the filter applies to them (none match), the expert order is dropped.
        send([.character("x")], to: &state)
        XCTAssertEqual(state.sort, .file)
        XCTAssertTrue(state.visibleRows.isEmpty)
    }

    func testExpertsCannotBeSkippedAndStayOutOfThePlan() throws {
        var state = try calibrated()
        let plan = state.exportPlan
        let total = state.totalBytes(.int8)
        send([.character("x"), .character("s")], to: &state)
        XCTAssertEqual(state.message, "experts are kept as stored already: bitsandbytes in transformers does not quantize them")
        XCTAssertEqual(state.exportPlan, plan)
        XCTAssertEqual(state.totalBytes(.int8), total)
        var dense = try openedState()
        send([.character("x")], to: &dense)
        XCTAssertEqual(dense.table, .layers)
        XCTAssertEqual(dense.message, "no routed MoE experts in this model")
    }

    /// From the minimum size up, the expert table and the routing panel fit every line.
    func testExpertViewFitsAtEverySize() throws {
        var state = try calibrated()
        send([.character("x"), .down, .down, .down, .down, .down], to: &state)
        for width in stride(from: Layout.minimumWidth, through: 160, by: 7) {
            for height in [Layout.minimumHeight, 18, 24, 30, 40] {
                state.width = width
                state.height = height
                clampSelection(&state)
                let lines = render(state).text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                XCTAssertEqual(lines.count, height)
                for line in lines { XCTAssertLessThanOrEqual(line.count, width, "\(width)×\(height)") }
                XCTAssertTrue(lines.contains { $0.hasPrefix("▶") && $0.contains("  kept") }, "\(width)×\(height)")
                XCTAssertTrue(lines.contains { $0.contains("e5 no calibration tokens") }, "\(width)×\(height)\n" + lines.joined(separator: "\n"))
            }
        }
    }
}
