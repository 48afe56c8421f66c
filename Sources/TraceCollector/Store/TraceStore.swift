#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import ObsCore
import Synchronization

/// Settings of the trace store.
public struct TraceStoreOptions: Sendable {
    /// Head size (OTLP bytes) that triggers a flush to a segment.
    public var flushBytes = 16 << 20
    /// Age of the oldest unflushed span that triggers a flush, in seconds.
    public var flushAge: Int64 = 300
    /// Bytes of traces per block before compression.
    public var blockSize = 256 << 10
    /// Segments whose newest span is older than this are deleted; 0 keeps them.
    public var retention: Int64 = 0
    /// Segments beyond this many bytes in total are deleted, oldest first; 0 for no limit.
    public var retentionBytes = 0

    public init() {}
}

/// Stores spans: each accepted export goes to the WAL (fsynced before `append` returns) and the head,
/// an in-memory map from trace id to the fragments received; a flush writes the head as a segment of
/// traces sorted by id and drops the WAL it covers. Reads merge a trace's fragments from the head and
/// every segment, so spans of one trace that arrive over minutes, from several services, come back
/// together. Thread-safe; the blocking methods do disk I/O and must not run on the cooperative pool.
public final class TraceStore: Sendable {
    struct Head {
        /// Per trace, the OTLP fragments received, as bytes.
        var traces: [TraceID: [ByteBuffer]] = [:]
        var summaries: [TraceID: TraceSummary] = [:]
        var terms: [TraceID: [IndexTerm]] = [:]
        var bytes = 0
        var oldestArrival: Int64?
    }

    struct State {
        var head = Head()
        var segments: [TraceSegment] = []
        var nextSequence = 1
        var closed = false
    }

    let directory: String
    let segmentDirectory: String
    let options: TraceStoreOptions
    let wal: RecordLog<TraceWALRecord>
    let state: Mutex<State>
    /// Serialises WAL writes with the head handover of a flush, so no record is in the WAL but
    /// missing from both the head snapshot and the next head.
    let commitGate = Mutex(())
    private let observers = Mutex<[any TraceCommitObserver]>([])
    let flushGate = Mutex(())
    let logger: Logger

    public init(directory: String, options: TraceStoreOptions = TraceStoreOptions(), logger: Logger) throws {
        self.directory = directory
        self.options = options
        self.logger = logger
        segmentDirectory = directory + "/segments"
        do {
            try FileIO.makeDirectories(segmentDirectory)
        } catch {
            throw TraceStoreError.io("cannot create \(segmentDirectory): \(error)")
        }
        var state = State()
        for name in try FileIO.listDirectory(segmentDirectory).sorted() where name.hasSuffix(".seg") {
            let path = segmentDirectory + "/" + name
            guard let sequence = Int(name.dropLast(4)) else { continue }
            do {
                state.segments.append(try TraceSegment.open(path: path, sequence: sequence))
            } catch {
                // Kept aside for inspection; the rest of the store stays readable.
                logger.error("Damaged trace segment set aside", metadata: ["path": "\(path)", "error": "\(error)"])
                rename(path, path + ".corrupt")
            }
            state.nextSequence = max(state.nextSequence, sequence + 1)
        }
        wal = try RecordLog<TraceWALRecord>(directory: directory + "/wal")
        // WAL segments a segment file already holds go first (a crash can come between writing the
        // file and removing them); the rest is replayed into the head.
        if let covered = state.segments.map(\.walThrough).max() { try wal.removeSegments(through: covered) }
        var replayed = 0
        let report = try wal.replay { record in
            var split = SplitExport()
            for fragment in record.fragments {
                let part = try OTLPSplitter.split(fragment.bytes)
                split.spans += part.spans
                split.terms.merge(part.terms) { $0 + $1 }
            }
            Self.add(record.fragments, split, to: &state.head)
            replayed += split.spans.count
        }
        if let damage = report.damage {
            logger.warning("Trace WAL damaged; dropped everything after the last good record",
                           metadata: ["file": "\(damage.file)", "offset": "\(damage.offset)", "reason": "\(damage.reason)"])
        }
        if replayed > 0 { state.head.oldestArrival = WallClock.milliseconds() }
        self.state = Mutex(state)
        logger.info("Trace store opened", metadata: ["path": "\(directory)", "segments": "\(state.segments.count)",
                                                      "wal_spans": "\(replayed)"])
    }

    static func add(_ fragments: [(id: TraceID, bytes: ByteBuffer)], _ export: SplitExport, to head: inout Head) {
        for fragment in fragments {
            head.traces[fragment.id, default: []].append(fragment.bytes)
            head.bytes += fragment.bytes.readableBytes + 32
        }
        for (id, terms) in export.terms { head.terms[id, default: []] += terms }
        for (id, summary) in TraceSummary.of(export.spans) {
            if head.summaries[id] == nil { head.summaries[id] = summary } else { head.summaries[id]!.merge(summary) }
        }
    }

    /// Adds an observer of every later commit.
    public func addCommitObserver(_ observer: any TraceCommitObserver) {
        observers.withLock { $0.append(observer) }
    }

    /// Stores an export split by trace durably: when this returns, a crash loses none of it. Blocking.
    public func append(_ export: SplitExport) throws {
        guard !export.fragments.isEmpty else { return }
        // Each fragment is copied out of the request's buffer so the head does not keep whole requests.
        let fragments = export.fragments.map { (id: $0.key, bytes: ByteBuffer(buffer: $0.value)) }
        try commitGate.withLock { _ in
            guard !state.withLock({ $0.closed }) else { throw TraceStoreError.closed }
            // Inside the commit gate, so observers see exports in WAL order.
            let observing = observers.withLock { $0 }
            let requests = fragments.map(\.bytes)
            do {
                try prepareEach(observing, { try $0.willCommit(requests, spans: export.spanCount, sync: true) }, undo: { $0.didCommit(logged: false) })
            } catch {
                throw TraceStoreError.io("forwarding cannot keep the spans (\(error)); spans are refused until it can")
            }
            do {
                try wal.log([TraceWALRecord(fragments: fragments)])
            } catch {
                for observer in observing { observer.didCommit(logged: false) }
                throw error
            }
            for observer in observing { observer.didCommit(logged: true) }
            state.withLock { state in
                Self.add(fragments, export, to: &state.head)
                if state.head.oldestArrival == nil { state.head.oldestArrival = WallClock.milliseconds() }
            }
        }
        if state.withLock({ $0.head.bytes >= options.flushBytes }) { try flush() }
    }

    /// Stores decoded spans (encoded and split first). Blocking.
    public func append(_ batches: [ResourceSpans]) throws {
        guard !batches.isEmpty else { return }
        try append(try OTLPSplitter.split(OTLPEncoder.encode(batches)))
    }

    /// Writes the head as a segment when it is big or old enough, then applies retention. Blocking.
    public func maintain() throws {
        let due = state.withLock { state -> Bool in
            guard let oldest = state.head.oldestArrival else { return false }
            return state.head.bytes >= options.flushBytes || WallClock.milliseconds() - oldest >= options.flushAge * 1000
        }
        if due { try flush() }
        try applyRetention()
    }

    /// Writes everything in the head to a new segment and drops the WAL segments it covers.
    public func flush() throws {
        try flushGate.withLock { _ in
            let (head, walThrough, sequence) = try commitGate.withLock { _ -> (Head, Int, Int) in
                // Records up to the closed WAL segment are exactly those in the head taken here.
                let closedSegment = try wal.rotate()
                return state.withLock { state in
                    let head = state.head
                    state.head = Head()
                    let sequence = state.nextSequence
                    state.nextSequence += 1
                    return (head, closedSegment, sequence)
                }
            }
            guard !head.traces.isEmpty else {
                try wal.removeSegments(through: walThrough)
                return
            }
            let traces = head.traces.keys.sorted().map { id in
                (id: id, fragments: head.traces[id]!, summary: head.summaries[id]!, terms: head.terms[id] ?? [])
            }
            do {
                let segment = try TraceSegment.write(directory: segmentDirectory, sequence: sequence, traces: traces,
                                                     walThrough: walThrough, blockSize: options.blockSize)
                state.withLock { $0.segments.append(segment) }
                try wal.removeSegments(through: walThrough)
                logger.debug("Trace head flushed", metadata: ["segment": "\(segment.path)", "traces": "\(traces.count)"])
            } catch {
                // The WAL still holds the head: put it back so reads see it until the next try.
                state.withLock { state in
                    for (id, terms) in head.terms { state.head.terms[id, default: []] += terms }
                    for (id, fragments) in head.traces {
                        state.head.traces[id, default: []] = fragments + (state.head.traces[id] ?? [])
                        if let summary = head.summaries[id] {
                            if state.head.summaries[id] == nil { state.head.summaries[id] = summary } else { state.head.summaries[id]!.merge(summary) }
                        }
                    }
                    state.head.bytes += head.bytes
                    state.head.oldestArrival = min(state.head.oldestArrival ?? .max, head.oldestArrival ?? .max)
                }
                throw error
            }
        }
    }

    func applyRetention() throws {
        let doomed = state.withLock { state -> [TraceSegment] in
            var doomed: [TraceSegment] = []
            if options.retention > 0 {
                let cutoff = UInt64(max(0, WallClock.milliseconds() - options.retention * 1000)) * 1_000_000
                doomed += state.segments.filter { $0.maxTime < cutoff }
            }
            if options.retentionBytes > 0 {
                var total = state.segments.reduce(0) { $0 + $1.size }
                for segment in state.segments.sorted(by: { $0.sequence < $1.sequence }) where total > options.retentionBytes {
                    if !doomed.contains(where: { $0.sequence == segment.sequence }) { doomed.append(segment) }
                    total -= segment.size
                }
            }
            let gone = Set(doomed.map(\.sequence))
            state.segments.removeAll { gone.contains($0.sequence) }
            return doomed
        }
        for segment in doomed { unlink(segment.path) }
    }

    /// Every fragment of trace `id`, from the head and the segments, oldest segment first; nil when
    /// nothing of it is stored. Blocking.
    public func trace(_ id: TraceID) throws -> [ResourceSpans]? {
        let (fragments, segments) = state.withLock { state in (state.head.traces[id], state.segments) }
        var result: [ResourceSpans] = []
        let decoder = ZstdDecoder()
        for segment in segments {
            guard let position = segment.position(of: id) else { continue }
            for (_, batches) in try segment.traces(inBlock: segment.blockOf[position], decoder: decoder, only: id) { result += batches }
        }
        for fragment in fragments ?? [] { result += try OTLPProtobuf.decode(fragment).batches }
        return result.isEmpty ? nil : result
    }

    /// Visits the stored fragments of every trace overlapping `[start, end]` (nanoseconds), the
    /// head first, then segments newest first, decompressing each block once; `visit` returns false
    /// to stop. A trace stored in several places is visited once per place. Blocking.
    public func scan(start: UInt64, end: UInt64, _ visit: (TraceSummary, [ResourceSpans]) throws -> Bool) throws {
        try scan(start: start, end: end, candidates: .all, visit)
    }

    /// `scan` over the traces the search index allows for `candidates` only.
    func scan(start: UInt64, end: UInt64, candidates: Candidates, _ visit: (TraceSummary, [ResourceSpans]) throws -> Bool) throws {
        let (head, summaries, headTerms, segments) = state.withLock { state in
            (state.head.traces, state.head.summaries, state.head.terms, state.segments)
        }
        for (id, summary) in summaries.sorted(by: { $0.value.start > $1.value.start })
        where summary.end >= start && summary.start <= end && candidates.admits(headTerms[id] ?? []) {
            var batches: [ResourceSpans] = []
            for fragment in head[id] ?? [] { batches += try OTLPProtobuf.decode(fragment).batches }
            guard try visit(summary, batches) else { return }
        }
        let decoder = ZstdDecoder()
        for segment in segments.sorted(by: { $0.sequence > $1.sequence }) where segment.maxTime >= start && segment.minTime <= end {
            var wanted: [Int: Set<Int>] = [:]
            let allowed = candidates.positions(postings: segment.postings, unindexed: segment.unindexedKeys)
            for (position, summary) in segment.summaries.enumerated() where summary.end >= start && summary.start <= end {
                if let allowed, !allowed.contains(Int32(position)) { continue }
                wanted[segment.blockOf[position], default: []].insert(position)
            }
            for block in wanted.keys.sorted() {
                let traces = try segment.traces(inBlock: block, decoder: decoder)
                for (id, batches) in traces {
                    guard let position = segment.position(of: id), wanted[block]!.contains(position) else { continue }
                    guard try visit(segment.summaries[position], batches) else { return }
                }
            }
        }
    }

    /// Summaries of the traces with spans overlapping `[start, end]` (nanoseconds), fragments
    /// merged; newest first.
    public func summaries(start: UInt64, end: UInt64) -> [TraceSummary] {
        let (head, segments) = state.withLock { state in (state.head.summaries, state.segments) }
        var merged: [TraceID: TraceSummary] = [:]
        func take(_ summary: TraceSummary) {
            if merged[summary.traceID] == nil { merged[summary.traceID] = summary } else { merged[summary.traceID]!.merge(summary) }
        }
        for segment in segments where segment.maxTime >= start && segment.minTime <= end {
            for summary in segment.summaries { take(summary) }
        }
        for summary in head.values { take(summary) }
        return merged.values.filter { $0.end >= start && $0.start <= end }.sorted { ($0.start, $0.traceID) > ($1.start, $1.traceID) }
    }

    /// Figures for the agent's own metrics.
    public struct Usage: Sendable {
        public var headTraces: Int
        public var headBytes: Int
        public var segments: Int
        public var segmentBytes: Int
    }

    public var usage: Usage {
        state.withLock { state in
            Usage(headTraces: state.head.traces.count, headBytes: state.head.bytes, segments: state.segments.count,
                  segmentBytes: state.segments.reduce(0) { $0 + $1.size })
        }
    }

    /// Flushes the head and closes the WAL. Blocking.
    public func close() {
        do {
            try flush()
        } catch {
            logger.error("Trace head not flushed at close; the WAL keeps it", metadata: ["error": "\(error)"])
        }
        state.withLock { $0.closed = true }
        wal.shutdown()
    }
}
