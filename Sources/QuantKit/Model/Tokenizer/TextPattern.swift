import Foundation

/// What a Split pre-tokenizer or a Replace normalizer looks for, as tokenizer.json writes it:
///
///     "pattern": {"String": "…"}   a literal, which the library escapes into a regex
///              | {"Regex": "…"}    Oniguruma syntax
///
/// Both become one ICU regular expression (NSRegularExpression). The syntaxes agree on what these
/// files use (\p{L}, \p{N}, (?i:…), lookahead, {1,3}) except `\s`, which Oniguruma takes as the
/// White_Space property and ICU as [\t\n\f\r\p{Z}] (no \u{0B}, no \u{85}); `translate` rewrites it.
struct TextPattern: @unchecked Sendable {
    // NSRegularExpression is immutable once built and documented as safe to share between threads.
    let regex: NSRegularExpression

    init(regex pattern: String) throws {
        regex = try NSRegularExpression(pattern: Self.translate(pattern))
    }

    init(literal: String) throws {
        regex = try NSRegularExpression(pattern: NSRegularExpression.escapedPattern(for: literal))
    }

    /// `{"String": …}` or `{"Regex": …}` under `key` of a component.
    init(_ reader: ComponentReader, key: String) throws {
        let pattern = try reader.object(key)
        do {
            if let literal = pattern["String"]?.string {
                try self.init(literal: literal)
            } else if let source = pattern["Regex"]?.string {
                try self.init(regex: source)
            } else {
                throw reader.invalid("\(key) must be {\"String\": …} or {\"Regex\": …}")
            }
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw reader.invalid("\(key) does not compile as a regular expression")
        }
    }

    /// Oniguruma → ICU: `\s` and `\S` (also inside brackets) become the White_Space property.
    static func translate(_ pattern: String) -> String {
        var out = String.UnicodeScalarView()
        var escaped = false
        for c in pattern.unicodeScalars {
            if escaped {
                switch c {
                case "s": out.append(contentsOf: "\\p{White_Space}".unicodeScalars)
                case "S": out.append(contentsOf: "\\P{White_Space}".unicodeScalars)
                default: out.append(contentsOf: ["\\", c])
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        if escaped { out.append("\\") }
        return String(out)
    }

    /// The matches, left to right and non-overlapping, as ranges of `text` on Unicode-scalar
    /// boundaries (slice them through `unicodeScalars`, not String's Character subscript).
    ///
    /// The UTF-16 offsets are walked through the utf16 view: `Range(_:in:)` would refuse or round
    /// an offset inside a grapheme cluster, such as the \n of "\r\n" or a combining accent.
    func matches(in text: String) -> [Range<String.Index>] {
        let utf16 = text.utf16
        var cursor = utf16.startIndex
        var cursorOffset = 0
        func index(at offset: Int) -> String.Index {
            cursor = utf16.index(cursor, offsetBy: offset - cursorOffset)
            cursorOffset = offset
            return cursor
        }
        return regex.matches(in: text, range: NSRange(location: 0, length: utf16.count)).map { match in
            let start = index(at: match.range.location)
            return start..<index(at: match.range.location + match.range.length)
        }
    }
}
