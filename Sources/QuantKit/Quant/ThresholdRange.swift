/// The LLM.int8 outlier thresholds qtui accepts, everywhere (flags, the explorer, exports). bitsandbytes
/// takes any float; above 100 no real activation is an outlier, and 0 means pure int8 (no decomposition).
public enum ThresholdRange {
    public static let bounds: ClosedRange<Float> = 0...100

    public static func contains(_ value: Float) -> Bool { bounds.contains(value) }

    public static func clamp(_ value: Float) -> Float { min(max(value, bounds.lowerBound), bounds.upperBound) }

    /// "0 to 100".
    public static var description: String { "\(Int(bounds.lowerBound)) to \(Int(bounds.upperBound))" }
}
