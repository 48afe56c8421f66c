import Logging
@testable import MetricsTSDB
import ObsCore
import Testing

/// Following the metrics WAL as a forwarding queue does: across segments, from a saved position,
/// with labels from series records logged before the position, and the segments a reader still
/// needs kept out of checkpoints.
@Suite struct WALFollowerTests {
    static let logger = Logger(label: "test")

    static func append(_ store: MetricsStore, _ name: String, times: Range<Int>) async throws {
        for time in times {
            var appender = store.appender()
            for series in 0..<10 {
                try appender.append(Labels(["__name__": name, "series": String(series)]), ref: nil, timestamp: Int64(time) * 1000, value: Double(time))
            }
            try await appender.commit()
        }
    }

    @Test func readsEverythingOnceAcrossSegmentsAndRestarts() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        var options = MetricsStore.Options()
        options.walSegmentSize = 1024
        let store = try MetricsStore(directory: directory, options: options, metrics: MetricsRegistry(), logger: Self.logger)
        let follower = try WALFollower(store: store, from: nil)
        try await Self.append(store, "first", times: 0..<100)
        #expect(try store.wal.segments().count > 2)
        var read: [(Labels, Int64)] = []
        while true {
            let chunk = try follower.read(maxSamples: 64)
            if chunk.samples.isEmpty { break }
            #expect(chunk.samples.count < 64 + 10)
            read += chunk.samples.map { ($0.labels, $0.timestamp) }
        }
        #expect(read.count == 1000)
        #expect(read.first?.0["series"] == "0" && read.last?.1 == 99_000)
        // A second reader from the saved position sees only what comes after it, with the labels of
        // series logged before it.
        let saved = follower.position
        try await Self.append(store, "first", times: 100..<103)
        let resumed = try WALFollower(store: store, from: WALPosition(saved.description))
        let chunk = try resumed.read(maxSamples: 1000)
        #expect(chunk.samples.count == 30 && chunk.unknownSeries == 0)
        #expect(chunk.samples.allSatisfy { $0.labels["__name__"] == "first" && $0.timestamp >= 100_000 })
        store.close()
    }

    @Test func heldSegmentsStayOutOfCheckpoints() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        var options = MetricsStore.Options()
        options.walSegmentSize = 1024
        options.blockRange = 3_600_000
        let store = try MetricsStore(directory: directory, options: options, metrics: MetricsRegistry(), logger: Self.logger)
        let follower = try WALFollower(store: store, from: nil)
        store.holdWAL(from: follower.position.segment, for: "queue")
        // Three hours of data: compaction cuts blocks and checkpoints the WAL.
        try await Self.append(store, "held", times: 0..<12)
        for hour in 1...3 { try await Self.append(store, "held", times: (hour * 3600)..<(hour * 3600 + 2)) }
        #expect(try store.compact() > 0)
        // Every sample is still there for the reader.
        var count = 0
        while true {
            let chunk = try follower.read(maxSamples: 500)
            if chunk.samples.isEmpty { break }
            #expect(chunk.lostSegments == 0)
            count += chunk.samples.count
        }
        #expect(count == 180)
        // Released, the next checkpoint takes them.
        store.holdWAL(from: nil, for: "queue")
        try await Self.append(store, "held", times: (5 * 3600)..<(5 * 3600 + 2))
        #expect(try store.compact() > 0)
        #expect(try store.wal.segments().count <= 2)
        store.close()
    }
}
