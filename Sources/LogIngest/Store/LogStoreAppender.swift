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
    /// Streams this batch admitted that the head does not hold yet, and those it refused.
    private var arriving = Set<Labels>()
    private var refused: [Labels: LogAppendError] = [:]

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
            if let refusal = refused[stream] ?? admit(stream) {
                refused[stream] = refusal
                throw refusal
            }
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

    /// Loki's stream limits, checked once per run of a stream: nil when it may be stored.
    private mutating func admit(_ stream: Labels) -> LogAppendError? {
        let options = store.options
        var refusal: (reason: String, counter: String)?
        if stream.count > options.maxLabelNamesPerStream {
            refusal = ("stream '\(stream)' has \(stream.count) label names; limit \(options.maxLabelNamesPerStream)", "max_label_names_per_series")
        } else if let label = stream.first(where: { $0.name.utf8.count > options.maxLabelNameLength }) {
            refusal = ("stream '\(stream)' has label name too long: '\(label.name)'", "label_name_too_long")
        } else if let label = stream.first(where: { $0.value.utf8.count > options.maxLabelValueLength }) {
            refusal = ("stream '\(stream)' has label value too long: '\(label.value)'", "label_value_too_long")
        } else if batchNewest[stream] == nil, !arriving.contains(stream) {
            guard store.hasRoom(for: stream, arriving: arriving.count) else {
                store.counters.discarded.labels("stream_limit").inc()
                return .refused(reason: "Maximum active stream limit exceeded, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: 'fake'")
            }
            if store.newest(of: stream) == nil { arriving.insert(stream) }
        }
        guard let refusal else { return nil }
        store.counters.discarded.labels(refusal.counter).inc()
        return .refused(reason: refusal.reason)
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
        arriving.removeAll(keepingCapacity: true)
        refused.removeAll(keepingCapacity: true)
        current = nil
    }
}
