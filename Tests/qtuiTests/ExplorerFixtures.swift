import Foundation
import XCTest
import QuantKit
@testable import qtui

/// The models and states the explorer tests start from.
let explorerModelFolder: String = {
    let folder = NSTemporaryDirectory() + "qtui-explorer-model-\(getpid())"
    var model = SyntheticModel()
    model.layers = 3
    try! model.write(to: folder)
    return folder
}()

/// Runs the analysis synchronously and folds its events into the state, as the background would.
func analyse(_ state: inout ExplorerState, _ model: OpenedModel, calibration: CalibrationRequest? = nil) throws {
    var analyzer = try ModelAnalyzer(model, weights: WeightAnalyzer(blocksize: 64, threads: 2))
    analyzer.calibration = calibration
    try analyzer.run(emit: { event in _ = reduce(&state, .analysis(event)) })
}

/// The state after opening the synthetic model and analysing it synchronously.
func openedState(width: Int = 80, height: Int = 24) throws -> ExplorerState {
    let model = OpenedModel(try Checkpoint(path: explorerModelFolder))
    var state = ExplorerState(model: model, threshold: 6, blocksize: 64, width: width, height: height)
    try analyse(&state, model)
    return state
}

/// The effects of the last key that had an action.
@discardableResult
func send(_ keys: [Key], to state: inout ExplorerState) -> [Effect] {
    var last: [Effect] = []
    for key in keys {
        if let action = KeyBindings.action(for: key, in: state) { last = reduce(&state, action) }
    }
    return last
}

func typing(_ text: String) -> [Key] { text.map { Key.character($0) } }

/// Writes the synthetic llama with planted outlier dimensions (7, 61, 62) and a real BPE tokenizer, so
/// the analysis runs the model; returns `folder`.
@discardableResult
func writeCalibratableModel(to folder: String) throws -> String {
    try SyntheticModel.calibrationFixture.write(to: folder)
    let tokenizer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizers/smollm2.tokenizer.json")
    try FileManager.default.copyItem(atPath: tokenizer.path, toPath: folder + "/tokenizer.json")
    return folder
}

/// The calibratable synthetic llama, calibrated and measured synchronously, as the background work would.
func calibratedState() throws -> ExplorerState {
    let folder = NSTemporaryDirectory() + "qtui-explorer-calibrated-\(getpid())"
    if !FileManager.default.fileExists(atPath: folder + "/tokenizer.json") { try writeCalibratableModel(to: folder) }
    let model = OpenedModel(try Checkpoint(path: folder))
    var state = ExplorerState(model: model, threshold: 6, blocksize: 64, width: 100, height: 30)
    var request = CalibrationRequest(text: CalibrationText.standard, source: "built-in text")
    request.calibration.tokenLimit = 128
    try analyse(&state, model, calibration: request)
    return state
}

