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

final class OutlierPanelTests: XCTestCase {
    func testDump() throws {
        var state = try deepCalibratedState(width: 80, height: 24)
        send([.character("f")], to: &state)
        for (w, h) in [(80, 24), (60, 14), (120, 30)] {
            state.width = w; state.height = h
            print(render(state).text)
            print(render(state, glyphs: .ascii).text)
        }
        send([.left, .left, .left], to: &state)
        print(render(state).text)
        let runtime = try ModelRuntime(checkpoint: try Checkpoint(path: NSTemporaryDirectory() + "qtui-explorer-deep-\(getpid())"))
        let report = try PerplexityReport.measure(runtime, tokens: Array(1...20), threshold: 6, blocksize: 64)
        _ = reduce(&state, .analysis(.perplexity(report, threshold: 6)))
        for (w, h) in [(80, 24), (60, 14), (120, 30)] {
            state.width = w; state.height = h
            print(render(state).text)
        }
        print(render(state, glyphs: .ascii).text)
    }
}
