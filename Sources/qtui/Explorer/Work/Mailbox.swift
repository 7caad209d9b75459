import Foundation
import Synchronization

/// Reports from background threads to the event loop, which drains them between keys, so the keyboard
/// never waits for background work.
final class Mailbox<Event: Sendable>: Sendable {
    private let events = Mutex<[Event]>([])

    func post(_ event: Event) {
        events.withLock { $0.append(event) }
    }

    func drain() -> [Event] {
        events.withLock { events in
            defer { events.removeAll() }
            return events
        }
    }
}

/// Runs `body` on its own thread with a roomy stack (the analysis recurses through Dispatch).
func startThread(_ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.stackSize = 1 << 22
    thread.start()
}
