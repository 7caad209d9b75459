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

    /// Runs tmux and returns its output. Output goes through a file, not a pipe: the tmux server that
    /// `new-session` starts inherits the descriptors and would hold a pipe open for ever.
    @discardableResult
    private func tmux(_ arguments: [String]) -> String {
        let output = folder + "/tmux-output-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: output, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: output) }
        guard let handle = FileHandle(forWritingAtPath: output) else { return "" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/tmux")
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try? process.run()
        process.waitUntilExit()
        try? handle.close()
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

    private func start() {
        let binary = CommandLineTests.binary.path
        let status = folder + "/status"
        // The shell keeps the pane alive after qtui exits, so the restored terminal can be read.
        let command = "LANG=C.UTF-8 TERM=xterm-256color \(binary) \(folder)/model; echo \"qtui-exit=$?\" > \(status); echo QTUI-DONE; sleep 60"
        tmux(["new-session", "-d", "-s", session, "-x", "100", "-y", "30", command])
    }

    private func exitStatus() -> String? {
        try? String(contentsOfFile: folder + "/status", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testKeysThresholdHelpAndQuit() throws {
        start()
        _ = waitFor("the analysed table") { $0.contains("Layer") && $0.contains("weight error int8") && !$0.contains("…") }
        tmux(["send-keys", "-t", session, "Right", "Right", "j", "s"])
        let after = waitFor("threshold 7.00 and a skipped layer") { $0.contains("◀ 7.00 ▶") && $0.contains("skip") }
        XCTAssertTrue(after.contains("▶model.layers.0.self_attn.k_proj"), after)
        tmux(["send-keys", "-t", session, "?"])
        _ = waitFor("the help overlay") { $0.contains("qtui explorer — keys") }
        tmux(["send-keys", "-t", session, "Escape", "q"])
        let restored = waitFor("qtui to exit") { $0.contains("QTUI-DONE") }
        XCTAssertEqual(exitStatus(), "qtui-exit=0")
        XCTAssertFalse(restored.contains("weight error"), "the explorer's screen is gone")
        XCTAssertEqual(tmux(["display-message", "-p", "-t", session, "#{alternate_on}"]).trimmingCharacters(in: .whitespacesAndNewlines), "0",
                       "the terminal left the alternate screen")
    }

    func testSIGTERMRestoresTheTerminal() throws {
        start()
        _ = waitFor("the explorer") { $0.contains("Layer") }
        let pids = tmux(["list-panes", "-t", session, "-F", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
        process.arguments = ["-TERM", "-P", pids, "-f", "qtui"]
        try process.run()
        process.waitUntilExit()
        _ = waitFor("qtui to exit") { $0.contains("QTUI-DONE") }
        XCTAssertEqual(exitStatus(), "qtui-exit=0")
        XCTAssertEqual(tmux(["display-message", "-p", "-t", session, "#{alternate_on}"]).trimmingCharacters(in: .whitespacesAndNewlines), "0")
    }
}
