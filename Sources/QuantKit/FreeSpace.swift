import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Room on the file system a folder lives on, checked before a long write (an export) so that a full disk is a one-line error at the start rather than a failed write minutes
/// in. The writers still handle ENOSPC themselves: other programs may fill the disk meanwhile.
public enum FreeSpace {
    /// Bytes an unprivileged writer may still use on the file system of `folder`, or nil when the
    /// system cannot tell.
    public static func available(at folder: String) -> Int? {
        var info = statvfs()
        guard statvfs(folder, &info) == 0 else { return nil }
        let (bytes, overflow) = Int(info.f_bavail).multipliedReportingOverflow(by: Int(info.f_frsize))
        return overflow ? Int.max : bytes
    }

    /// Why `bytes` will not fit on the file system of `folder` (an existing folder), or nil when they
    /// fit or the system cannot tell. A margin of 1% (at least 16 MB) is kept for the file system's own
    /// blocks and the small side files.
    public static func shortfall(_ bytes: Int, at folder: String) -> String? {
        guard let free = available(at: folder) else { return nil }
        let needed = bytes + max(bytes / 100, 16 << 20)
        guard needed > free else { return nil }
        return "not enough free space: needs \(gigabytes(needed)), the file system has \(gigabytes(free)) free"
    }

    private static func gigabytes(_ bytes: Int) -> String { String(format: "%.2f GB", Double(bytes) / 1e9) }
}
