import Foundation
import XCTest
import QuantKit

/// The real binary in a real terminal (tmux): open a model, press keys, read the screen, quit, and
/// check the process ended and the terminal came back.
final class TerminalSmokeTests: XCTestCase {
    private var session = ""
    private var folder = ""

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            let message = "SKIPPED: tmux is not installed (scripts/install-deps.sh installs it)"
            FileHandle.standardError.write(Data("\n*** \(message)\n\n".utf8))
            throw XCTSkip(message)
        }
        session = "qtui-smoke-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        folder = NSTemporaryDirectory() + session
        var model = SyntheticModel()
        model.layers = 2
        try model.write(to: folder + "/model")
    }

    override func tearDown() {
        tmux(["kill-session", "-t", session])
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Runs tmux and returns its output, through system(3) and a file: the tmux server that
    /// `new-session` starts inherits descriptors (a pipe would never close), and Foundation's
    /// Process.waitUntilExit was seen to miss the exit of such a client.
    @discardableResult
    private func tmux(_ arguments: [String]) -> String {
        let output = folder + "/tmux-output-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        _ = system("/usr/bin/tmux \(quoted) > '\(output)' 2>&1 < /dev/null")
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }

    private func screen() -> String { tmux(["capture-pane", "-t", session, "-p"]) }

    /// Polls the screen until `condition` holds (the explorer draws asynchronously).
    private func waitFor(_ what: String, timeout: TimeInterval = 20, _ condition: (String) -> Bool) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var text = screen()
        while !condition(text) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
            text = screen()
        }
        XCTAssertTrue(condition(text), "timed out waiting for \(what); screen:\n\(text)")
        return text
    }

    private func start(environment: String = "", width: Int = 100, height: Int = 30) {
        let binary = CommandLineTests.binary.path
        let status = folder + "/status"
        // The shell keeps the pane alive after qtui exits, so the restored terminal can be read.
        let command = "LANG=C.UTF-8 TERM=xterm-256color \(environment) \(binary) \(folder)/model; echo \"qtui-exit=$?\" > \(status); echo QTUI-DONE; sleep 60"
        tmux(["new-session", "-d", "-s", session, "-x", "\(width)", "-y", "\(height)", command])
    }

    private func exitStatus() -> String? {
        try? String(contentsOfFile: folder + "/status", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testKeysThresholdHelpAndQuit() throws {
        start()
        _ = waitFor("the analysed table") { $0.contains("Layer") && $0.contains("weight error int8") && !$0.contains("…") }
        tmux(["send-keys", "-t", session, "Right", "Right", "j", "s"])
        _ = waitFor("threshold 7.00 and the second layer selected and skipped") { screen in
            screen.contains("◀ 7.00 ▶") && screen.split(separator: "\n").contains {
                $0.hasPrefix("▶model.layers.0.self_attn.k_proj") && $0.hasSuffix("skip")
            }
        }
        tmux(["send-keys", "-t", session, "?"])
        _ = waitFor("the help overlay") { $0.contains("qtui explorer — keys") }
        // Export the plan from the dialog (default path beside the model), then quit.
        tmux(["send-keys", "-t", session, "Escape", "e"])
        _ = waitFor("the export dialog") { $0.contains("Export the plan") && $0.contains("(exact)") }
        tmux(["send-keys", "-t", session, "Enter"])
        _ = waitFor("the export result") { $0.contains("wrote ") && $0.contains("verified") }
        let exported = try Checkpoint(path: folder + "/model-int8")
        XCTAssertNotNil(exported.tensor(named: "model.layers.0.self_attn.q_proj.SCB"))
        XCTAssertNil(exported.tensor(named: "model.layers.0.self_attn.k_proj.SCB") == nil ? nil : "k_proj was skipped")
        tmux(["send-keys", "-t", session, "x", "q"])
        let restored = waitFor("qtui to exit") { $0.contains("QTUI-DONE") }
        XCTAssertEqual(exitStatus(), "qtui-exit=0")
        XCTAssertFalse(restored.contains("weight error"), "the explorer's screen is gone")
        XCTAssertEqual(tmux(["display-message", "-p", "-t", session, "#{alternate_on}"]).trimmingCharacters(in: .whitespacesAndNewlines), "0",
                       "the terminal left the alternate screen")
    }

    /// SIGTERM and SIGHUP end the explorer in every state — analysis running, help open, a prompt open,
    /// the export dialog open, an export running — with the terminal restored and 128 + the signal.
    func testTerminationSignalsEndTheExplorerInEveryState() throws {
        let states: [(name: String, keys: [String], signal: String, code: Int)] = [
            ("analysis running", [], "TERM", 143),
            ("help open", ["?"], "TERM", 143),
            ("filter prompt open", ["/", "mlp"], "HUP", 129),
            ("export dialog open", ["e"], "TERM", 143),
            ("export running", ["e", "Enter"], "TERM", 143),
        ]
        for state in states {
            tearDown()
            try setUpWithError()
            start()
            if state.keys.isEmpty {
                _ = waitFor("the explorer") { $0.contains("Layer") }
            } else {
                _ = waitFor("the analysed table") { $0.contains("weight error int8") && !$0.contains("…") }
                for key in state.keys { tmux(["send-keys", "-t", session, key]) }
                if state.keys.first == "e" { _ = waitFor("the export dialog") { $0.contains("Export the plan") } }
            }
            let pids = tmux(["list-panes", "-t", session, "-F", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)
            _ = system("/usr/bin/pkill -\(state.signal) -P \(pids) -f qtui")
            _ = waitFor("qtui to exit (\(state.name))", timeout: 10) { $0.contains("QTUI-DONE") }
            XCTAssertEqual(exitStatus(), "qtui-exit=\(state.code)", state.name)
            XCTAssertEqual(tmux(["display-message", "-p", "-t", session, "#{alternate_on}"]).trimmingCharacters(in: .whitespacesAndNewlines),
                           "0", state.name)
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.filter { $0.contains("partial") } ?? []
            XCTAssertEqual(leftovers, [], "an interrupted export leaves nothing (\(state.name))")
        }
    }

    /// A crash (here a SIGSEGV sent from outside; a Swift trap arrives the same way) still gives the
    /// terminal back: normal screen, a note on stderr, and the process ends by the signal.
    func testACrashRestoresTheTerminal() throws {
        // Swift's backtracer (the signal is handed on to it) is slow to report and waits for a key.
        start(environment: "SWIFT_BACKTRACE=enable=no")
        _ = waitFor("the explorer") { $0.contains("Layer") }
        let pids = tmux(["list-panes", "-t", session, "-F", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        _ = system("/usr/bin/pkill -SEGV -P \(pids) -f qtui")
        let text = waitFor("qtui to exit") { $0.contains("QTUI-DONE") }
        XCTAssertTrue(text.contains("qtui: crashed; the terminal was restored"), text)
        XCTAssertEqual(exitStatus(), "qtui-exit=139", "ended by SIGSEGV (128 + 11)")
        XCTAssertEqual(tmux(["display-message", "-p", "-t", session, "#{alternate_on}"]).trimmingCharacters(in: .whitespacesAndNewlines), "0")
    }

    /// The export path edits like a shell line: Ctrl-U clears the proposed path (no literal ^U), typing
    /// and ←/Ctrl-A/Ctrl-E move and insert, and Enter writes there.
    func testExportPathEditsLikeReadline() throws {
        start()
        _ = waitFor("the analysed table") { $0.contains("weight error int8") && !$0.contains("…") }
        tmux(["send-keys", "-t", session, "e"])
        _ = waitFor("the export dialog") { $0.contains("Export the plan") }
        tmux(["send-keys", "-t", session, "C-u"])
        let cleared = waitFor("an empty path") { $0.contains("path     _") }
        XCTAssertFalse(cleared.contains("path     ^"), cleared)
        tmux(["send-keys", "-t", session, "-l", "out-x"])
        tmux(["send-keys", "-t", session, "C-a"])
        tmux(["send-keys", "-t", session, "-l", folder + "/"])
        tmux(["send-keys", "-t", session, "C-e"])
        tmux(["send-keys", "-t", session, "-l", "yz"])
        tmux(["send-keys", "-t", session, "Left", "BSpace"])
        _ = waitFor("the edited path, the cursor (_) before z") { $0.contains("path     \(self.folder)/out-x_z") }
        tmux(["send-keys", "-t", session, "Enter"])
        _ = waitFor("the export to finish") { $0.contains("wrote ") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/out-xz/model.safetensors"))
        tmux(["send-keys", "-t", session, "x", "q"])
        _ = waitFor("qtui to exit") { $0.contains("QTUI-DONE") }
    }

    /// On the smallest screen every line fits and cut text ends in an ellipsis; below it, the full
    /// size and the minimum are said.
    func testSmallTerminalsElideVisibly() throws {
        start(width: 60, height: 14)
        let screen = waitFor("the analysed table") { $0.contains("weight error int8") || $0.contains("weight error…") }
        for line in screen.split(separator: "\n") { XCTAssertLessThanOrEqual(line.count, 60, String(line)) }
        XCTAssertTrue(screen.contains("…"), screen)
        tmux(["resize-window", "-t", session, "-x", "40", "-y", "10"])
        let small = waitFor("the too-small notice") { $0.contains("terminal too small") }
        XCTAssertTrue(small.contains("(40×10)") && small.contains("needs 60×14"), small)
        tmux(["send-keys", "-t", session, "q"])
        _ = waitFor("qtui to exit") { $0.contains("QTUI-DONE") }
        XCTAssertEqual(exitStatus(), "qtui-exit=0")
    }
}
