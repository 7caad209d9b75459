import Foundation
import QuantKit

/// What the loop needs from a terminal; `Terminal` is the ncurses one, tests script their own.
protocol TerminalBackend: AnyObject {
    var width: Int { get }
    var height: Int { get }
    var glyphs: Glyphs { get }
    /// The next key, or nil after a short wait (so background reports are shown while no key comes).
    func readKey() -> Key?
    func present(_ frame: Frame)
    /// SIGTERM or SIGHUP (its number), or a terminal that went away, since the loop began.
    var terminationSignal: Int32? { get }
}

/// The event loop: keys and background reports → `reduce` → effects run by `BackgroundWork` → frame.
final class ExplorerApp {
    private let model: OpenedModel
    private let work: BackgroundWork

    init(model: OpenedModel, threads: Int, calibration: CalibrationRequest?) {
        self.model = model
        work = BackgroundWork(model: model, threads: threads, calibration: calibration)
    }

    func run(threshold: Float, blocksize: Int, terminal: TerminalBackend) -> ExitReason {
        var state = ExplorerState(model: model, threshold: threshold, blocksize: blocksize, width: terminal.width, height: terminal.height)
        var pending = startAnalysis(&state)
        var dirty = true
        while true {
            if let signal = terminal.terminationSignal { return stop(.terminated(signal)) }
            for action in work.drain() {
                pending += reduce(&state, action)
                dirty = true
            }
            if let reason = run(&pending, on: &state) { return stop(reason) }
            if dirty {
                terminal.present(render(state, glyphs: terminal.glyphs))
                dirty = false
            }
            guard let key = terminal.readKey(), let action = KeyBindings.action(for: key, in: state) else { continue }
            pending += reduce(&state, action)
            dirty = true
        }
    }

    /// Runs effects until none are left (an effect's immediate answer is reduced in turn); the reason to
    /// leave when one of them is an exit.
    private func run(_ effects: inout [Effect], on state: inout ExplorerState) -> ExitReason? {
        while !effects.isEmpty {
            let effect = effects.removeFirst()
            if case .exit(let reason) = effect { return reason }
            for answer in work.perform(effect, state: state) { effects += reduce(&state, answer) }
        }
        return nil
    }

    private func stop(_ reason: ExitReason) -> ExitReason {
        work.stopAll()
        return reason
    }
}
