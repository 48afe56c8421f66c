import ObsCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Counts commits between their WAL write and their head update, and closes for good when the
/// store does: the head snapshot taken on close must see every commit the WAL holds, so it waits
/// until none is half done and lets no new one start.
final class CommitGate: Sendable {
    private let state = Mutex((open: true, running: 0))

    /// Registers a commit; throws once the store is closing.
    func enter() throws {
        try state.withLock { state in
            guard state.open else { throw CoreError.closed("metrics store") }
            state.running += 1
        }
    }

    func leave() {
        state.withLock { $0.running -= 1 }
    }

    /// Closes the gate and waits, up to `timeout`, for the commits under way. Returns whether they
    /// all finished (false also when the gate was already closed). Blocking.
    func closeAndDrain(timeout: Duration) -> Bool {
        let wasOpen = state.withLock { state in
            defer { state.open = false }
            return state.open
        }
        guard wasOpen else { return false }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while state.withLock({ $0.running }) > 0 {
            guard clock.now < deadline else { return false }
            usleep(1000)
        }
        return true
    }
}
