import Foundation
import XCTest
import QuantKit
@testable import qtui

/// A terminal that types scripted keys, keeps every frame, and asks the loop to end (as SIGTERM would)
/// once a frame shows what the test waits for, or at a deadline.
final class ScriptedTerminal: TerminalBackend {
    let width: Int
    let height: Int
    let glyphs = Glyphs.unicode
    private var keys: [Key]
    private let done: (String) -> Bool
    private let deadline: Date
    private(set) var frames: [String] = []
    private(set) var satisfied = false

    init(width: Int = 100, height: Int = 30, keys: [Key], timeout: TimeInterval = 60, until done: @escaping (String) -> Bool) {
        self.width = width
        self.height = height
        self.keys = keys
        self.done = done
        deadline = Date().addingTimeInterval(timeout)
    }

    var lastFrame: String { frames.last ?? "" }

    func readKey() -> Key? {
        if !keys.isEmpty { return keys.removeFirst() }
        Thread.sleep(forTimeInterval: 0.01)
        return nil
    }

    func present(_ frame: Frame) {
        frames.append(frame.text)
        if keys.isEmpty && done(frame.text) { satisfied = true }
    }

    var terminationSignal: Int32? { satisfied || Date() > deadline ? SIGTERM : nil }
}

final class ExplorerLoopTests: XCTestCase {
    /// The calibrated synthetic llama's folder (made by ExplorerTests).
    func calibratedModel() throws -> OpenedModel {
        _ = try calibratedState()
        return OpenedModel(try Checkpoint(path: NSTemporaryDirectory() + "qtui-explorer-calibrated-\(getpid())"))
    }

    func request() -> CalibrationRequest {
        var request = CalibrationRequest(text: CalibrationText.standard, source: "built-in text")
        request.calibration.tokenLimit = 128
        return request
    }

    /// A threshold typed while the background analysis still runs gets its exact int8 errors when the
    /// analysis ends, with no further key: the refinement follows from the state, not from a key press.
    func testOffGridThresholdSetDuringAnalysisIsRefinedWithoutAnotherKey() throws {
        let model = try calibratedModel()
        let keys: [Key] = [.character("t")] + "6.3".map { Key.character($0) } + [.enter]
        func tableRows(_ screen: String) -> [Substring] { screen.split(separator: "\n").filter { $0.contains("×") && $0.hasSuffix("int8") } }
        let terminal = ScriptedTerminal(keys: keys) { screen in
            screen.contains("◀ 6.30 ▶") && screen.contains("output error int8@t") && !tableRows(screen).contains { $0.contains("≈") }
        }
        let reason = ExplorerApp(model: model, threads: 2, calibration: request()).run(threshold: 6, blocksize: 64, terminal: terminal)
        XCTAssertEqual(reason, .terminated(SIGTERM))
        XCTAssertTrue(terminal.satisfied, "never refined; last frame:\n\(terminal.lastFrame)")
        XCTAssertTrue(terminal.frames.contains { $0.contains("◀ 6.30 ▶") && tableRows($0).contains { $0.contains("≈") } },
                      "the grid value is shown marked until the exact one arrives")
    }

    /// Esc stops every running job, the refinement included.
    func testCancelStopsTheRefinementToo() throws {
        var state = try calibratedState()
        let effects = reduce(&state, .edit(.insert("x")))  // no prompt open: nothing to edit, but the state is reduced
        XCTAssertEqual(effects, [])
        XCTAssertEqual(reduce(&state, .thresholdStep(0.1)), [.refine(threshold: 6.1)])
        XCTAssertNotNil(state.running[.refinement])
        XCTAssertEqual(reduce(&state, .cancelWork), [.cancel(.refinement)])
        _ = reduce(&state, .ended(.refinement, .cancelled))
        XCTAssertNil(state.running[.refinement])
        XCTAssertEqual(reduce(&state, .thresholdStep(0.1)), [.refine(threshold: 6.2)], "a new threshold asks again")
        XCTAssertEqual(reduce(&state, .thresholdStep(-0.2)), [.cancel(.refinement)], "back on the grid: nothing to refine")
    }

    /// `q` ends the loop with .quit; Ctrl-C with .interrupted, so the command can exit 130.
    func testQuitAndInterruptEndTheLoop() throws {
        let model = OpenedModel(try Checkpoint(path: explorerModelFolder))
        for (key, expected) in [(Key.character("q"), ExitReason.quit), (.interrupt, .interrupted)] {
            let terminal = ScriptedTerminal(keys: [key], timeout: 20) { _ in false }
            let reason = ExplorerApp(model: model, threads: 2, calibration: nil).run(threshold: 6, blocksize: 64, terminal: terminal)
            XCTAssertEqual(reason, expected)
        }
    }
}
