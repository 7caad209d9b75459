import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The hidden folder an export is written into beside its target, `.NAME.qtui-partial-PID`, and the
/// removal of ones whose writer died (SIGKILL, power loss) before it could clean up.
enum PartialFolder {
    private static let marker = ".qtui-partial-"

    static func name(for target: String, pid: Int32) -> String {
        "." + (target as NSString).lastPathComponent + marker + "\(pid)"
    }

    /// Removes `target`'s partial folders whose process no longer exists. A live PID's folder stays:
    /// another export to the same target may be running (or the PID was reused, which costs only disk).
    static func removeStale(for target: String) {
        let parent = (target as NSString).deletingLastPathComponent
        let prefix = name(for: target, pid: 0).dropLast()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count)), pid > 0, kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: (parent as NSString).appendingPathComponent(entry))
        }
    }
}
