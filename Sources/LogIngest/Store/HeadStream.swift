import ObsCore

/// One stream's entries not yet in a segment: the open block being filled, and blocks already cut
/// and compressed. Owned by the store's state; not thread-safe on its own.
struct HeadStream {
    let id: UInt64
    let labels: Labels
    /// Entries of the open block in arrival order; `sorted` tells whether that is also time order.
    var open: [LogEntry] = []
    var openBytes = 0
    var sorted = true
    var cut: [LogBlock] = [] {
        didSet { cutBytes = cut.reduce(0) { $0 + $1.bytes.count } }
    }
    /// Compressed bytes of `cut`, kept up to date so memory accounting costs nothing per entry.
    private(set) var cutBytes = 0
    /// Newest timestamp accepted, for the out-of-order window.
    var newest: Int64 = .min
    /// The newest entry's line, to drop an identical re-send as Loki does.
    var newestLine = ""

    init(id: UInt64, labels: Labels) {
        self.id = id
        self.labels = labels
    }

    /// Bytes an entry adds to a block before compression, near enough for cutting.
    static func size(of entry: LogEntry) -> Int {
        entry.line.utf8.count + 8 + entry.metadata.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 2 }
    }

    /// Whether `entry` repeats the newest one exactly.
    func isDuplicate(_ entry: LogEntry) -> Bool {
        entry.timestamp == newest && entry.line == newestLine
    }

    /// Appends `entry` unless it repeats the newest one; returns whether it did and how much the
    /// stream's memory grew (negative after a cut compressed the open entries).
    mutating func accept(_ entry: LogEntry, blockSize: Int) -> (appended: Bool, memoryDelta: Int) {
        if isDuplicate(entry) { return (false, 0) }
        let before = memoryBytes
        append(entry, blockSize: blockSize)
        return (true, memoryBytes - before)
    }

    mutating func append(_ entry: LogEntry, blockSize: Int) {
        if let last = open.last, entry.timestamp < last.timestamp { sorted = false }
        open.append(entry)
        openBytes += Self.size(of: entry)
        if entry.timestamp >= newest {
            newest = entry.timestamp
            newestLine = entry.line
        }
        if openBytes >= blockSize { cutOpen() }
    }

    /// Compresses the open block into `cut`.
    mutating func cutOpen() {
        guard !open.isEmpty else { return }
        let entries = sorted ? open : open.enumerated().sorted {
            ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset)
        }.map(\.element)
        cut.append(LogBlock(stream: id, sortedEntries: entries))
        open.removeAll(keepingCapacity: false)
        openBytes = 0
        sorted = true
    }

    /// Memory the stream holds: open entries before compression, cut blocks after.
    var memoryBytes: Int { openBytes + cutBytes }

    var isEmpty: Bool { open.isEmpty && cut.isEmpty }

    /// Open entries with `start <= timestamp < end`, in time order.
    func openEntries(start: Int64, end: Int64) -> [LogEntry] {
        var result = open.filter { $0.timestamp >= start && $0.timestamp < end }
        if !sorted { result.sort { $0.timestamp < $1.timestamp } }
        return result
    }
}
