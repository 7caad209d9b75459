/// LLM.int8's outlier threshold t: an input column with any |x| ≥ t is multiplied in fp16, the rest in
/// int8 (t = 0 puts every column in fp16; a larger t moves fewer). One range for every front end, so a
/// threshold one command accepts another can use.
public enum OutlierThreshold {
    public static let range: ClosedRange<Float> = 0...100

    /// `llm_int8_threshold` as config.json carries it: the shortest decimal that reads back as `value`
    /// (5.7, not the float's 5.699999809265137), which is what a user typing 5.7 meant.
    public static func decimal(_ value: Float) -> Double {
        Double("\(value)") ?? Double(value)
    }

    public static func clamp(_ value: Float) -> Float { min(max(value, range.lowerBound), range.upperBound) }

    /// "0 to 100".
    public static var rangeDescription: String { "\(Int(range.lowerBound)) to \(Int(range.upperBound))" }
}
