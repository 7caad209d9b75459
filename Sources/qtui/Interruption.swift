import Foundation
import Synchronization

/// Ctrl-C (SIGINT) and SIGTERM during a command that writes: the handler only records the signal; the
/// work polls `requested`, cancels and cleans up (an export removes its partial folder), and `Main`
/// exits with 128 + the signal's number. A second signal ends the process at once (default action).
enum Interruption {
    private static let received = Atomic<Int32>(0)

    static func install() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { number in
                // Async-signal-safe only: a lock-free store and signal().
                Interruption.received.store(number, ordering: .relaxed)
                signal(number, SIG_DFL)
            }
        }
    }

    @Sendable static func requested() -> Bool { received.load(ordering: .relaxed) != 0 }

    /// The signal that interrupted the work, if any.
    static var signalNumber: Int32? {
        let number = received.load(ordering: .relaxed)
        return number == 0 ? nil : number
    }
}
