/// One stretch of a text in the library's `Pattern::find_matches` result: the stretches cover the
/// text in order, each either a match or the text between two matches.
struct Span {
    var range: Range<String.Index>
    var isMatch: Bool
}

extension Span {
    /// Spans around regex matches (an empty match still counts as a match span, as in the library).
    static func around(_ matches: [Range<String.Index>], in text: String) -> [Span] {
        var spans: [Span] = []
        var previous = text.startIndex
        for match in matches {
            if previous != match.lowerBound { spans.append(Span(range: previous..<match.lowerBound, isMatch: false)) }
            spans.append(Span(range: match, isMatch: true))
            previous = match.upperBound
        }
        if previous != text.endIndex { spans.append(Span(range: previous..<text.endIndex, isMatch: false)) }
        return spans
    }

    /// Spans where every scalar that satisfies `predicate` is a match of its own (the library's
    /// `Fn(char) -> bool` pattern).
    static func each(in text: String, where predicate: (Unicode.Scalar) -> Bool) -> [Span] {
        var spans: [Span] = []
        let scalars = text.unicodeScalars
        var runStart = scalars.startIndex
        var index = scalars.startIndex
        while index != scalars.endIndex {
            let next = scalars.index(after: index)
            if predicate(scalars[index]) {
                if runStart != index { spans.append(Span(range: runStart..<index, isMatch: false)) }
                spans.append(Span(range: index..<next, isMatch: true))
                runStart = next
            }
            index = next
        }
        if runStart != scalars.endIndex { spans.append(Span(range: runStart..<scalars.endIndex, isMatch: false)) }
        return spans
    }
}

/// What happens to the delimiters when a piece is split (`SplitDelimiterBehavior`):
///
///     "a-b--c" split on "-":  Removed            a | b | c
///                             Isolated           a | - | b | - | - | c
///                             MergedWithPrevious a- | b- | - | c
///                             MergedWithNext     a | -b | - | -c
///                             Contiguous         a | - | b | -- | c
enum SplitBehavior: String {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    /// The ranges to keep, in order; they may be empty (the caller drops empty pieces).
    func apply(_ spans: [Span]) -> [Range<String.Index>] {
        switch self {
        case .removed:
            return spans.filter { !$0.isMatch }.map(\.range)
        case .isolated:
            return spans.map(\.range)
        case .contiguous:
            var out: [Span] = []
            for span in spans {
                if let last = out.last, last.isMatch == span.isMatch {
                    out[out.count - 1].range = last.range.lowerBound..<span.range.upperBound
                } else {
                    out.append(span)
                }
            }
            return out.map(\.range)
        case .mergedWithPrevious:
            var out: [Range<String.Index>] = []
            var previousMatch = false
            for span in spans {
                if span.isMatch, !previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<span.range.upperBound
                } else {
                    out.append(span.range)
                }
                previousMatch = span.isMatch
            }
            return out
        case .mergedWithNext:
            var out: [Range<String.Index>] = []
            var previousMatch = false
            for span in spans.reversed() {
                if span.isMatch, !previousMatch, let last = out.last {
                    out[out.count - 1] = span.range.lowerBound..<last.upperBound
                } else {
                    out.append(span.range)
                }
                previousMatch = span.isMatch
            }
            return out.reversed()
        }
    }
}
