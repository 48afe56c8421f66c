import Synchronization

/// One task per item of a set that changes while it runs (rule groups, Alertmanagers): `run`
/// starts a task for each current item, and every `restart` cancels them all and starts again
/// with the items then current.
final class RestartingTasks: Sendable {
    private let wake = Mutex<AsyncStream<Void>.Continuation?>(nil)

    /// Makes a running `run` start over; does nothing when none runs.
    func restart() {
        _ = wake.withLock { $0 }?.yield()
    }

    /// Runs until cancelled. `stopping` runs after the tasks of one round were cancelled, to
    /// wake those that wait on something other than the task's cancellation.
    func run<Item: Sendable>(items: () -> [Item], each: @escaping @Sendable (Item) async -> Void,
                             stopping: () -> Void = {}) async {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wake.withLock { $0 = continuation }
        defer { wake.withLock { $0 = nil } }
        var updates = stream.makeAsyncIterator()
        while !Task.isCancelled {
            let current = items()
            await withTaskGroup(of: Void.self) { tasks in
                for item in current { tasks.addTask { await each(item) } }
                _ = await updates.next()
                tasks.cancelAll()
                stopping()
            }
        }
    }
}
