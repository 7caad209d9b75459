/// The default calibration text (`Sources/QuantKit/Resources/calibration.txt`, embedded in the binary when
/// it is built, so scripts read the same file): an original mix of English prose (story, explainer, how-to, dialogue, news),
/// lists, a Markdown table, Python/Swift/JavaScript/shell code, JSON, math, a few accented words and emoji.
/// Written for qtui and free to use; about 2,900 words (16,336 characters), 4,594 tokens with SmolLM2's tokenizer.
public enum CalibrationText {
    public static let standard = String(decoding: PackageResources.calibration_txt, as: UTF8.self)
}
