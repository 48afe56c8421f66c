import NIOCore
/// One log line of a stream. Times are Unix nanoseconds, as Loki keeps them.
public struct LogEntry: Sendable, Equatable {
    public var timestamp: Int64
    public var line: String
    /// Loki's structured metadata: labels attached to this line only, not part of the stream.
    public var metadata: Labels

    public init(timestamp: Int64, line: String, metadata: Labels = Labels([Label]())) {
        self.timestamp = timestamp
        self.line = line
        self.metadata = metadata
    }
}

/// Why a log entry was refused; the rest of its batch is unaffected. Descriptions are Loki's wording.
public enum LogAppendError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Older than the stream accepts: `oldest` is the first acceptable time.
    case tooFarBehind(stream: Labels, timestamp: Int64, oldest: Int64)
    case tooOld(stream: Labels, timestamp: Int64, oldest: Int64)
    case invalidStream(stream: Labels, reason: String)
    case lineTooLong(stream: Labels, length: Int, limit: Int)
    /// A stream the store's limits refuse (label sizes and counts, active streams), in Loki's words.
    case refused(reason: String)

    public var description: String {
        switch self {
        case let .tooFarBehind(stream, timestamp, oldest):
            "entry with timestamp \(TimeParsing.rfc3339String(nanoseconds: timestamp)) ignored, reason: 'entry too far behind, entry timestamp is: \(TimeParsing.rfc3339String(nanoseconds: timestamp)), oldest acceptable timestamp is: \(TimeParsing.rfc3339String(nanoseconds: oldest))' for stream: \(stream)"
        case let .tooOld(stream, timestamp, oldest):
            "entry for stream '\(stream)' has timestamp too old: \(TimeParsing.rfc3339String(nanoseconds: timestamp)), oldest acceptable timestamp is: \(TimeParsing.rfc3339String(nanoseconds: oldest))"
        case let .invalidStream(stream, reason):
            "error parsing labels '\(stream)': \(reason)"
        case let .refused(reason):
            reason
        case let .lineTooLong(stream, length, limit):
            "Max entry size '\(limit)' bytes exceeded for stream '\(stream)' while adding an entry with length '\(length)' bytes"
        }
    }
}

/// Collects log entries and stores them in one `commit`. Owned by one request or tailer at a time.
public protocol LogAppender {
    /// Adds an entry to `stream`; throws for an entry that can never be stored.
    mutating func append(_ stream: Labels, _ entry: LogEntry) throws(LogAppendError)

    /// Makes every accepted entry durable and visible, together with `positions` (tail offsets
    /// covering them), so a crash keeps both or neither. When it returns, a crash loses none.
    mutating func commit(positions: [TailPosition]) async throws

    /// Drops everything appended since the last commit.
    mutating func rollback()
}

extension LogAppender {
    public mutating func commit() async throws { try await commit(positions: []) }
}

/// Where a tailer has read a file to: the file's identity and the byte offset after the last line
/// handed to the store.
public struct TailPosition: Sendable, Hashable {
    public var path: String
    public var device: UInt64
    public var inode: UInt64
    /// A hash of the file's first bytes, telling a reused inode from the file read before.
    public var fingerprint: UInt64
    public var offset: Int64

    public init(path: String, device: UInt64, inode: UInt64, fingerprint: UInt64, offset: Int64) {
        self.path = path
        self.device = device
        self.inode = inode
        self.fingerprint = fingerprint
        self.offset = offset
    }
}

/// Reading direction of a log query.
public enum LogDirection: String, Sendable {
    case forward, backward
}

/// A stream and its entries in one query's range, in the query's direction.
public struct LogStream: Sendable, Equatable {
    public var labels: Labels
    public var entries: [LogEntry]

    public init(labels: Labels, entries: [LogEntry]) {
        self.labels = labels
        self.entries = entries
    }
}

/// Read access to stored logs. Thread-safe.
public protocol LogQuerier: Sendable {
    /// Label sets of the streams with entries in `[start, end)` that `matchers` select (all, when empty).
    func streams(_ matchers: [LabelMatcher], start: Int64, end: Int64) throws -> [Labels]

    /// The chunks of the streams `matchers` select that may hold entries in `[start, end)`.
    func chunks(_ matchers: [LabelMatcher], start: Int64, end: Int64) throws -> [any LogChunk]
}

extension LogQuerier {
    /// Entries of the streams `matchers` select with `start <= timestamp < end`, at most `limit` in
    /// total (the first ones in `direction`), grouped by stream and sorted by labels, read through
    /// `chunks`. `filter` sees each line's bytes before the line is decoded into a string; lines it
    /// refuses are skipped. For tests and small reads; queries go through the LogQL engine.
    public func select(_ matchers: [LabelMatcher], start: Int64, end: Int64, direction: LogDirection, limit: Int,
                       filter: (@Sendable (UnsafeRawBufferPointer) -> Bool)?) throws -> [LogStream] {
        guard start < end, limit > 0 else { return [] }
        var all: [(labels: Labels, entry: LogEntry)] = []
        for chunk in try chunks(matchers, start: start, end: end) {
            try chunk.scan(start: start, end: end, filter: filter) { entry in
                all.append((chunk.labels, LogEntry(timestamp: entry.timestamp, line: String(decoding: entry.line, as: UTF8.self),
                                                   metadata: entry.metadata)))
            }
        }
        // Stable sorts keep each stream's stored order for entries with equal timestamps.
        if direction == .forward {
            all = all.enumerated().sorted { ($0.element.entry.timestamp, $0.offset) < ($1.element.entry.timestamp, $1.offset) }.map(\.element)
        } else {
            all = all.enumerated().sorted { ($0.element.entry.timestamp, -$0.offset) > ($1.element.entry.timestamp, -$1.offset) }.map(\.element)
        }
        var grouped: [Labels: [LogEntry]] = [:]
        for item in all.prefix(limit) { grouped[item.labels, default: []].append(item.entry) }
        return grouped.map { LogStream(labels: $0.key, entries: $0.value) }.sorted { $0.labels < $1.labels }
    }
}

/// One entry as a chunk scan shows it: the line's bytes are valid only during the visit.
public struct LogEntryView {
    public var timestamp: Int64
    public var line: UnsafeRawBufferPointer
    public var metadata: Labels

    public init(timestamp: Int64, line: UnsafeRawBufferPointer, metadata: Labels) {
        self.timestamp = timestamp
        self.line = line
        self.metadata = metadata
    }
}

/// A run of one stream's entries stored together (a compressed block, or the entries not yet
/// compressed), decoded only when scanned. Queries plan over chunks' time bounds and labels, then
/// scan the ones they need, possibly on several threads at once.
public protocol LogChunk: Sendable {
    /// The stream's labels.
    var labels: Labels { get }
    var minTime: Int64 { get }
    var maxTime: Int64 { get }
    /// Entries before decoding.
    var count: Int { get }
    /// Decoded size in bytes.
    var rawLength: Int { get }
    /// Stored (compressed) size in bytes; 0 for entries held uncompressed in memory.
    var storedLength: Int { get }

    /// Visits the entries with `start <= timestamp < end` whose line `filter` accepts, in time
    /// order. Blocking: reads and decompresses, with `decoder`'s buffers when given (a scan over
    /// many chunks passes one per thread).
    func scan(start: Int64, end: Int64, filter: ((UnsafeRawBufferPointer) -> Bool)?, decoder: ZstdDecoder?,
              _ visit: (LogEntryView) throws -> Void) throws
}

extension LogChunk {
    public func scan(start: Int64, end: Int64, filter: ((UnsafeRawBufferPointer) -> Bool)?,
                     _ visit: (LogEntryView) throws -> Void) throws {
        try scan(start: start, end: end, filter: filter, decoder: nil, visit)
    }
}

/// Entries held uncompressed in memory (a stream's open block), sorted by time, as a chunk.
public struct LogEntriesChunk: LogChunk {
    public let labels: Labels
    public let entries: [LogEntry]

    public init(labels: Labels, sortedEntries entries: [LogEntry]) {
        self.labels = labels
        self.entries = entries
    }

    public var minTime: Int64 { entries.first?.timestamp ?? 0 }
    public var maxTime: Int64 { entries.last?.timestamp ?? 0 }
    public var count: Int { entries.count }
    public var rawLength: Int { entries.reduce(0) { $0 + $1.line.utf8.count } }
    public var storedLength: Int { 0 }

    public func scan(start: Int64, end: Int64, filter: ((UnsafeRawBufferPointer) -> Bool)?, decoder: ZstdDecoder?,
                     _ visit: (LogEntryView) throws -> Void) throws {
        for entry in entries where entry.timestamp >= start && entry.timestamp < end {
            var line = entry.line
            try line.withUTF8 { utf8 in
                let bytes = UnsafeRawBufferPointer(utf8)
                if let filter, !filter(bytes) { return }
                try visit(LogEntryView(timestamp: entry.timestamp, line: bytes, metadata: entry.metadata))
            }
        }
    }
}

/// Told of every batch a log store commits, in commit order, on the committing thread inside the
/// store's commit gate (it may block): what forwarding spools from. `willCommit` comes before the
/// batch is logged, and throwing refuses the commit, so nothing is acknowledged that forwarding
/// could not keep (a full disk stops intake instead of losing what was accepted). `didCommit`
/// follows with whether the store logged the batch; when it did not, what `willCommit` kept is
/// undone. `sync` says whether the commit waits for the disk.
public protocol LogCommitObserver: Sendable {
    func willCommit(_ entries: [(stream: Labels, entry: LogEntry)], sync: Bool) throws
    func didCommit(logged: Bool)
}

/// Told of every export a trace store commits, as `LogCommitObserver` is of log batches: each
/// request an OTLP `ExportTraceServiceRequest` of one trace's spans.
public protocol TraceCommitObserver: Sendable {
    func willCommit(_ requests: [ByteBuffer], spans: Int, sync: Bool) throws
    func didCommit(logged: Bool)
}

/// Calls `prepare` on each observer in turn; when one throws, `undo`es the ones before it and
/// rethrows, so a refused commit leaves no observer holding it.
public func prepareEach<Observer>(_ observers: [Observer], _ prepare: (Observer) throws -> Void, undo: (Observer) -> Void) throws {
    for (index, observer) in observers.enumerated() {
        do {
            try prepare(observer)
        } catch {
            for earlier in observers[..<index] { undo(earlier) }
            throw error
        }
    }
}
