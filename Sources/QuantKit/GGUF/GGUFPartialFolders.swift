import Foundation

/// Conversions build their folder as `<destination>.partial-<pid>` and rename it when complete. A run
/// that fails removes its own; one that was killed cannot, so each conversion first removes those whose
/// process is gone. A live process's folder is left alone: it may be converting the same file now.
enum GGUFPartialFolders {
    static let marker = ".partial-"

    static func suffix(for pid: pid_t) -> String { marker + String(pid) }

    static func removeStale(in cache: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: cache) else { return }
        for name in names {
            guard let range = name.range(of: marker, options: .backwards),
                  let pid = pid_t(name[range.upperBound...]), pid > 0, !isAlive(pid) else { continue }
            try? FileManager.default.removeItem(atPath: (cache as NSString).appendingPathComponent(name))
        }
    }

    /// kill(pid, 0) probes without signalling: ESRCH means no such process; EPERM means one that
    /// belongs to someone else, which is alive.
    private static func isAlive(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
