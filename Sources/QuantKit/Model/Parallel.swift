import Dispatch
import Foundation

/// Spreads the element-wise parts of the forward pass (norms, rotations, softmax, activations) over the
/// cores; OpenBLAS threads the matrix products itself. Small jobs run inline — a dispatch costs
/// microseconds.
enum Parallel {
    static let workers = ProcessInfo.processInfo.activeProcessorCount

    /// Calls `body` with disjoint ranges that together cover 0..<count, each about `grain` items or more,
    /// possibly at the same time on several threads.
    static func forEach(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        let pieces = min(workers * 2, count / max(grain, 1))
        guard pieces > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: pieces) { piece in
            body((piece * count / pieces)..<((piece + 1) * count / pieces))
        }
    }
}
