import ArgumentParser
import Foundation
import QuantKit

/// `qtui cache list|clean`: the small folders qtui keeps for GGUF files (config.json, tokenizer.json),
/// and the F32 conversions older versions left (4 bytes a parameter each), which `clean` always removes.
struct Cache: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List or remove the GGUF entries qtui keeps in its cache.",
        discussion: """
        Opening a .gguf writes its config.json and tokenizer.json once into the cache (~/.cache/qtui/gguf, \
        or $QTUI_CACHE/gguf), keyed by the file's content; the weights are read in place from the .gguf. \
        An entry takes a few MB at most. Entries of older qtui versions are stale (those up to version 3 \
        hold the whole model in F32, 4 bytes a parameter): never reused, and removed by every clean.

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
                      + "\(dates.string(from: entry.lastUsed))  \(entry.source ?? "(source not recorded)")"
                      + (entry.isStale ? "  (stale: an older qtui's conversion, never reused)" : ""))
            }
            print("\(entries.count) entr\(entries.count == 1 ? "y" : "ies"), "
                  + "\(ReportFormatter.formatBytes(entries.reduce(0) { $0 + $1.bytes })) in \(cache.folder)")
        }
    }

    struct Clean: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every entry, or those not used for some days.")

        @Option(parsing: .unconditional, help: "Remove only entries last used more than this many days ago (and stale ones).")
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
