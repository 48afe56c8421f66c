import Logging
import NIOCore
@testable import MetricsTSDB
import ObsCore
import Testing

/// Native histograms through every storage path: chunk encoding, the WAL, the head, blocks and
/// compaction, in series that switch between floats and histograms.
@Suite struct HistogramStoreTests {
    static let histograms: [FloatHistogram] = [
        FloatHistogram(schema: 0, zeroThreshold: 0.001, zeroCount: 2, count: 12, sum: 18.4,
                       positive: [.init(0, 1), .init(1, 2), .init(3, 1)], negative: [.init(-2, 4), .init(5, 2)]),
        FloatHistogram(schema: 0, zeroThreshold: 0.001, zeroCount: 3, count: 14, sum: 20.5,
                       positive: [.init(0, 1), .init(1, 3), .init(3, 1)], negative: [.init(-2, 5), .init(5, 2)]),
        FloatHistogram(resetHint: .gauge, schema: 8, count: 0.5, sum: .nan, positive: [.init(-300, 0.25), .init(700, 0.25)]),
        FloatHistogram(resetHint: .reset, schema: FloatHistogram.customBucketsSchema, count: 5, sum: 7,
                       positive: [.init(0, 1), .init(2, 4)], customValues: [0.5, 1, 2.5]),
        FloatHistogram(schema: -4, count: 1e300, sum: -1e-300, negative: [.init(0, 1e300)]),
    ]

    static func decode(_ bytes: [UInt8]) -> [(Int64, FloatHistogram)] {
        var iterator = HistogramChunkIterator(bytes)
        var decoded: [(Int64, FloatHistogram)] = []
        while iterator.next() { decoded.append((iterator.timestamp, iterator.histogram)) }
        #expect(!iterator.failed)
        return decoded
    }

    @Test func chunkRoundTripsEveryField() {
        var appender = HistogramChunkAppender()
        for (i, h) in Self.histograms.enumerated() { appender.append(timestamp: Int64(i) * 15_000 - 30_000, histogram: h) }
        let decoded = Self.decode(appender.bytes)
        #expect(decoded.map(\.0) == (0..<Self.histograms.count).map { Int64($0) * 15_000 - 30_000 })
        for (got, want) in zip(decoded.map(\.1), Self.histograms) {
            #expect(got.sameValue(as: want))
            #expect(got.resetHint == want.resetHint)
        }
    }

    @Test func truncatedChunksStopCleanly() {
        var appender = HistogramChunkAppender()
        for h in Self.histograms { appender.append(timestamp: 1, histogram: h) }
        let bytes = appender.bytes
        for cut in stride(from: 0, to: bytes.count, by: 3) {
            var iterator = HistogramChunkIterator(Array(bytes.prefix(cut)))
            var count = 0
            while iterator.next() { count += 1 }
            #expect(count < Self.histograms.count)
        }
    }

    @Test func walRecordRoundTrips() throws {
        let record = WALRecord.histograms(Self.histograms.enumerated().map {
            WALHistogram(ref: SeriesRef($0.offset % 2), timestamp: Int64($0.offset), histogram: $0.element)
        })
        var buffer = ByteBuffer()
        record.encodePayload(into: &buffer)
        let decoded = try WALRecord.decode(kind: WALRecord.Kind.histograms.rawValue, payload: &buffer)
        guard case let .histograms(samples) = decoded else {
            Issue.record("wrong record kind")
            return
        }
        #expect(zip(samples, Self.histograms).allSatisfy { $0.histogram.sameValue(as: $1) })
    }

    /// One series alternating between floats and histograms, through head, WAL replay and blocks.
    @Test func mixedSeriesSurviveReplayAndCompaction() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let labels = Labels(["__name__": "mixed"])
        // Timestamp t holds a float when t/100 is even, else a histogram.
        let times = Array(stride(from: Int64(0), to: 3000, by: 10))
        func expected(_ t: Int64) -> FloatHistogram? {
            (t / 100) % 2 == 0 ? nil : Self.histograms[Int(t / 10) % Self.histograms.count]
        }
        do {
            let store = try MetricsStore(directory: directory, options: BlockTests.options(), metrics: MetricsRegistry(),
                                         logger: BlockTests.logger)
            var appender = store.appender()
            for t in times {
                if let h = expected(t) {
                    try appender.appendHistogram(labels, ref: nil, timestamp: t, histogram: h)
                } else {
                    try appender.append(labels, ref: nil, timestamp: t, value: Double(t))
                }
            }
            try await appender.commit()
            store.close()
        }
        // Replay from the WAL, then cut blocks and read across blocks and head.
        let store = try MetricsStore(directory: directory, options: BlockTests.options(), metrics: MetricsRegistry(),
                                     logger: BlockTests.logger)
        defer { store.close() }
        func check() throws {
            let series = try store.querier(minTime: .min, maxTime: .max).select([try LabelMatcher(.equal, "__name__", "mixed")])
            #expect(series.count == 1)
            var iterator = series[0].makeIterator()
            var seen: [Int64] = []
            while iterator.next() {
                let t = iterator.timestamp
                seen.append(t)
                if let want = expected(t) {
                    #expect(iterator.histogram?.sameValue(as: want) == true, "histogram at \(t)")
                } else {
                    #expect(iterator.histogram == nil && iterator.value == Double(t), "float at \(t)")
                }
            }
            #expect(seen == times)
        }
        try check()
        #expect(try store.compact() == 2)
        try check()
        // Histograms are taken in order only: an older one is refused.
        var late = store.appender()
        #expect(throws: AppendError.self) {
            try late.appendHistogram(labels, ref: nil, timestamp: 2500, histogram: Self.histograms[0])
        }
    }
}
