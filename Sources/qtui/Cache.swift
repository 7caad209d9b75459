import ArgumentParser
import Foundation
import QuantKit

/// `qtui cache list|clean`: the GGUF conversions qtui keeps (4 bytes a parameter each, until GGUF files
/// are read in place).
struct Cache: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List or remove the converted GGUF models qtui keeps in its cache.",
        discussion: """
        Opening a .gguf converts it once into a transformers folder in the cache (~/.cache/qtui/gguf, or \
        $QTUI_CACHE/gguf), keyed by the file's content: the same model under another path or name is \
        not converted again. An entry takes about 4 bytes a parameter.

        Examples:
          qtui cache list
          qtui cache clean --older-than 30
          qtui cache clean
        """,
        subcommands: [List.self, Clean.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each entry: size, when last used, the GGUF it was opened from.")

        func run() throws {
            let cache = GGUFCache()
            let entries = cache.entries()
            guard !entries.isEmpty else { return print("\(cache.folder): empty") }
            let dates = DateFormatter()
            dates.dateFormat = "yyyy-MM-dd HH:mm"
            for entry in entries {
                let name = (entry.folder as NSString).lastPathComponent
                print("\(name)  \(ReportFormatter.formatBytes(entry.bytes).padding(toLength: 9, withPad: " ", startingAt: 0))  "
                      + "\(dates.string(from: entry.lastUsed))  \(entry.source ?? "(source not recorded)")")
            }
            print("\(entries.count) entr\(entries.count == 1 ? "y" : "ies"), "
                  + "\(ReportFormatter.formatBytes(entries.reduce(0) { $0 + $1.bytes })) in \(cache.folder)")
        }
    }

    struct Clean: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every entry, or those not used for some days.")

        @Option(parsing: .unconditional, help: "Remove only entries last used more than this many days ago.")
        var olderThan: Int?

        func validate() throws {
            if let olderThan, olderThan < 0 { throw ValidationError("--older-than must be 0 or more days, not \(olderThan)") }
        }

        func run() throws {
            let cache = GGUFCache()
            let cutoff = olderThan.map { Date().addingTimeInterval(-Double($0) * 86_400) }
            let removed = try cache.clean(usedBefore: cutoff)
            print("removed \(removed.count) entr\(removed.count == 1 ? "y" : "ies"), "
                  + "\(ReportFormatter.formatBytes(removed.reduce(0) { $0 + $1.bytes })) from \(cache.folder)")
        }
    }
}
