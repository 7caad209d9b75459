import Foundation
import XCTest
import QuantKit
@testable import qtui

/// The explorer as data: key sequences into the state, frames out as text.
final class ExplorerTests: XCTestCase {
    static let modelFolder: String = {
        let folder = NSTemporaryDirectory() + "qtui-explorer-model-\(getpid())"
        var model = SyntheticModel()
        model.layers = 3
        try! model.write(to: folder)
        return folder
    }()

    /// The state after opening the synthetic model and analysing it synchronously.
    func openedState(width: Int = 80, height: Int = 24) throws -> ExplorerState {
        let checkpoint = try Checkpoint(path: Self.modelFolder)
        let plan = LinearLayerPlan(checkpoint: checkpoint)
        var state = ExplorerState(checkpoint: checkpoint, plan: plan, threshold: 6, blocksize: 64, width: width, height: height)
        let analyzer = WeightAnalyzer(blocksize: 64, threads: 2)
        for (index, layer) in plan.linears.enumerated() {
            state.apply(AnalysisWorker.Event.layer(index: index, report: try analyzer.analyze(layer, in: checkpoint)))
        }
        state.apply(AnalysisWorker.Event.finished(blocksize: 64, cancelled: false))
        return state
    }

    @discardableResult
    func send(_ keys: [Key], to state: inout ExplorerState) -> Reaction {
        var last = Reaction.none
        for key in keys {
            if let action = KeyMap.action(for: key, in: state) { last = reduce(&state, action) }
        }
        return last
    }

    func typing(_ text: String) -> [Key] { text.map { Key.character($0) } }

    func testOpensAt80x24WithEveryPanelIntact() throws {
        let state = try openedState()
        let frame = render(state)
        let lines = frame.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.count, 24)
        XCTAssertTrue(lines[0].contains("qtui-explorer-model") && lines[0].hasSuffix("◀ 6.00 ▶"), lines[0])
        XCTAssertTrue(lines[1].contains("Layer 1/21") && lines[1].hasSuffix("plan"), lines[1])
        XCTAssertTrue(lines[2].hasPrefix("▶model.layers.0.self_attn.q_proj") && lines[2].hasSuffix("int8"), lines[2])
        XCTAssertTrue(lines.contains { $0.contains("|w| weights") })
        XCTAssertTrue(lines[21].contains("fp16") && lines[21].contains("plan int8 ▶"), lines[21])
        XCTAssertTrue(lines[22].contains("weight error int8"), lines[22])
        XCTAssertTrue(lines[23].contains("q quit") || lines[23].contains("filter"), lines[23])
        for line in lines { XCTAssertLessThanOrEqual(line.count, 80) }
        // The table's selected row is highlighted over its whole width.
        XCTAssertEqual(frame[79, 2].role, .selected)
    }

    func testThresholdKeysUpdateEverythingThatDependsOnIt() throws {
        var state = try openedState()
        send([.right], to: &state)
        XCTAssertEqual(state.threshold, 6.5)
        send([.shiftLeft, .character("H")], to: &state)
        XCTAssertEqual(state.threshold, 6.3, accuracy: 1e-6)
        XCTAssertTrue(render(state).line(0).hasSuffix("◀ 6.30 ▶"))
        XCTAssertTrue(render(state).cells.contains { $0.character == "┆" }, "the threshold column is marked")
        // Typed exactly; a threshold inside the weights' range marks bins and counts values.
        send([.character("t")] + typing("0.05") + [.enter], to: &state)
        XCTAssertEqual(state.threshold, 0.05)
        let frame = render(state)
        let summary = frame.text.split(separator: "\n").first { $0.contains("|w| ≥ 0.05") }
        XCTAssertNotNil(summary)
        XCTAssertFalse(summary!.contains(": 0 ("), "values above 0.05 are counted")
        XCTAssertTrue(frame.cells.contains { $0.role == .alert }, "bins above the threshold are in the alert colour")
        // Out of range is refused with a message.
        send([.character("t")] + typing("500") + [.enter], to: &state)
        XCTAssertEqual(state.threshold, 0.05)
        XCTAssertTrue(render(state).line(23).contains("threshold must be"))
    }

    func testSkipUpdatesTotalsAndPlanColumn() throws {
        var state = try openedState()
        let before = state.planBytes
        let layer = try XCTUnwrap(state.selectedLayer)
        send([.character("s")], to: &state)
        XCTAssertTrue(state.skipped.contains(layer.name))
        XCTAssertEqual(state.planBytes - before, layer.storedBytes - state.bytes(of: layer, in: .int8))
        XCTAssertTrue(render(state).line(2).hasSuffix("skip"))
        XCTAssertLessThan(state.combinedError(.int8, honourSkips: true)!, state.combinedError(.int8)!)
        send([.character(" ")], to: &state)
        XCTAssertEqual(state.planBytes, before)
    }

    func testFilterHidesRowsWithTextOrRegex() throws {
        var state = try openedState()
        send([.character("/")] + typing("MLP") + [.enter], to: &state)
        XCTAssertEqual(state.visibleRows.count, 9)
        XCTAssertTrue(state.visibleRows.allSatisfy { state.layers[$0].name.contains("mlp") })
        send([.character("/"), .backspace, .backspace, .backspace] + typing("layers\\.2\\..*proj") + [.enter], to: &state)
        XCTAssertEqual(state.visibleRows.count, 7)
        send([.character("/")] + typing("zzz") + [.enter], to: &state)
        XCTAssertTrue(render(state).text.contains("no layer matches"))
    }

    func testMethodDoubleQuantAndBlocksize() throws {
        var state = try openedState()
        let int8Bytes = state.planBytes
        send([.character("m")], to: &state)
        XCTAssertEqual(state.method, .nf4)
        XCTAssertTrue(render(state).line(2).hasSuffix("nf4"))
        XCTAssertLessThan(state.planBytes, int8Bytes)
        send([.character("d")], to: &state)
        let frame = render(state)
        XCTAssertTrue(frame.line(1).contains("nf4+dq err"))
        XCTAssertTrue(frame.line(21).contains("plan nf4+dq"))
        XCTAssertEqual(state.planBytes, state.totalBytes(.nf4DoubleQuant))
        let bytesAt64 = state.totalBytes(.nf4)
        XCTAssertEqual(send([.character("b")], to: &state), .reanalyse)
        XCTAssertEqual(state.blocksize, 128)
        XCTAssertLessThan(state.totalBytes(.nf4), bytesAt64, "fewer absmax values at blocksize 128")
    }

    func testSortingMovingAndMouse() throws {
        var state = try openedState()
        send([.character("o")], to: &state)
        XCTAssertEqual(state.sort, .name)
        XCTAssertEqual(state.selectedLayer?.name, "model.layers.0.mlp.down_proj")
        send([.end], to: &state)
        XCTAssertEqual(state.selection, 20)
        XCTAssertGreaterThan(state.scroll, 0, "the selection stays visible")
        send([.home, .pageDown], to: &state)
        XCTAssertEqual(state.selection, 10)
        send([.click(x: 10, y: 4)], to: &state)
        XCTAssertEqual(state.selection, state.scroll + 2, "row 4 is the third table row")
        let clicked = state.selection
        send([.wheel(1)], to: &state)
        XCTAssertEqual(state.selection, clicked + 3)
    }

    func testHelpOverlayAndQuit() throws {
        var state = try openedState()
        send([.character("?")], to: &state)
        XCTAssertTrue(render(state).text.contains("qtui explorer — keys"))
        send([.character("x")], to: &state)
        XCTAssertEqual(state.overlay, .none)
        XCTAssertEqual(send([.character("q")], to: &state), .quit)
        XCTAssertEqual(send([.interrupt], to: &state), .quit)
    }

    func testResizeRelaysTheScreen() throws {
        var state = try openedState()
        send([.resize(width: 140, height: 40)], to: &state)
        let wide = render(state)
        XCTAssertEqual(wide.width, 140)
        let layout = Layout(width: 140, height: 40)
        XCTAssertTrue(layout.histogramBeside)
        XCTAssertEqual(wide[layout.table.maxX, 5].character, "│", wide.text)
        XCTAssertTrue(wide.line(1).contains("|w| weights"), "the histogram title sits beside the table header")
        send([.resize(width: 40, height: 10)], to: &state)
        XCTAssertTrue(render(state).text.contains("terminal too small"))
    }

    func testASCIIFallbackDrawsOnlyASCII() throws {
        var state = try openedState()
        state.overlay = .help
        let frame = render(state, glyphs: .ascii)
        XCTAssertTrue(frame.cells.allSatisfy { $0.character.isASCII }, frame.text)
        XCTAssertTrue(frame.text.contains("+---"), frame.text)
        let unicode = render(state).text
        XCTAssertTrue(unicode.contains("┌─") && unicode.contains("┘"), "boxes have line-drawing corners:\n\(unicode)")
    }

    func testBackgroundEventsAndCancellation() throws {
        let checkpoint = try Checkpoint(path: Self.modelFolder)
        let plan = LinearLayerPlan(checkpoint: checkpoint)
        var state = ExplorerState(checkpoint: checkpoint, plan: plan, threshold: 6, blocksize: 64, width: 80, height: 24)
        XCTAssertTrue(render(state).line(2).contains("…"), "rows show … until analysed")
        state.apply(AnalysisWorker.Event.progress(WorkProgress(title: "analysing weights", done: 5, total: 10, unit: "param", rate: 1e6, secondsLeft: 3)))
        XCTAssertTrue(render(state).line(22).contains("50%"))
        XCTAssertEqual(send([.escape], to: &state), .cancelWork)
        state.apply(AnalysisWorker.Event.finished(blocksize: 64, cancelled: true))
        XCTAssertNil(state.progress)
        XCTAssertTrue(render(state).line(23).contains("cancelled"))
    }

    func testExportDialogFlow() throws {
        var state = try openedState()
        send([.character("m"), .character("d"), .character("s")], to: &state)
        XCTAssertEqual(send([.character("e")], to: &state), .prepareExport)
        let plan = state.exportPlan
        XCTAssertEqual(plan.method, .nf4)
        XCTAssertTrue(plan.doubleQuant)
        XCTAssertEqual(plan.skipModules, ["model.layers.0.self_attn.q_proj"])
        XCTAssertTrue(ExplorerApp.freePath(for: try Checkpoint(path: Self.modelFolder), plan: plan).hasSuffix("-nf4-dq"))
        // What the app does on .prepareExport, then the user edits the path and confirms.
        state.overlay = .export(ExportDialog(path: "/tmp/out", predictedBytes: 3_000_000, files: 1, converted: 20))
        XCTAssertTrue(render(state).text.contains("3.0 MB of weights in 1 file (exact)"))
        send([.backspace, .backspace, .backspace] + typing("x1"), to: &state)
        guard case .export(let editing) = state.overlay else { return XCTFail("dialog closed") }
        XCTAssertEqual(editing.path, "/tmp/x1")
        XCTAssertEqual(send([.enter], to: &state), .startExport)
        XCTAssertEqual(send([.character("q")], to: &state), .none, "keys other than Esc wait while writing")
        state.apply(ExportWorker.Event.finished("wrote /tmp/x1: 3.0 MB in 2 files, verified"))
        XCTAssertTrue(render(state).text.contains("wrote /tmp/x1"))
        send([.character("x")], to: &state)
        XCTAssertEqual(state.overlay, .none)
    }

    /// The synthetic llama (outlier dimensions 7, 61, 62) with a BPE tokenizer, calibrated and measured
    /// synchronously, as the background worker would.
    func calibratedState() throws -> ExplorerState {
        let folder = NSTemporaryDirectory() + "qtui-explorer-calibrated-\(getpid())"
        if !FileManager.default.fileExists(atPath: folder + "/tokenizer.json") {
            try SyntheticModel.calibrationFixture.write(to: folder)
            let tokenizer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fixtures/tokenizers/smollm2.tokenizer.json")
            try FileManager.default.copyItem(atPath: tokenizer.path, toPath: folder + "/tokenizer.json")
        }
        let checkpoint = try Checkpoint(path: folder)
        let plan = LinearLayerPlan(checkpoint: checkpoint)
        var state = ExplorerState(checkpoint: checkpoint, plan: plan, threshold: 6, blocksize: 64, width: 100, height: 30)
        let analyzer = WeightAnalyzer(blocksize: 64, threads: 2)
        for (index, layer) in plan.linears.enumerated() {
            state.apply(AnalysisWorker.Event.layer(index: index, report: try analyzer.analyze(layer, in: checkpoint)))
        }
        state.apply(AnalysisWorker.Event.finished(blocksize: 64, cancelled: false))
        let calibration = Calibration(tokenLimit: 128)
        let tokens = try calibration.tokens(of: CalibrationText.standard, tokenizer: try Calibration.tokenizer(for: checkpoint))
        let statistics = try calibration.run(try ModelRuntime(checkpoint: checkpoint), tokens: tokens)
        state.apply(AnalysisWorker.Event.calibrated(tokens: tokens.count, statistics: statistics))
        for (index, layer) in plan.linears.enumerated() {
            let seen = try XCTUnwrap(statistics[layer.name])
            state.apply(AnalysisWorker.Event.outputErrors(index: index, errors: ActivationErrors.measure(
                layer, in: checkpoint, sample: seen.sample, rows: seen.sampleRows)))
        }
        return state
    }

    func testActivationsDriveOutlierColumnsErrorsAndHistogram() throws {
        var state = try calibratedState()
        XCTAssertTrue(state.hasActivations)
        var frame = render(state)
        let query = try XCTUnwrap(frame.text.split(separator: "\n").first { $0.contains("layers.0.self_attn.q_proj") })
        XCTAssertTrue(query.contains("3 4.7%"), String(query))
        XCTAssertTrue(frame.text.contains("|x| activations · 128 tokens"))
        XCTAssertTrue(frame.text.contains("output error int8@t"))
        XCTAssertTrue(frame.text.contains("outlier cols 3 (4.7%)"))
        // Above every planted value no column is an outlier; int8 then equals pure int8.
        send([.character("t")] + typing("100") + [.enter], to: &state)
        let layer = try XCTUnwrap(state.selectedLayer)
        XCTAssertEqual(layer.activations?.outlierColumns(atLeast: 100), 0)
        frame = render(state)
        XCTAssertTrue(try XCTUnwrap(frame.text.split(separator: "\n").first { $0.contains("layers.0.self_attn.q_proj") }).contains("0 0.0%"))
        // Between grid points the int8 error is marked approximate.
        send([.character("t")] + typing("6.3") + [.enter], to: &state)
        XCTAssertTrue(render(state).line(2).contains("≈"), render(state).line(2))
        XCTAssertFalse(layer.int8Error(at: 6.3)!.exact)
        XCTAssertTrue(layer.int8Error(at: 6)!.exact)
        // The background refinement makes it exact, and agrees with the grid where they meet.
        let index = state.layers.firstIndex { $0.name == layer.name }!
        let checkpoint = try Checkpoint(path: NSTemporaryDirectory() + "qtui-explorer-calibrated-\(getpid())")
        let linear = LinearLayerPlan(checkpoint: checkpoint).linears[index]
        let seen = try XCTUnwrap(layer.activations)
        let exact = ActivationErrors.int8Error(linear, in: checkpoint, sample: seen.sample, rows: seen.sampleRows, threshold: 6.3)
        state.apply(RefineWorker.Event.refined(index: index, threshold: 6.3, value: exact))
        XCTAssertEqual(state.layers[index].int8Error(at: 6.3)?.exact, true)
        XCTAssertEqual(ActivationErrors.int8Error(linear, in: checkpoint, sample: seen.sample, rows: seen.sampleRows, threshold: 6),
                       layer.outputErrors!.int8Error(at: 6).value, accuracy: 1e-12)
        // tab shows the weights instead.
        send([.tab], to: &state)
        XCTAssertTrue(render(state).text.contains("|w| weights"))
        // Sorting by outliers puts the layers with the planted dimensions first.
        send([.tab, .character("t")] + typing("6") + [.enter, .character("o"), .character("o")], to: &state)
        XCTAssertEqual(state.sort, .outliers)
        XCTAssertGreaterThanOrEqual(state.selectedLayer?.activations?.outlierColumns(atLeast: 6) ?? 0, 3)
    }

    func testPerplexityIsRequestedAndShown() throws {
        var state = try calibratedState()
        XCTAssertEqual(send([.character("p")], to: &state), .startPerplexity)
        let runtime = try ModelRuntime(checkpoint: try Checkpoint(path: NSTemporaryDirectory() + "qtui-explorer-calibrated-\(getpid())"))
        let tokens = Array(1...40)
        let report = try PerplexityReport.measure(runtime, tokens: tokens, threshold: 6, blocksize: 64)
        state.apply(PerplexityWorker.Event.finished(report, threshold: 6))
        let quality = render(state).line(28)
        XCTAssertTrue(quality.contains("perplexity fp32"), quality)
        let suggested = try XCTUnwrap(report.suggestedThreshold, "the 40 tokens keep KL below ln 1.01 somewhere")
        let divergence = try XCTUnwrap(report.int8Curve.first { $0.threshold == suggested }?.klDivergence)
        XCTAssertLessThanOrEqual(divergence, log(1.01))
        XCTAssertTrue(quality.contains(String(format: "suggested threshold %g (KL %.3g, ", suggested, divergence)), "second, so it fits: \(quality)")
        XCTAssertEqual(QualityView.perplexityParts((report, 6), state: state)[2],
                       String(format: "int8@6 %.2f KL %.3g", report.int8, report.klDivergence.int8))
        XCTAssertEqual(report.int8Curve.count, PerplexityReport.searchGrid.count)
        XCTAssertGreaterThan(report.fp32, 1)
    }
}
