import Logging
import NIOPosix
import ObsCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The log store: streams keyed by label set; entries appended to per-stream head blocks, cut at
/// `blockSize` and compressed with zstd; everything in memory written out as one immutable segment
/// per flush; a WAL so that committed entries and tail positions survive a crash. Format in
/// `Store/FORMAT.md`.
///
/// Thread-safe. Commits serialise on one lock held across the WAL write; queries copy what they
/// need from the head under a short lock and read segments without it.
public final class LogStore: LogQuerier, Sendable {
    public struct Options: Sendable {
        /// Entries per block before compression, in bytes (Loki's `chunk_block_size` default).
        public var blockSize = 256 << 10
        /// Memory held by head blocks that triggers a flush to a segment.
        public var flushBytes = 8 << 20
        /// Longest time, in milliseconds, an entry stays only in the head and the WAL.
        public var flushAge: Int64 = 5 * 60_000
        /// How far behind a stream's newest entry an entry may be, in nanoseconds (Loki accepts
        /// out-of-order writes within half of `max_chunk_age`, one hour by default).
        public var outOfOrderWindow: Int64 = 3_600_000_000_000
        /// Lines longer than this (bytes) are refused; 0 accepts any length.
        public var maxLineSize = 256 << 10
        /// Segments whose newest entry is older than this (nanoseconds) are deleted; 0 keeps them.
        public var retentionPeriod: Int64 = 0
        /// Oldest segments are deleted while all of them take more than this; 0 means no limit.
        public var retentionBytes = 0
        public var walSegmentSize = 64 << 20
        /// Loki's per-stream label limits (`max_label_name_length`, `max_label_value_length`,
        /// `max_label_names_per_series`, at Loki's defaults).
        public var maxLabelNameLength = 1024
        public var maxLabelValueLength = 2048
        public var maxLabelNamesPerStream = 15
        /// Streams with entries in the head at once (Loki's `max_global_streams_per_user` guards the
        /// same memory); entries of further new streams are refused until the next flush.
        public var maxActiveStreams = 10_000
        /// How long after a failed flush (a full disk, say) the next one is tried, in milliseconds.
        public var flushRetryInterval: Int64 = 10_000

        public init() {}
    }

    static let noLabels = Labels([Label]())

    struct State {
        var ids: [Labels: UInt64] = [:]
        var labels: [UInt64: Labels] = [:]
        var nextID: UInt64 = 1
        var heads: [UInt64: HeadStream] = [:]
        var segments: [LogSegment] = []
        var nextSegment = 1
        /// Newest committed position per tailed file.
        var positions: [String: TailPosition] = [:]
        var memoryBytes = 0
        /// Wall-clock milliseconds of the first entry not yet in a segment.
        var unflushedSince: Int64?
        /// Streams whose label set the current WAL generation records: a WAL that outlives the
        /// segments naming its streams must still say what they are.
        var loggedStreams = Set<UInt64>()
        /// Entries and line bytes stored per stream since the process started, for the per-stream
        /// rate counters.
        var streamCounts: [UInt64: (entries: Int, bytes: Int)] = [:]
        /// When the last flush failed (wall-clock milliseconds) and why: flushes are retried at
        /// most every `Options.flushRetryInterval`, and the head refuses entries once it holds too much.
        var flushFailedAt: Int64?
        var flushFailure = ""
        var closed = false
    }

    let options: Options
    let directory: String
    let segmentDirectory: String
    let wal: RecordLog<LogWALRecord>
    private let observers = Mutex<[any LogCommitObserver]>([])
    let logger: Logger
    let counters: LogStoreCounters
    let state = Mutex(State())
    /// While flushes fail, the head may grow to this many times `flushBytes`; then commits are
    /// refused, before anything reaches the WAL, until a flush succeeds.
    static let headOverflowFactor = 4
    /// Serialises commits with each other and with the start of a flush, so the WAL holds a
    /// commit's records in the order they are applied.
    private let commitGate = Mutex(())
    /// Serialises flushes (taken before `commitGate`, never inside it).
    private let flushGate = Mutex(())

    /// Opens (or creates) the store in `directory`: reads every segment's index, then replays the
    /// WAL into the head. Blocking.
    public init(directory: String, options: Options = Options(), metrics: MetricsRegistry, logger: Logger) throws {
        self.options = options
        self.directory = directory
        self.logger = logger
        segmentDirectory = directory + "/segments"
        try FileIO.makeDirectories(segmentDirectory)
        wal = try RecordLog(directory: directory + "/wal", segmentSize: options.walSegmentSize)
        counters = LogStoreCounters(metrics)
        try load()
        metrics.addCollector { [weak self] writer in self?.collectGauges(into: &writer) }
    }

    /// Opens the store on a thread that may block.
    public static func open(directory: String, options: Options = Options(), metrics: MetricsRegistry,
                            logger: Logger) async throws -> LogStore {
        try await NIOThreadPool.singleton.runIfActive {
            try LogStore(directory: directory, options: options, metrics: metrics, logger: logger)
        }
    }

    /// A damaged segment is set aside, not deleted: what it still holds can be recovered by hand.
    private func moveAside(_ path: String, _ error: any Error) {
        logger.error("Log segment damaged; moved aside", metadata: ["file": "\(path)", "err": "\(error)"])
        rename(path, path + ".corrupt")
        counters.segmentsSetAside.inc()
    }

    /// Takes a segment whose blocks turned out damaged when read out of service; queries go on with
    /// the rest of the store. Once only, however many reads found it.
    func setAside(_ segment: LogSegment, _ error: any Error) {
        let removed = state.withLock { state -> Bool in
            guard let index = state.segments.firstIndex(where: { $0.sequence == segment.sequence }) else { return false }
            state.segments.remove(at: index)
            return true
        }
        if removed { moveAside(segment.path, error) }
    }

    private func load() throws {
        var segments: [LogSegment] = []
        for name in try FileIO.listDirectory(segmentDirectory).sorted() {
            let path = segmentDirectory + "/" + name
            if name.hasSuffix(".tmp") {
                unlink(path)
                continue
            }
            guard name.hasSuffix(".seg"), let sequence = Int(name.dropLast(4)) else { continue }
            do {
                segments.append(try LogSegment.open(path: path, sequence: sequence))
            } catch {
                moveAside(path, error)
            }
        }
        let segmentsLoaded = segments
        state.withLock { state in
            for segment in segmentsLoaded {
                for (id, set) in segment.streams { state.register(id: id, labels: set) }
                for position in segment.positions { state.positions[position.path] = position }
                state.nextSegment = max(state.nextSegment, segment.sequence + 1)
            }
            state.segments = segmentsLoaded
        }
        let blockSize = options.blockSize
        var replayed = 0
        let report = try wal.replay { record in
            state.withLock { state in
                switch record {
                case let .streams(streams):
                    for stream in streams {
                        state.register(id: stream.id, labels: stream.labels)
                        state.loggedStreams.insert(stream.id)
                    }
                case let .entries(entries, positions):
                    for item in entries {
                        guard let set = state.labels[item.stream] else { continue }
                        state.apply(item.entry, stream: item.stream, labels: set, blockSize: blockSize)
                        replayed += 1
                    }
                    for position in positions { state.positions[position.path] = position }
                }
            }
        }
        if let damage = report.damage {
            logger.warning("Log WAL damaged; dropped everything after the last good record", metadata: [
                "file": "\(damage.file)", "offset": "\(damage.offset)", "reason": "\(damage.reason)",
            ])
        }
        if replayed > 0 { state.withLock { $0.unflushedSince = WallClock.milliseconds() } }
        logger.info("Log store opened", metadata: [
            "segments": "\(segmentsLoaded.count)", "wal_entries": "\(replayed)", "path": "\(directory)",
        ])
    }

    // MARK: Appending

    /// An appender whose `commit` returns once the WAL is on disk.
    public func appender() -> any LogAppender {
        LogStoreAppender(store: self, syncs: true)
    }

    /// Adds an observer of every later commit.
    public func addCommitObserver(_ observer: any LogCommitObserver) {
        observers.withLock { $0.append(observer) }
    }

    /// The newest entry time of `stream`, if the store has it.
    func newest(of stream: Labels) -> Int64? {
        state.withLock { state in state.ids[stream].flatMap { state.heads[$0]?.newest } }
    }

    /// Whether the head has room for `stream` when `arriving` other new streams come with it.
    func hasRoom(for stream: Labels, arriving: Int) -> Bool {
        state.withLock { state in
            if let id = state.ids[stream], state.heads[id] != nil { return true }
            return state.heads.count + arriving < options.maxActiveStreams
        }
    }

    /// Logs `entries` and `positions` to the WAL, then applies them. Blocking.
    func commitBlocking(_ entries: [(stream: Labels, entry: LogEntry)], positions: [TailPosition], sync: Bool) throws {
        let due = try commitGate.withLock { _ -> Bool in
            let (records, ids) = try state.withLock { state -> ([LogWALRecord], [UInt64]) in
                guard !state.closed else { throw LogIngestError.closed }
                guard state.flushFailedAt == nil || state.memoryBytes < options.flushBytes * Self.headOverflowFactor else {
                    throw LogIngestError.unavailable("the log store cannot write segments (\(state.flushFailure)); entries are refused until it can")
                }
                var created: [(id: UInt64, labels: Labels)] = []
                var ids: [UInt64] = []
                ids.reserveCapacity(entries.count)
                // Entries come in runs of one stream: the id is looked up once per run.
                var run: (labels: Labels, id: UInt64)?
                for item in entries {
                    if let run, run.labels == item.stream {
                        ids.append(run.id)
                        continue
                    }
                    let id = state.ids[item.stream] ?? state.nextID
                    if state.ids[item.stream] == nil { state.register(id: id, labels: item.stream) }
                    // Marked as logged only once the WAL write succeeded (below).
                    if !state.loggedStreams.contains(id) && !created.contains(where: { $0.id == id }) {
                        created.append((id, item.stream))
                    }
                    ids.append(id)
                    run = (item.stream, id)
                }
                var records: [LogWALRecord] = created.isEmpty ? [] : [.streams(created)]
                records.append(.entries(zip(ids, entries).map { WALLogEntry(stream: $0.0, entry: $0.1.entry) }, positions: positions))
                return (records, ids)
            }
            // Inside the commit gate, so observers see batches in the order the WAL has them.
            let observing = observers.withLock { $0 }
            do {
                try prepareEach(observing, { try $0.willCommit(entries, sync: sync) }, undo: { $0.didCommit(logged: false) })
            } catch {
                throw LogIngestError.unavailable("forwarding cannot keep the entries (\(error)); entries are refused until it can")
            }
            do {
                try wal.log(records, sync: sync)
            } catch {
                for observer in observing { observer.didCommit(logged: false) }
                throw error
            }
            for observer in observing { observer.didCommit(logged: true) }
            if case let .streams(created) = records.first {
                state.withLock { state in for stream in created { state.loggedStreams.insert(stream.id) } }
            }
            let blockSize = options.blockSize
            let applied = state.withLock { state -> Int in
                var applied = 0
                for (id, item) in zip(ids, entries) where state.apply(item.entry, stream: id, labels: item.stream, blockSize: blockSize) {
                    applied += 1
                }
                for position in positions { state.positions[position.path] = position }
                if applied > 0 && state.unflushedSince == nil { state.unflushedSince = WallClock.milliseconds() }
                return applied
            }
            counters.entries.inc(Double(applied))
            counters.bytes.inc(Double(entries.reduce(0) { $0 + $1.entry.line.utf8.count }))
            return state.withLock { self.flushDue($0, now: WallClock.milliseconds()) && $0.memoryBytes >= options.flushBytes }
        }
        // Memory stays bounded however fast entries arrive: the committing thread flushes. The
        // entries are in the WAL already, so a failed flush does not fail this commit.
        if due {
            do {
                try flush()
            } catch {
                logger.error("Log segment flush failed; entries stay in the WAL and the head", metadata: ["err": "\(error)"])
            }
        }
    }

    /// The committed position of every tailed file the store has seen.
    public func positions() -> [String: TailPosition] {
        state.withLock { $0.positions }
    }

    // MARK: Flushing and retention

    /// Writes a segment when the head holds enough or has held something long enough, and applies
    /// retention. Blocking; call it periodically.
    public func maintain() throws {
        let now = WallClock.milliseconds()
        let due = state.withLock { state in
            flushDue(state, now: now) && (state.memoryBytes >= options.flushBytes
                || (state.unflushedSince.map { now - $0 >= options.flushAge } ?? false))
        }
        if due { try flush() }
        try applyRetention()
    }

    /// Whether a flush may be tried now: not within `Options.flushRetryInterval` of a failed one.
    private func flushDue(_ state: State, now: Int64) -> Bool {
        state.flushFailedAt.map { now - $0 >= options.flushRetryInterval } ?? true
    }

    /// Cuts every head block and writes everything in memory as one segment; the WAL before it is
    /// then dropped. Blocking.
    public func flush() throws {
        // One flush at a time: a later flush must not drop WAL files an earlier one still needs.
        try flushGate.withLock { _ in try flushLocked() }
    }

    private func flushLocked() throws {
        let (blocks, labels, positions, closedSegment, sequence) = try commitGate.withLock { _ in
            // The WAL moves on first: if even that fails (a full disk), the head is left as it was.
            let closedSegment = try wal.rotate()
            let taken = state.withLock { state -> ([LogBlock], [UInt64: Labels], [TailPosition], Int) in
                var blocks: [LogBlock] = []
                var labels: [UInt64: Labels] = [:]
                for id in state.heads.keys {
                    state.heads[id]!.cutOpen()
                    blocks += state.heads[id]!.cut
                    labels[id] = state.heads[id]!.labels
                }
                state.heads.removeAll()
                state.loggedStreams.removeAll()
                state.memoryBytes = 0
                state.unflushedSince = nil
                let sequence = state.nextSegment
                state.nextSegment += 1
                return (blocks, labels, Array(state.positions.values), sequence)
            }
            return (taken.0, taken.1, taken.2, closedSegment, taken.3)
        }
        guard !blocks.isEmpty || !positions.isEmpty else {
            try wal.removeSegments(through: closedSegment)
            return
        }
        let segment: LogSegment
        do {
            segment = try LogSegment.write(directory: segmentDirectory, sequence: sequence, blocks: blocks,
                                           labels: labels, positions: positions)
        } catch {
            // The blocks go back to the head; the WAL still holds them for a restart.
            state.withLock { state in
                for block in blocks {
                    if state.heads[block.stream] == nil, let set = labels[block.stream] {
                        state.heads[block.stream] = HeadStream(id: block.stream, labels: set)
                    }
                    state.heads[block.stream]?.cut.append(block)
                    state.memoryBytes += block.bytes.count
                }
                if state.unflushedSince == nil { state.unflushedSince = WallClock.milliseconds() }
                state.flushFailedAt = WallClock.milliseconds()
                state.flushFailure = "\(error)"
            }
            throw error
        }
        state.withLock { state in
            state.segments.append(segment)
            state.flushFailedAt = nil
        }
        try wal.removeSegments(through: closedSegment)
        counters.segmentsWritten.inc()
        logger.debug("Log segment written", metadata: [
            "file": "\(segment.path)", "blocks": "\(blocks.count)", "bytes": "\(segment.size)",
        ])
    }

    private func applyRetention() throws {
        let now = WallClock.milliseconds() * 1_000_000
        let doomed = state.withLock { state -> [LogSegment] in
            var doomed: [LogSegment] = []
            if options.retentionPeriod > 0 {
                doomed = state.segments.filter { $0.maxTime < now - options.retentionPeriod }
            }
            if options.retentionBytes > 0 {
                var total = state.segments.reduce(0) { $0 + $1.size }
                for segment in state.segments.sorted(by: { $0.sequence < $1.sequence }) where total > options.retentionBytes {
                    if !doomed.contains(where: { $0 === segment }) { doomed.append(segment) }
                    total -= segment.size
                }
            }
            // Positions live in segments too: the newest segment is kept while its positions matter.
            if let newest = state.segments.max(by: { $0.sequence < $1.sequence }), !newest.positions.isEmpty {
                doomed.removeAll { $0 === newest }
            }
            state.segments.removeAll { segment in doomed.contains { $0 === segment } }
            return doomed
        }
        for segment in doomed {
            unlink(segment.path)
            counters.segmentsDeleted.inc()
        }
        if !doomed.isEmpty { try FileIO.syncDirectory(segmentDirectory) }
    }

    /// Flushes the head into a segment and closes the WAL. Later commits fail. Blocking.
    public func close() {
        do {
            try flush()
        } catch {
            logger.error("Flushing the log store on close failed; the WAL keeps its entries", metadata: ["err": "\(error)"])
        }
        commitGate.withLock { _ in
            state.withLock { $0.closed = true }
            wal.shutdown()
        }
    }

    private func collectGauges(into writer: inout ExpositionWriter) {
        let (raw, stored, count, memory, perStream) = state.withLock { state in
            (state.segments.reduce(0) { $0 + $1.blocks.reduce(0) { $0 + $1.rawLength } },
             state.segments.reduce(0) { $0 + $1.size }, state.segments.count, state.memoryBytes,
             state.streamCounts.compactMap { id, counts in state.labels[id].map { ($0.description, counts) } })
        }
        let sorted = perStream.sorted { $0.0 < $1.0 }
        writer.header(name: "obs_logs_store_stream_entries_total", help: "Log entries stored per stream.", type: "counter")
        for (stream, counts) in sorted {
            writer.sample(name: "obs_logs_store_stream_entries_total", labelNames: ["stream"], labelValues: [stream],
                          value: Double(counts.entries))
        }
        writer.header(name: "obs_logs_store_stream_bytes_total", help: "Bytes of log lines stored per stream.", type: "counter")
        for (stream, counts) in sorted {
            writer.sample(name: "obs_logs_store_stream_bytes_total", labelNames: ["stream"], labelValues: [stream],
                          value: Double(counts.bytes))
        }
        func gauge(_ name: String, _ help: String, _ value: Double) {
            writer.header(name: name, help: help, type: "gauge")
            writer.sample(name: name, value: value)
        }
        gauge("obs_logs_store_segments", "Log segments on disk.", Double(count))
        gauge("obs_logs_store_segment_bytes", "Bytes of log segments on disk.", Double(stored))
        gauge("obs_logs_store_head_bytes", "Bytes of log entries held in memory before a flush.", Double(memory))
        gauge("obs_logs_store_compression_ratio", "Encoded entry bytes per stored byte over all segments.",
              stored > 0 ? Double(raw) / Double(stored) : 0)
    }
}

extension LogStore.State {
    mutating func register(id: UInt64, labels set: Labels) {
        ids[set] = id
        labels[id] = set
        nextID = max(nextID, id + 1)
    }

    /// Adds an entry to its stream's head; false for an exact re-send of the newest entry.
    @discardableResult
    mutating func apply(_ entry: LogEntry, stream id: UInt64, labels set: Labels, blockSize: Int) -> Bool {
        if heads[id] == nil { heads[id] = HeadStream(id: id, labels: set) }
        let (appended, delta) = heads[id]!.accept(entry, blockSize: blockSize)
        memoryBytes += delta
        if appended {
            let counts = streamCounts[id] ?? (0, 0)
            streamCounts[id] = (counts.entries + 1, counts.bytes + entry.line.utf8.count)
        }
        return appended
    }
}

/// The store's self metrics.
struct LogStoreCounters: Sendable {
    let entries: Counter
    let bytes: Counter
    let discarded: CounterFamily
    let segmentsWritten: Counter
    let segmentsDeleted: Counter
    let segmentsSetAside: Counter

    init(_ metrics: MetricsRegistry) {
        entries = metrics.counter("obs_logs_store_entries_total", help: "Log entries stored.").labels()
        bytes = metrics.counter("obs_logs_store_line_bytes_total", help: "Bytes of log lines stored.").labels()
        discarded = metrics.counter("obs_logs_store_discarded_entries_total", help: "Log entries refused, by reason.",
                                    labelNames: ["reason"])
        segmentsWritten = metrics.counter("obs_logs_store_segments_written_total", help: "Log segments written.").labels()
        segmentsDeleted = metrics.counter("obs_logs_store_segments_deleted_total", help: "Log segments deleted by retention.").labels()
        segmentsSetAside = metrics.counter("obs_logs_store_segments_corrupt_total",
                                           help: "Damaged log segments moved aside (renamed *.corrupt), at startup or when a read found the damage.").labels()
    }
}
