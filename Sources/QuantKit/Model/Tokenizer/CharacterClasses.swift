/// The character classes the library's components test, each defined as the Rust function it calls
/// (Rust's `char` is a Unicode scalar, so these take scalars, never Swift's grapheme `Character`).
enum CharacterClasses {
    /// `char::is_whitespace`: the White_Space property (also \u{0B}, \u{85}, \u{A0}, \u{3000}, …).
    static func isWhitespace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }

    /// `char::is_numeric`: general categories Nd, Nl and No (so ² and Ⅳ too).
    static func isNumeric(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// BertPreTokenizer's punctuation: `char::is_ascii_punctuation` (which includes the ASCII symbols
    /// $ + < = > ^ ` | ~) or a P* general category.
    static func isBertPunctuation(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
        default: break
        }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// BertNormalizer's control test: categories Cc, Cf and Co but not \t \n \r. Unassigned code
    /// points (Cn) are kept: the library's table does not count them (checked against 0.23.3).
    static func isBertControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// BertNormalizer's whitespace: \t \n \r or White_Space.
    static func isBertWhitespace(_ c: Unicode.Scalar) -> Bool {
        c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace
    }

    /// The CJK ideograph blocks BertNormalizer surrounds with spaces (BERT's `_is_chinese_char`).
    static func isChineseCharacter(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Nonspacing marks (Mn), what StripAccents removes.
    static func isNonspacingMark(_ c: Unicode.Scalar) -> Bool { c.properties.generalCategory == .nonspacingMark }

    /// The Rust regex crate's Unicode `\w` (alphabetic, marks, decimal digits, connector punctuation,
    /// join controls), which decides whether a `single_word` added token stands alone.
    static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
        let properties = c.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
