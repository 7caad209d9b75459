import Foundation
import XCTest
import QuantKit
@testable import qtui

/// The explorer as data: key sequences into the state, frames out as text.
final class ExplorerTests: XCTestCase {
    func testOpensAt80x24WithEveryPanelIntact() throws {
        let state = try openedState()
        let frame = render(state)
        let lines = frame.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.count, 24)
        XCTAssertTrue(lines[0].contains("qtui-explorer-model") && lines[0].hasSuffix("◀ 6.00 ▶"), lines[0])
        XCTAssertTrue(lines[1].contains("Layer 1/21") && lines[1].hasSuffix("plan"), lines[1])
        XCTAssertTrue(lines[2].hasPrefix("▶model.layers.0.self_attn.q_proj") && lines[2].hasSuffix("int8"), lines[2])
        XCTAssertTrue(lines.contains { $0.contains("|w| weights") && $0.contains("· log · model.layers.0.self_attn.q_proj") }, frame.text)
        XCTAssertTrue(lines[21].contains("memory  F16") && lines[21].contains("plan int8 ▶") && lines[21].hasSuffix("% of F16)"), lines[21])
        XCTAssertTrue(lines[22].contains("weight error int8"), lines[22])
        XCTAssertTrue(lines[23].hasPrefix(" ←→ threshold  ↑↓ layer") && lines[23].hasSuffix("? help  q quit"), lines[23])
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
        XCTAssertTrue(render(state).line(23).contains("\"500\" is not a threshold"))
        // Anything but a number is refused the same way, not read digit by digit.
        send([.character("t")] + typing("1e1x") + [.enter], to: &state)
        XCTAssertEqual(state.threshold, 0.05)
        XCTAssertTrue(render(state).line(23).contains("\"1e1x\" is not a threshold: type a number from 0 to 100"), render(state).line(23))
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
        XCTAssertEqual(send([.character("b")], to: &state), [.analyse(blocksize: 128, reuseCalibration: false)])
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
        XCTAssertEqual(send([.character("q")], to: &state), [.exit(.quit)])
        XCTAssertEqual(send([.interrupt], to: &state), [.exit(.interrupted)])
    }

    func testResizeRelaysTheScreen() throws {
        var state = try openedState()
        send([.resize(width: 140, height: 40)], to: &state)
        let wide = render(state)
        XCTAssertEqual(wide.width, 140)
        let layout = Layout(width: 140, height: 40)
        XCTAssertTrue(layout.histogramBeside)
        XCTAssertEqual(wide[layout.table.maxX, 5].character, "│", wide.text)
        XCTAssertTrue(wide.line(1).contains("|w| · log · ") && wide.line(1).contains("layers.0.self_attn.q_proj"),
                      "the histogram title sits beside the table header, the layer's name before the wording: \(wide.line(1))")
        send([.resize(width: 40, height: 10)], to: &state)
        let small = render(state).text
        XCTAssertTrue(small.contains("terminal too small") && small.contains("(40×10)") && small.contains("needs 60×14"), small)
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
        let model = OpenedModel(try Checkpoint(path: explorerModelFolder))
        var state = ExplorerState(model: model, threshold: 6, blocksize: 64, width: 80, height: 24)
        XCTAssertEqual(startAnalysis(&state), [.analyse(blocksize: 64, reuseCalibration: false)])
        XCTAssertTrue(render(state).line(2).contains("…"), "rows show … until analysed")
        XCTAssertTrue(render(state).line(22).contains("starting…"), "no rate or ETA before there is one: \(render(state).line(22))")
        _ = reduce(&state, .progress(.analysis, WorkProgress(title: "analysing weights", done: 5, total: 10, unit: "param", rate: 1e6,
                                                           secondsLeft: 3)))
        XCTAssertTrue(render(state).line(22).contains("50%"))
        XCTAssertEqual(send([.escape], to: &state), [.cancel(.analysis)])
        _ = reduce(&state, .ended(.analysis, .cancelled))
        XCTAssertNil(state.running[.analysis])
        XCTAssertTrue(render(state).line(23).contains("analysis cancelled: 21 layers have no weight numbers"), render(state).line(23))
        XCTAssertTrue(render(state).line(2).contains("—"), "a cancelled value is not pending: \(render(state).line(2))")
    }

    /// Falcon: transformers converts none of its Linears, so there is nothing to analyse and the export
    /// (the model with its quantization_config) can start at once.
    func testModelWithoutConvertedLayersCanExportAtOnce() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/archs/falcon-new-f32").path
        var state = ExplorerState(model: OpenedModel(try Checkpoint(path: folder)), threshold: 6, blocksize: 64, width: 80, height: 24)
        XCTAssertTrue(state.layers.isEmpty)
        XCTAssertEqual(send([.character("e")], to: &state), [.planExport(state.exportPlan)])
    }

    /// Mixtral: the memory line says how much of the model is experts bitsandbytes leaves unquantized
    /// (46% of the tiny fixture), and the plan totals count them as kept.
    func testMoEMemoryLineShowsTheExpertsKept() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/moe/mixtral-f32").path
        let state = ExplorerState(model: OpenedModel(try Checkpoint(path: folder)), threshold: 6, blocksize: 64, width: 80, height: 24)
        let line = render(state).line(21)
        XCTAssertTrue(line.hasPrefix(" memory  F32 429.3 kB · 46% experts kept"), line)
        XCTAssertGreaterThan(state.totalBytes(.nf4), state.sizes.moeKeptBytes)
    }

    func testExportDialogFlow() throws {
        var state = try openedState()
        send([.character("m"), .character("d"), .character("s")], to: &state)
        let plan = state.exportPlan
        XCTAssertEqual(send([.character("e")], to: &state), [.planExport(plan)])
        XCTAssertEqual(plan.method, .nf4)
        XCTAssertTrue(plan.doubleQuant)
        XCTAssertEqual(plan.skipModules, ["model.layers.0.self_attn.q_proj"])
        XCTAssertTrue(ExportDestination.freePath(for: OpenedModel(try Checkpoint(path: explorerModelFolder)), plan: plan).hasSuffix("-nf4-dq"))
        // What the loop answers to .planExport, then the user edits the path and confirms.
        _ = reduce(&state, .exportPlanned(ExportDialog(path: TextPrompt(.exportPath, text: "/tmp/out"), fileBytes: 3_000_500,
                                                       tensorBytes: 3_000_000, weightFiles: 1, converted: 20)))
        XCTAssertTrue(render(state).text.contains("3.0 MB of tensors, as planned (exact)"))
        XCTAssertTrue(render(state).text.contains("1 weights file + config.json and the small files beside it"))
        send([.backspace, .backspace, .backspace] + typing("x1"), to: &state)
        guard case .export(let editing) = state.overlay else { return XCTFail("dialog closed") }
        XCTAssertEqual(editing.path.text, "/tmp/x1")
        XCTAssertEqual(send([.enter], to: &state), [.export(path: "/tmp/x1")])
        XCTAssertEqual(send([.character("q")], to: &state), [], "keys other than Esc wait while writing")
        XCTAssertEqual(send([.escape], to: &state), [.cancel(.export)])
        _ = reduce(&state, .exported("wrote /tmp/x1: 3.0 MB in 2 files, verified"))
        _ = reduce(&state, .ended(.export, .completed))
        XCTAssertTrue(render(state).text.contains("wrote /tmp/x1"))
        send([.character("x")], to: &state)
        XCTAssertEqual(state.overlay, .none)
    }

    /// A model transformers converts nothing of (Falcon's FalconLinear) says so on `p`, not "once calibration is done".
    func testPerplexityOnAModelWithNothingToConvertSaysWhy() throws {
        var state = try openedState()
        state.layers = []
        XCTAssertEqual(reduce(&state, .measurePerplexity), [])
        XCTAssertEqual(state.message, "nothing to measure: transformers + bitsandbytes convert none of this model's Linears")
    }

    func testPromptsEditLikeReadline() throws {
        var state = try openedState()
        _ = reduce(&state, .exportPlanned(ExportDialog(path: TextPrompt(.exportPath, text: "/tmp/some/long/default"), fileBytes: 1,
                                                       tensorBytes: 1, weightFiles: 1, converted: 1)))
        func path() -> String {
            guard case .export(let dialog) = state.overlay else { return "closed" }
            return dialog.path.text
        }
        send([.control("w")], to: &state)
        XCTAssertEqual(path(), "", "one word: the path has no blanks")
        send(typing("/a/b c"), to: &state)
        send([.control("w")], to: &state)
        XCTAssertEqual(path(), "/a/b ")
        send([.control("a")] + typing("x") + [.end] + typing("y"), to: &state)
        XCTAssertEqual(path(), "x/a/b y")
        send([.left, .left, .control("k")], to: &state)
        XCTAssertEqual(path(), "x/a/b")
        send([.home, .right, .control("u")], to: &state)
        XCTAssertEqual(path(), "/a/b")
        send([.home, .delete, .control("e"), .backspace], to: &state)
        XCTAssertEqual(path(), "a/")
        send([.control("x"), .control("g")], to: &state)
        XCTAssertEqual(path(), "a/", "control keys without an edit insert nothing")
        // Tab completes from the file system: a unique folder gets its slash.
        let folder = NSTemporaryDirectory() + "qtui-completion-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder + "/models-one", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        send([.control("u")] + typing(folder + "/mod"), to: &state)
        XCTAssertEqual(send([.tab], to: &state), [.completePath(folder + "/mod")])
        XCTAssertEqual(PathCompletion.complete(folder + "/mod"), folder + "/models-one/")
        try FileManager.default.createDirectory(atPath: folder + "/models-two", withIntermediateDirectories: true)
        XCTAssertEqual(PathCompletion.complete(folder + "/mod"), folder + "/models-", "two matches: their common part")
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
        _ = reduce(&state, .analysis(.int8Refined(index: index, threshold: 6.3, value: exact)))
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
        XCTAssertEqual(send([.character("p")], to: &state), [.measurePerplexity(threshold: 6, blocksize: 64, skipModules: [])])
        let runtime = try ModelRuntime(checkpoint: try Checkpoint(path: NSTemporaryDirectory() + "qtui-explorer-calibrated-\(getpid())"))
        let tokens = Array(1...40)
        let report = try PerplexityReport.measure(runtime, tokens: tokens, threshold: 6, blocksize: 64, fullCurve: true)
        _ = reduce(&state, .analysis(.perplexity(report, threshold: 6)))
        _ = reduce(&state, .ended(.perplexity, .completed))
        let quality = render(state).line(28)
        XCTAssertTrue(quality.contains("perplexity fp32"), quality)
        let suggested = try XCTUnwrap(report.suggestedThreshold, "the 40 tokens keep KL below ln 1.01 somewhere")
        let divergence = try XCTUnwrap(report.int8Curve.first { $0.threshold == suggested }?.klDivergence)
        XCTAssertLessThanOrEqual(divergence, log(1.01))
        XCTAssertTrue(quality.contains(String(format: "suggested threshold %g (KL %.3g, ", suggested, divergence)), "second, so it fits: \(quality)")
        let measured = try XCTUnwrap(state.perplexity)
        XCTAssertEqual(QualityView.perplexityParts(measured, state: state)[2],
                       String(format: "int8@6 %.2f KL %.3g", report.int8, report.klDivergence.int8))
        // Moved to another grid threshold, int8 is read off the measured curve, not left at 6.
        send([.right, .right, .right, .right], to: &state)
        let point = try XCTUnwrap(report.int8Curve.first { $0.threshold == 8 })
        XCTAssertEqual(QualityView.perplexityParts(measured, state: state)[2],
                       String(format: "int8@8 %.2f KL %.3g", point.perplexity, point.klDivergence))
        // A skip since the measurement marks the numbers stale.
        send([.character("s")], to: &state)
        XCTAssertTrue(QualityView.perplexityParts(measured, state: state)[0].hasPrefix("stale"))
        XCTAssertEqual(report.int8Curve.count, PerplexityReport.searchGrid.count)
        XCTAssertGreaterThan(report.fp32, 1)
    }
}

/// What the screen shows at every size: nothing cut without an ellipsis, nothing mixed or stale.
final class ExplorerScreenTests: XCTestCase {
    func testColumnHeadersStaySeparateForEveryMethod() throws {
        var state = try openedState(width: 120, height: 36)
        for width in [80, 100, 120] {
            state.width = width
            for keys in [[Key](), [.character("m")], [.character("d")], [.character("m")], [.character("d")]] {
                send(keys, to: &state)
                let header = render(state).line(1)
                XCTAssertTrue(header.contains("int8 err ") && header.contains(" \(state.fourBitMethod.rawValue) err"),
                              "\(width) columns: \(header)")
            }
        }
    }

    /// From the minimum size up, every line fits, and a line that could not show all of its text ends
    /// in an ellipsis (the help box says how many lines it could not show).
    func testEveryPanelFitsOrElidesVisiblyAtEverySize() throws {
        var state = try calibratedState()
        let report = try PerplexityReport.measure(try ModelRuntime(checkpoint: try Checkpoint(
            path: NSTemporaryDirectory() + "qtui-explorer-calibrated-\(getpid())")), tokens: Array(1...20), threshold: 6, blocksize: 64)
        _ = reduce(&state, .analysis(.perplexity(report, threshold: 6)))
        let perplexityParts = QualityView.perplexityParts(try XCTUnwrap(state.perplexity), state: state)
        for width in stride(from: Layout.minimumWidth, through: 160, by: 7) {
            for height in [Layout.minimumHeight, 18, 24, 30, 40] {
                state.width = width
                state.height = height
                state.overlay = .none
                var frame = render(state)
                let lines = frame.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                XCTAssertEqual(lines.count, height)
                for line in lines { XCTAssertLessThanOrEqual(line.count, width) }
                // The quality line shows every part when they fit, else ends in an ellipsis.
                let quality = lines[height - 2]
                if (" " + perplexityParts.joined(separator: " │ ")).count <= width - 1 {
                    XCTAssertTrue(perplexityParts.allSatisfy { quality.contains($0) }, "\(width)×\(height): \(quality)")
                } else {
                    XCTAssertTrue(quality.hasSuffix("…"), "\(width)×\(height): \(quality)")
                }
                XCTAssertTrue(lines[0].contains(Format.bytes(state.summary.fileBytes)), "the header keeps its size: \(lines[0])")
                state.overlay = .help
                frame = render(state)
                let shown = frame.text.contains("any key closes this help")
                XCTAssertEqual(shown, HelpOverlay.lines.count + 2 <= height - 2, "\(width)×\(height):\n\(frame.text)")
                XCTAssertEqual(frame.text.contains("more lines: a taller terminal shows them"), !shown, "\(width)×\(height)")
            }
        }
    }

    /// A new blocksize re-measures the 4-bit errors only: int8's stay on screen (they do not depend on it).
    func testBlocksizeChangeKeepsInt8OutputErrors() throws {
        var state = try calibratedState()
        let row = render(state).line(2)
        XCTAssertEqual(send([.character("b")], to: &state), [.analyse(blocksize: 128, reuseCalibration: true)])
        let during = render(state).line(2)
        XCTAssertEqual(during.split(separator: " ").dropLast(2).last, row.split(separator: " ").dropLast(2).last,
                       "int8 column unchanged: \(row) → \(during)")
        XCTAssertTrue(during.contains("…"), "the 4-bit column waits for its new value: \(during)")
    }
}
