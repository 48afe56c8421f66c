import Synchronization

/// Where time-driven services read the time and wait for it: the system clock in the daemon, a
/// manual clock in tests, so `for`, `keep_firing_for` and resend delays are tested without sleeping.
public protocol TimeSource: Sendable {
    /// Milliseconds since the epoch.
    func now() -> Int64
    /// Returns once `now()` has reached `time` (milliseconds); throws `CancellationError` when the
    /// task is cancelled first.
    func sleep(until time: Int64) async throws
}

/// The system's wall clock.
public struct SystemTimeSource: TimeSource {
    public init() {}

    public func now() -> Int64 { WallClock.milliseconds() }

    public func sleep(until time: Int64) async throws {
        let wait = time - now()
        if wait > 0 { try await Task.sleep(for: .milliseconds(wait)) }
        try Task.checkCancellation()
    }
}

/// A clock that moves only when told to. Sleepers wake, in deadline order, as `advance` passes
/// their deadlines.
public final class ManualTimeSource: TimeSource {
    struct Sleeper {
        var id: Int
        var deadline: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    struct State {
        var now: Int64
        var sleepers: [Sleeper] = []
        var nextID = 0
    }

    let state: Mutex<State>

    public init(now: Int64) {
        state = Mutex(State(now: now))
    }

    public func now() -> Int64 { state.withLock { $0.now } }

    /// How many tasks are waiting; tests wait for this to reach the expected count before advancing.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until time: Int64) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLock { state in
                    if time <= state.now { return true }
                    if Task.isCancelled { return true }
                    state.sleepers.append(Sleeper(id: id, deadline: time, continuation: continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            try Task.checkCancellation()
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock to `time` and wakes every sleeper whose deadline it reached.
    public func advance(to time: Int64) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = max(state.now, time)
            let due = state.sleepers.filter { $0.deadline <= state.now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= state.now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    public func advance(by milliseconds: Int64) {
        advance(to: now() + milliseconds)
    }
}
