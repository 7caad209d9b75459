/// GPT-2's byte-level alphabet: every UTF-8 byte of the text is written as one printable character so
/// that a BPE vocabulary of strings can hold any byte sequence.
///
///     byte 0x21…0x7E, 0xA1…0xAC, 0xAE…0xFF  →  the character with that code (! … ~, ¡ … ¬, ® … ÿ)
///     the other 68 bytes, in increasing order  →  U+0100, U+0101, …   (space 0x20 → U+0120 "Ġ",
///                                                                       \n 0x0A → U+010A "Ċ")
enum ByteLevel {
    static let scalars: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            switch byte {
            case 0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF:
                table[byte] = Unicode.Scalar(UInt32(byte))!
            default:
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The pre-tokenizer's own split when `use_regex` is true (GPT-2's pattern).
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    static func encode(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for byte in text.utf8 { out.append(scalars[Int(byte)]) }
        return String(out)
    }
}
