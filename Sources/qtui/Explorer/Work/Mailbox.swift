import Foundation

/// Reports from background threads to the event loop, which drains them between keys, so the keyboard
/// never waits for background work.
final class Mailbox<Event>: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [Event] = []

    func post(_ event: Event) {
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    func drain() -> [Event] {
        lock.lock()
        defer { lock.unlock() }
        let drained = events
        events.removeAll()
        return drained
    }
}

/// Runs `body` on its own thread with a roomy stack (the analysis recurses through Dispatch).
func startThread(_ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.stackSize = 1 << 22
    thread.start()
}
