import Logging
@testable import MetricsTSDB
import ObsCore
import Testing

/// The head snapshot written on close: the next start restores the same chunks without the WAL's
/// samples, appends go on as if the store had never stopped, and what crashes, compactions and WAL
/// readers rely on stays as it was.
@Suite struct HeadSnapshotTests {
    static let logger = Logger(label: "test")
    static let step: Int64 = 15_000

    static func open(_ directory: String, _ configure: (inout MetricsStore.Options) -> Void = { _ in }) throws -> MetricsStore {
        var options = MetricsStore.Options()
        configure(&options)
        return try MetricsStore(directory: directory, options: options, metrics: MetricsRegistry(), logger: logger)
    }

    /// Three kinds of float series over several chunks, a histogram series and an exemplar.
    static func fill(_ store: MetricsStore, from first: Int, to end: Int) async throws {
        var appender = store.appender()
        var counter: SeriesRef = 0
        for i in first..<end {
            let t = Int64(i) * step
            try appender.append(Labels(["__name__": "constant"]), ref: nil, timestamp: t, value: 1)
            counter = try appender.append(Labels(["__name__": "counter"]), ref: nil, timestamp: t, value: Double(i * 37))
            try appender.append(Labels(["__name__": "gauge"]), ref: nil, timestamp: t + Int64(i % 7), value: Double(i).squareRoot() / 3)
            if i % 10 == 0 {
                try appender.appendHistogram(Labels(["__name__": "latency"]), ref: nil, timestamp: t,
                                             histogram: HistogramStoreTests.histograms[(i / 10) % HistogramStoreTests.histograms.count])
            }
        }
        try appender.appendExemplar(counter, Exemplar(labels: Labels(["trace_id": "abc\(end)"]), value: 1, timestamp: Int64(end - 1) * step))
        try await appender.commit()
    }

    /// Every series' chunk bytes and out-of-order samples, by series.
    static func headState(_ store: MetricsStore) -> [String: WALSeriesChunks] {
        var result: [String: WALSeriesChunks] = [:]
        for series in store.head.allSeries() { result[series.labels.description] = series.snapshot() }
        return result
    }

    static func allSamples(_ store: MetricsStore) throws -> [String: [(Int64, UInt64)]] {
        var result: [String: [(Int64, UInt64)]] = [:]
        for series in try store.querier(minTime: .min, maxTime: .max).select([try LabelMatcher(.regexMatch, "__name__", ".+")]) {
            var iterator = series.makeIterator()
            var points: [(Int64, UInt64)] = []
            while iterator.next() {
                points.append((iterator.timestamp, iterator.histogram.map { $0.count.bitPattern ^ $0.sum.bitPattern } ?? iterator.value.bitPattern))
            }
            result[series.labels.description] = points
        }
        return result
    }

    static func sameSamples(_ a: [String: [(Int64, UInt64)]], _ b: [String: [(Int64, UInt64)]]) -> Bool {
        a.keys.sorted() == b.keys.sorted() && a.allSatisfy { key, points in
            points.elementsEqual(b[key]!) { $0.0 == $1.0 && $0.1 == $1.1 }
        }
    }

    /// The records left in the WAL's segments (not the checkpoint), by kind.
    static func segmentRecordKinds(_ store: MetricsStore) throws -> [WALRecord.Kind] {
        try store.wal.segments().flatMap { try WAL.read(store.wal.path(ofSegment: $0)).records.map(\.kind) }
    }

    @Test func aSnapshotRestoresTheHeadAndAppendsGoOnUnchanged() async throws {
        let snapshotted = makeTemporaryDirectory(), reference = makeTemporaryDirectory()
        defer { removeTree(snapshotted); removeTree(reference) }
        let store = try Self.open(snapshotted)
        let kept = try Self.open(reference)
        // 250 samples: two closed chunks and an open one per float series.
        try await Self.fill(store, from: 0, to: 250)
        try await Self.fill(kept, from: 0, to: 250)
        let before = Self.headState(store)
        let samplesBefore = try Self.allSamples(store)
        store.close()

        // The segments' samples are gone: the checkpoint holds the head as chunks.
        #expect(try Self.segmentRecordKinds(store).isEmpty)
        let checkpoint = try #require(try store.wal.checkpoints().last)
        let kinds = try WAL.read(store.wal.path(ofCheckpoint: checkpoint)).records.map(\.kind)
        #expect(kinds.contains(.headChunks) && !kinds.contains(.samples) && !kinds.contains(.histograms))

        let reopened = try Self.open(snapshotted)
        #expect(Self.headState(reopened) == before)
        #expect(Self.sameSamples(try Self.allSamples(reopened), samplesBefore))
        #expect(reopened.exemplars([[try LabelMatcher(.equal, "__name__", "counter")]], start: .min, end: .max)
            .first?.exemplars.map(\.labels) == [Labels(["trace_id": "abc250"])])

        // Appending resumes an open float chunk bit for bit: same bytes as a store that never
        // stopped. An open histogram chunk was stored closed, so only its samples compare.
        try await Self.fill(reopened, from: 250, to: 400)
        try await Self.fill(kept, from: 250, to: 400)
        let floats = { (store: MetricsStore) in Self.headState(store).filter { $0.key != "latency" } }
        #expect(floats(reopened) == floats(kept))
        #expect(floats(kept).count == 3)
        #expect(Self.sameSamples(try Self.allSamples(reopened), try Self.allSamples(kept)))
        reopened.close()
        kept.close()
    }

    @Test func aCrashAfterASnapshotReplaysTheSnapshotAndTheWALTail() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try Self.open(directory)
        try await Self.fill(store, from: 0, to: 200)
        store.close()
        let reopened = try Self.open(directory)
        try await Self.fill(reopened, from: 200, to: 330)
        let expected = Self.headState(reopened)
        // No snapshot: what a crash leaves behind (every commit above was synced).
        reopened.close(snapshot: false)
        #expect(try Self.segmentRecordKinds(reopened).contains(.samples))
        let recovered = try Self.open(directory)
        #expect(Self.headState(recovered) == expected)
        #expect(recovered.seriesCount == 4)
    }

    @Test func compactionAfterASnapshotKeepsWhatTheHeadStillHolds() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let hour: Int64 = 3_600_000
        let configure = { (options: inout MetricsStore.Options) in
            options.blockRange = hour
            options.retentionTime = nil
        }
        let store = try Self.open(directory, configure)
        try await Self.fill(store, from: 0, to: 300)  // 75 minutes
        store.close()
        let reopened = try Self.open(directory, configure)
        try await Self.fill(reopened, from: 300, to: 400)  // 100 minutes: a block is due
        #expect(try reopened.compact() == 1)
        let expected = try Self.allSamples(reopened)
        reopened.close(snapshot: false)
        // The checkpoint the compaction wrote carried the snapshot's chunks that the head still needs.
        let recovered = try Self.open(directory, configure)
        #expect(Self.sameSamples(try Self.allSamples(recovered), expected))
        #expect(expected["constant"]?.count == 400)
        recovered.close()
        let again = try Self.open(directory, configure)
        #expect(Self.sameSamples(try Self.allSamples(again), expected))
    }

    @Test func segmentsAWALReaderHoldsStayAndAreNotReplayedTwice() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try Self.open(directory)
        let held = store.wal.currentSegment
        store.holdWAL(from: held, for: "remote-write")
        try await Self.fill(store, from: 0, to: 200)
        let expected = try Self.allSamples(store)
        store.close()
        #expect(try store.wal.segments().contains(held))
        #expect(try Self.segmentRecordKinds(store).contains(.samples))

        let reopened = try Self.open(directory)
        #expect(Self.sameSamples(try Self.allSamples(reopened), expected))
        // A reader that had not read the segment yet still gets every sample from it.
        let follower = try WALFollower(store: reopened, from: WALPosition(segment: held, offset: 0))
        let chunk = try follower.read(maxSamples: 10_000)
        #expect(chunk.samples.count == 3 * 200)
        // Released, the next checkpoint removes the segment.
        reopened.holdWAL(from: nil, for: "remote-write")
        reopened.close()
        #expect(try !reopened.wal.segments().contains(held))
        let again = try Self.open(directory)
        #expect(Self.sameSamples(try Self.allSamples(again), expected))
    }

    @Test func commitsAfterCloseFail() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try Self.open(directory)
        var appender = store.appender()
        store.close()
        try appender.append(Labels(["__name__": "late"]), ref: nil, timestamp: 1, value: 1)
        await #expect(throws: CoreError.closed("metrics store")) { try await appender.commit() }
    }
}
