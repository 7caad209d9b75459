import Foundation

/// The folder GGUF files are converted into (`~/.cache/qtui/gguf`, or `$QTUI_CACHE/gguf`): one
/// subfolder per file content and converter version, so the same model opened from two paths (or
/// renamed, or copied) is converted once. Each entry records the file it was last opened from, which
/// is where its weights are read in place (GGUFInPlace).
///
///     <cache>/<content fingerprint, 16 hex>-c<converter version>/
///         config.json, tokenizer.json   (GGUFConversion)
///         source.txt                    the .gguf path it was last opened from
///
/// Entries of an older converter version are stale: never reused, listed as such and removed by every
/// `clean`. Those of versions up to 3 also hold model.safetensors, every tensor in F32.
public struct GGUFCache: Sendable {
    public struct Entry: Sendable, Equatable {
        public let folder: String
        /// The GGUF this entry was last opened from (nil when an older qtui wrote it).
        public let source: String?
        public let bytes: Int
        public let lastUsed: Date
        /// Written by another converter version (an F32 model.safetensors up to version 3): never reused.
        public let isStale: Bool
    }

    public let folder: String

    public init(folder: String = GGUFCache.defaultFolder) {
        self.folder = folder
    }

    /// `~/.cache/qtui/gguf`, or `$QTUI_CACHE/gguf` when set.
    public static var defaultFolder: String {
        let environment = ProcessInfo.processInfo.environment
        let root = environment["QTUI_CACHE"] ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/qtui")
        return (root as NSString).appendingPathComponent("gguf")
    }

    static let sourceFile = "source.txt"

    /// source.txt's content: the absolute path and a newline.
    static func sourceLine(_ source: String) -> String {
        URL(fileURLWithPath: source).standardizedFileURL.path + "\n"
    }

    /// Finished entries, most recently used first (partial folders of running or killed conversions are
    /// not entries).
    public func entries() -> [Entry] {
        let manager = FileManager.default
        let names = (try? manager.contentsOfDirectory(atPath: folder)) ?? []
        return names.compactMap { name -> Entry? in
            let path = (folder as NSString).appendingPathComponent(name)
            let finished = ["config.json", "model.safetensors"].contains { manager.fileExists(atPath: (path as NSString).appendingPathComponent($0)) }
            guard !name.contains(".partial"), finished else { return nil }
            let source = try? String(contentsOfFile: (path as NSString).appendingPathComponent(Self.sourceFile), encoding: .utf8)
            let used = (try? manager.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            return Entry(folder: path, source: source?.trimmingCharacters(in: .newlines), bytes: Self.bytes(under: path), lastUsed: used,
                         isStale: !name.hasSuffix("-c\(GGUFConversion.converterVersion)"))
        }.sorted { $0.lastUsed > $1.lastUsed }
    }

    /// Removes every entry, or those last used before `cutoff` and every stale one; returns what was removed.
    @discardableResult
    public func clean(usedBefore cutoff: Date? = nil) throws -> [Entry] {
        let removed = entries().filter { cutoff == nil || $0.lastUsed < cutoff! || $0.isStale }
        for entry in removed { try FileManager.default.removeItem(atPath: entry.folder) }
        return removed
    }

    /// Notes that `entry` was opened from `source` now (what `entries` lists and sorts by).
    func touch(_ entry: String, source: String) {
        let path = (entry as NSString).appendingPathComponent(Self.sourceFile)
        // Atomic: another process may be reading it to open the entry.
        try? Data(Self.sourceLine(source).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: entry)
    }

    private static func bytes(under path: String) -> Int {
        let manager = FileManager.default
        let names = (try? manager.contentsOfDirectory(atPath: path)) ?? []
        return names.reduce(0) { sum, name in
            sum + ((try? manager.attributesOfItem(atPath: (path as NSString).appendingPathComponent(name))[.size] as? Int) ?? 0)
        }
    }
}

/// What identifies a GGUF's content without reading all of it: its size, its first MiB (header, metadata,
/// tensor list) and 64 KiB from each of 64 places spread over the rest, through FNV-1a (64-bit). Two
/// GGUFs of a model differ in their metadata or in most sampled weight bytes; a few milliseconds for any
/// size, where hashing a 40 GB file whole would take most of a minute.
enum ContentFingerprint {
    static func of(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CheckpointError(file: path, .cannotOpen(reason: "no such file"))
        }
        defer { try? handle.close() }
        let size = Int(try handle.seekToEnd())
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        }
        withUnsafeBytes(of: UInt64(size).littleEndian) { mix($0) }
        let head = 1 << 20, sample = 1 << 16, samples = 64
        var reads = [(0, min(size, head))]
        if size > head {
            let span = size - head
            reads += (0..<samples).map { index in (head + span / samples * index, min(sample, size - head - span / samples * index)) }
        }
        for (offset, length) in reads where length > 0 {
            try handle.seek(toOffset: UInt64(offset))
            (try handle.read(upToCount: length) ?? Data()).withUnsafeBytes { mix($0) }
        }
        return String(format: "%016llx", hash)
    }
}
