/// What forwarding reads from a metrics store: its write-ahead log, followed from a position, with
/// the segments a reader still needs kept (within the store's limits).
public protocol WALSource: Sendable {
    /// A reader from `position`, or from where the store's current run began. Blocking.
    func follow(from position: WALPosition?) throws -> any WALReader
    /// The start of the oldest segment the WAL still has. Blocking.
    func oldestPosition() throws -> WALPosition
    /// Keeps segments from `segment` on for `reader`; nil releases them.
    func holdWAL(from segment: Int?, for reader: String)
}

/// Reads a WAL in order; used by one task at a time. Blocking.
public protocol WALReader: AnyObject, Sendable {
    var position: WALPosition { get }
    /// Whole records after the position until at least `maxSamples` samples are in (or the end of
    /// what is written), moving the position past them.
    func read(maxSamples: Int) throws -> WALChunk
}

/// A place in the metrics WAL: a segment and the offset of the next record to read in it.
public struct WALPosition: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var segment: Int
    public var offset: Int

    public init(segment: Int, offset: Int) {
        self.segment = segment
        self.offset = offset
    }

    public static func < (a: WALPosition, b: WALPosition) -> Bool {
        (a.segment, a.offset) < (b.segment, b.offset)
    }

    public var description: String { "\(segment):\(offset)" }

    /// `segment:offset`, as `description` writes it.
    public init?(_ text: String) {
        let parts = text.trimmingWhitespace().split(separator: ":")
        guard parts.count == 2, let segment = Int(parts[0]), let offset = Int(parts[1]), segment >= 0, offset >= 0 else { return nil }
        self.init(segment: segment, offset: offset)
    }
}

/// What a WAL reader found after its position: samples and exemplars with their series' labels,
/// in the order they were logged, and where it stopped.
public struct WALChunk: Sendable {
    /// `series` is the store's reference for the series: the same labels always come with the same one.
    public var samples: [(series: UInt64, labels: Labels, timestamp: Int64, value: Double)] = []
    public var exemplars: [(labels: Labels, exemplar: Exemplar)] = []
    /// Native histogram samples, with their series' reference and labels, in logged order.
    public var histograms: [(series: UInt64, labels: Labels, timestamp: Int64, histogram: FloatHistogram)] = []
    /// Samples whose series record was never seen.
    public var unknownSeries = 0
    /// Segments the store removed before this reader got to them (its backlog limit was hit).
    public var lostSegments = 0
    /// Bytes of damaged records skipped at the end of closed segments.
    public var damagedBytes = 0
    public var end: WALPosition

    public init(end: WALPosition) {
        self.end = end
    }

    public var isEmpty: Bool { samples.isEmpty && exemplars.isEmpty && histograms.isEmpty }

    /// Adds what a later read found, which ends at its end.
    public mutating func append(_ later: WALChunk) {
        samples += later.samples
        exemplars += later.exemplars
        histograms += later.histograms
        unknownSeries += later.unknownSeries
        lostSegments += later.lostSegments
        damagedBytes += later.damagedBytes
        end = later.end
    }
}

