import CQuantKernels

/// A histogram of |x| with quarter-octave bins over the whole Float range, mergeable by adding.
///
///     bin = |x| bit pattern >> 21 = exponent × 4 + top two mantissa bits
///     bin b covers [lowerEdge(b), lowerEdge(b + 1)), lowerEdge(b) = Float(bitPattern: b << 21)
///     i.e. edges at 2^e × {1, 1.25, 1.5, 1.75}; bin 0 holds zeros; NaNs are not binned
///
/// Counts at or above a threshold are exact when the threshold is a bin edge (…, 4, 5, 6, 7, 8, …
/// are all edges), else the bin holding the threshold is counted as a whole.
public struct LogHistogram: Sendable, Equatable {
    public static let binCount = Int(QK_HIST_BINS)
    public private(set) var counts: [UInt64]

    public init() { counts = [UInt64](repeating: 0, count: Self.binCount) }

    public init(counts: [UInt64]) {
        precondition(counts.count == Self.binCount)
        self.counts = counts
    }

    public static func bin(of value: Float) -> Int { Int((abs(value).bitPattern) >> 21) }
    public static func lowerEdge(of bin: Int) -> Float { Float(bitPattern: UInt32(bin) << 21) }

    public mutating func add(_ value: Float) {
        guard !value.isNaN else { return }
        counts[Self.bin(of: value)] += 1
    }

    public mutating func merge(_ other: LogHistogram) {
        for i in counts.indices { counts[i] += other.counts[i] }
    }

    public var total: UInt64 { counts.reduce(0, +) }

    /// Values with |x| ≥ threshold (see the type's note on exactness).
    public func count(atLeast threshold: Float) -> UInt64 {
        counts[Self.bin(of: threshold)...].reduce(0, +)
    }

    /// The non-empty span, for reports: first bin index and the counts from there to the last
    /// non-empty bin.
    public var span: (firstBin: Int, counts: [UInt64]) {
        guard let first = counts.firstIndex(where: { $0 > 0 }), let last = counts.lastIndex(where: { $0 > 0 }) else {
            return (0, [])
        }
        return (first, Array(counts[first...last]))
    }
}
