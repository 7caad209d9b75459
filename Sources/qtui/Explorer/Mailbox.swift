import Foundation

/// Events from a background thread to the event loop, and a cancel flag the other way. The loop
/// drains it between keys, so the keyboard never waits for background work.
final class Mailbox<Event>: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [Event] = []
    private var cancelled = false

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

    func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
    }

    var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }
}

/// Runs `body` on its own thread with a roomy stack (the analysis recurses through Dispatch).
func startThread(_ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.stackSize = 1 << 22
    thread.start()
}
