import Foundation

/// An editing step in a one-line prompt (readline's basics).
enum PromptEdit: Equatable {
    case insert(Character)
    case backspace, delete
    case left, right, home, end
    /// Ctrl-U, Ctrl-K, Ctrl-W.
    case killToStart, killToEnd, killWordBefore
    /// Replace the whole text (a path completion).
    case replace(String)
}

/// One line of editable text with a cursor: the filter, the typed threshold and the export path.
struct TextPrompt: Equatable {
    enum Purpose: Equatable {
        case filter, threshold, exportPath
    }

    let purpose: Purpose
    private(set) var characters: [Character]
    /// Characters before the cursor.
    private(set) var cursor: Int

    init(_ purpose: Purpose, text: String = "") {
        self.purpose = purpose
        characters = Array(text)
        cursor = characters.count
    }

    var text: String { String(characters) }

    mutating func apply(_ edit: PromptEdit) {
        switch edit {
        case .insert(let character):
            characters.insert(character, at: cursor)
            cursor += 1
        case .backspace:
            guard cursor > 0 else { return }
            characters.remove(at: cursor - 1)
            cursor -= 1
        case .delete:
            if cursor < characters.count { characters.remove(at: cursor) }
        case .left: cursor = max(0, cursor - 1)
        case .right: cursor = min(characters.count, cursor + 1)
        case .home: cursor = 0
        case .end: cursor = characters.count
        case .killToStart:
            characters.removeFirst(cursor)
            cursor = 0
        case .killToEnd: characters.removeLast(characters.count - cursor)
        case .killWordBefore:
            // As readline's unix-word-rubout: the blanks before the cursor, then the word before them.
            var start = cursor
            while start > 0, characters[start - 1] == " " { start -= 1 }
            while start > 0, characters[start - 1] != " " { start -= 1 }
            characters.removeSubrange(start..<cursor)
            cursor = start
        case .replace(let text):
            characters = Array(text)
            cursor = characters.count
        }
    }

    /// The text to show in `width` columns with the cursor drawn as `mark`: the part around the cursor
    /// when it is too long, with an ellipsis on the side that is cut.
    func visible(width: Int, mark: Character = "_", ellipsis: Character = "…") -> String {
        var shown = characters
        shown.insert(mark, at: cursor)
        guard shown.count > width, width > 2 else { return String(shown.prefix(max(width, 0))) }
        var start = max(0, min(cursor - width / 2, shown.count - width))
        var end = start + width
        var prefix = "", suffix = ""
        if start > 0 { prefix = String(ellipsis); start += 1 }
        if end < shown.count { suffix = String(ellipsis); end -= 1 }
        return prefix + String(shown[start..<end]) + suffix
    }
}

/// Tab completion of a path: the longest common continuation of the entries that start with the typed
/// name, a "/" after a lone folder.
enum PathCompletion {
    static func complete(_ text: String, fileManager: FileManager = .default) -> String {
        let expanded = (text as NSString).expandingTildeInPath
        let folder = text.hasSuffix("/") || text.isEmpty ? expanded : (expanded as NSString).deletingLastPathComponent
        let name = text.hasSuffix("/") || text.isEmpty ? "" : (expanded as NSString).lastPathComponent
        guard let entries = try? fileManager.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else { return text }
        let matches = entries.filter { $0.hasPrefix(name) && !($0.hasPrefix(".") && !name.hasPrefix(".")) }.sorted()
        guard let first = matches.first else { return text }
        var common = first
        for match in matches.dropFirst() {
            common = String(zip(common, match).prefix { $0 == $1 }.map(\.0))
        }
        var completed = text + common.dropFirst(name.count)
        var isFolder: ObjCBool = false
        let full = (folder as NSString).appendingPathComponent(common)
        if matches.count == 1, fileManager.fileExists(atPath: full, isDirectory: &isFolder), isFolder.boolValue { completed += "/" }
        return completed
    }
}
