import ArgumentParser
import Foundation
import QuantKit

/// The calibration options the explorer and `scan` share.
struct CalibrationOptions: ParsableArguments {
    static var minimumTokens: Int { CalibrationRequest.minimumTokens }

    @Option(help: "Calibration text file (default: qtui's built-in text of prose, code, lists and numbers).")
    var calib: String?

    @Option(parsing: .unconditional, help: "Calibration tokens (the text's first ones; at least \(minimumTokens)).")
    var tokens: Int = 512

    @Flag(help: "Weights only: do not run the model on calibration text.")
    var noCalib = false

    func validate() throws {
        guard tokens >= Self.minimumTokens else { throw ValidationError("--tokens must be at least \(Self.minimumTokens), not \(tokens)") }
        if noCalib && calib != nil { throw ValidationError("--calib and --no-calib contradict each other") }
    }

    /// The text to calibrate `checkpoint` on and where it came from; nil with --no-calib. A --calib file
    /// must give at least `minimumTokens` tokens with the model's tokenizer (when it has one: without,
    /// the analysis falls back to weights and says why).
    func text(for checkpoint: Checkpoint) throws -> (text: String, source: String)? {
        guard !noCalib else { return nil }
        guard let calib else { return (CalibrationText.standard, "built-in text") }
        guard let data = FileManager.default.contents(atPath: calib), let text = String(data: data, encoding: .utf8) else {
            throw InputError(file: calib, message: "cannot read the calibration text (missing, unreadable or not UTF-8)")
        }
        if let tokenizer = try? Calibration.tokenizer(for: checkpoint) {
            let count = try tokenizer.encode(text).count
            guard count >= Self.minimumTokens else {
                throw InputError(file: calib, message: "gives \(count) tokens with the model's tokenizer; calibration needs at least \(Self.minimumTokens)")
            }
        }
        return (text, calib)
    }

    /// The calibration request for `checkpoint`: its text and token count; nil with --no-calib.
    func request(for checkpoint: Checkpoint) throws -> CalibrationRequest? {
        guard let (text, source) = try text(for: checkpoint) else { return nil }
        var request = CalibrationRequest(text: text, source: source)
        request.calibration.tokenLimit = tokens
        return request
    }
}
