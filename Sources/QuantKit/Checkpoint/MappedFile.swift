#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only. The mapping is private and never written, so read-only files and
/// files other processes hold open work alike, and input files are never modified. Unchecked Sendable:
/// the mapping is read-only memory, set once in `init` and unmapped only in `deinit`.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(file: path, .cannotOpen(reason: Self.errnoText())) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CheckpointError(file: path, .cannotOpen(reason: Self.errnoText())) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError(file: path, .cannotOpen(reason: "not a regular file"))
        }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw CheckpointError(file: path, .cannotOpen(reason: "mmap failed: \(Self.errnoText())"))
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    /// Tells the kernel a range will be read front to back soon (read-ahead for streaming scans).
    public func adviseSequential(offset: Int, count: Int) {
        guard let base = bytes.baseAddress, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        madvise(UnsafeMutableRawPointer(mutating: base + start), offset + count - start, MADV_WILLNEED)
    }

    /// Lets the kernel drop a range read through (it stays in the page cache): a streaming pass over a
    /// model bigger than memory then keeps the process's resident set small.
    public func release(offset: Int, count: Int) {
        guard let base = bytes.baseAddress, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page
        let end = (offset + count) / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
