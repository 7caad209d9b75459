/// The JSON that bitsandbytes packs into `P.weight.quant_state.bitsandbytes__nf4|__fp4` (uint8 bytes):
/// Python's `json.dumps` of QuantState.as_dict's non-tensor items, in this key order, with ", " and
/// ": " separators:
///
///     {"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [N, K]}
///     … with double quant also: , "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0123
///
/// Its length is part of the serialized size, so it is built here exactly, floats as Python's repr.
public enum QuantStateJSON {
    public static func text(type: FourBitType, blocksize: Int, dtype: String, shape: [Int], nestedOffset: Float?) -> String {
        var text = "{\"quant_type\": \"\(type.rawValue)\", \"blocksize\": \(blocksize), \"dtype\": \"\(dtype)\", "
        text += "\"shape\": [" + shape.map(String.init).joined(separator: ", ") + "]"
        if let nestedOffset {
            text += ", \"nested_blocksize\": \(DoubleQuantizedAbsmax.nestedBlocksize), \"nested_dtype\": \"float32\", "
            text += "\"nested_offset\": \(pythonRepr(Double(nestedOffset)))"
        }
        return text + "}"
    }

    /// Python's `repr(float)`: the shortest digits that round-trip, positional for exponents in
    /// [-5, 16), else `d.ddde±XX`. Swift's description finds the same shortest digits.
    public static func pythonRepr(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        let (digits, exponent) = shortestDigits(abs(value))
        let sign = value.sign == .minus ? "-" : ""
        // value = 0.digits × 10^exponent; Python's decimal point position is `exponent`.
        let pointPosition = exponent
        if pointPosition > -4 && pointPosition <= 16 {
            if pointPosition <= 0 {
                return sign + "0." + String(repeating: "0", count: -pointPosition) + digits
            }
            if digits.count <= pointPosition {
                return sign + digits + String(repeating: "0", count: pointPosition - digits.count) + ".0"
            }
            let split = digits.index(digits.startIndex, offsetBy: pointPosition)
            return sign + digits[..<split] + "." + digits[split...]
        }
        let mantissa = digits.count == 1 ? digits : String(digits.first!) + "." + digits.dropFirst()
        let scientific = pointPosition - 1
        let exponentText = String(abs(scientific))
        return sign + mantissa + "e" + (scientific < 0 ? "-" : "+") + (exponentText.count < 2 ? "0" : "") + exponentText
    }

    /// Shortest round-trip significant digits of a finite non-negative double and the exponent e with
    /// value = 0.d1d2… × 10^e.
    private static func shortestDigits(_ value: Double) -> (String, Int) {
        if value == 0 { return ("0", 1) }
        // Swift prints the shortest round-trip digits; normalise its format to digits + exponent.
        let text = "\(value)"
        var mantissa = text
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = String(text[..<e])
            exponent = Int(text[text.index(after: e)...])!
        }
        var integerPart = mantissa
        var fraction = ""
        if let dot = mantissa.firstIndex(of: ".") {
            integerPart = String(mantissa[..<dot])
            fraction = String(mantissa[mantissa.index(after: dot)...])
        }
        var digits = integerPart + fraction
        var pointPosition = integerPart.count + exponent
        while digits.hasPrefix("0") && digits.count > 1 {
            digits.removeFirst()
            pointPosition -= 1
        }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        return (digits, pointPosition)
    }
}
