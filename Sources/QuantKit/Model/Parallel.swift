import Dispatch
import Foundation
import Synchronization

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
        perform(iterations: pieces) { piece in
            body((piece * count / pieces)..<((piece + 1) * count / pieces))
        }
    }

    /// `DispatchQueue.concurrentPerform` for bodies that write shared memory by design: every caller gives
    /// each iteration its own rows, chunk or tensors (disjoint memory), which the type system cannot see,
    /// and keeps any state the iterations share in an `Atomic` or a `Mutex`. The one place the body's
    /// captures are vouched for instead of checked.
    static func perform(iterations: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            let shared = SharedBody(body: body)
            DispatchQueue.concurrentPerform(iterations: iterations) { shared.body($0) }
        }
    }
}

/// See `Parallel.perform`.
private struct SharedBody: @unchecked Sendable {
    let body: (Int) -> Void
}
