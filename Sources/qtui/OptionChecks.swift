import ArgumentParser
import QuantKit

/// The checks of options several commands share, so each says the same thing wherever it is given.
enum OptionChecks {
    static func blocksize(_ value: Int) throws {
        guard FourBitQuantized.blocksizes.contains(value) else {
            throw ValidationError("--blocksize must be one of \(FourBitQuantized.blocksizes.map(String.init).joined(separator: ", "))")
        }
    }

    /// One range for every command and the explorer, so a threshold `scan` accepts can also be explored.
    static func threshold(_ value: Float) throws {
        guard ThresholdRange.contains(value) else { throw ValidationError("--threshold must be from \(ThresholdRange.description)") }
    }

    static func threads(_ value: Int) throws {
        guard value >= 1 else { throw ValidationError("--threads must be at least 1") }
    }
}
