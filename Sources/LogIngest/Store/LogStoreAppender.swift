import NIOPosix
import ObsCore

/// Collects one batch for the log store and checks each entry against the store's limits as it
/// comes, so a refused entry is reported on its own and the rest of the batch is kept. Owned by one
/// request or tailer at a time.
struct LogStoreAppender: LogAppender {
    let store: LogStore
    /// Whether `commit` waits for the WAL to reach the disk.
    let syncs: Bool
    private var pending: [(stream: Labels, entry: LogEntry)] = []
    /// Newest time per stream in this batch, for the out-of-order window.
    private var batchNewest: [Labels: Int64] = [:]
    /// The stream of the last entry and its newest time, not yet in `batchNewest`.
    private var current: (stream: Labels, newest: Int64)?

    init(store: LogStore, syncs: Bool) {
        self.store = store
        self.syncs = syncs
    }

    mutating func append(_ stream: Labels, _ entry: LogEntry) throws(LogAppendError) {
        guard !stream.isEmpty else {
            store.counters.discarded.labels("invalid_labels").inc()
            throw .invalidStream(stream: stream, reason: "a stream needs at least one label")
        }
        let limit = store.options.maxLineSize
        if limit > 0 && entry.line.utf8.count > limit {
            store.counters.discarded.labels("line_too_long").inc()
            throw .lineTooLong(stream: stream, length: entry.line.utf8.count, limit: limit)
        }
        // Entries come in runs of one stream (the same label set, compared by identity first):
        // the stream's newest time is looked up once per run.
        if current?.stream != stream {
            if let current { batchNewest[current.stream] = current.newest }
            current = (stream, batchNewest[stream] ?? store.newest(of: stream) ?? .min)
        }
        let newest = current!.newest
        if newest != .min {
            let oldest = newest - store.options.outOfOrderWindow
            if entry.timestamp < oldest {
                store.counters.discarded.labels("too_far_behind").inc()
                throw .tooFarBehind(stream: stream, timestamp: entry.timestamp, oldest: oldest)
            }
        }
        current!.newest = max(newest, entry.timestamp)
        pending.append((stream, entry))
    }

    mutating func commit(positions: [TailPosition]) async throws {
        guard !pending.isEmpty || !positions.isEmpty else { return }
        let batch = pending
        let store = self.store
        let syncs = self.syncs
        try await NIOThreadPool.singleton.runIfActive { try store.commitBlocking(batch, positions: positions, sync: syncs) }
        rollback()
    }

    mutating func rollback() {
        pending.removeAll(keepingCapacity: true)
        batchNewest.removeAll(keepingCapacity: true)
        current = nil
    }
}
