import ArgumentParser
import Foundation
import QuantKit

/// The calibration options the explorer and `scan` share.
struct CalibrationOptions: ParsableArguments {
    @Option(help: "Calibration text file (default: qtui's built-in text of prose, code, lists and numbers).")
    var calib: String?

    @Option(help: "Calibration tokens (the text's first ones).")
    var tokens: Int = 512

    @Flag(help: "Weights only: do not run the model on calibration text.")
    var noCalib = false

    func validate() throws {
        guard tokens >= 2 else { throw ValidationError("--tokens must be at least 2") }
        if noCalib && calib != nil { throw ValidationError("--calib and --no-calib contradict each other") }
    }

    /// The text to calibrate on and where it came from; nil with --no-calib.
    func text() throws -> (text: String, source: String)? {
        guard !noCalib else { return nil }
        guard let calib else { return (CalibrationText.standard, "built-in text") }
        guard let data = FileManager.default.contents(atPath: calib), let text = String(data: data, encoding: .utf8) else {
            throw InputError(file: calib, message: "cannot read the calibration text (missing, unreadable or not UTF-8)")
        }
        return (text, calib)
    }
}
