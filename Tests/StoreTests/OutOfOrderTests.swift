import Logging
@testable import MetricsTSDB
import ObsCore
import Testing

@Suite struct OutOfOrderTests {
    static let logger = Logger(label: "test")
    static let labels = Labels(["__name__": "late"])

    static func open(_ directory: String, window: Int64, range: Int64 = 2 * 3_600_000) throws -> MetricsStore {
        var options = MetricsStore.Options()
        options.outOfOrderWindow = window
        options.blockRange = range
        options.maxBlockRange = range
        return try MetricsStore(directory: directory, options: options, metrics: MetricsRegistry(), logger: logger)
    }

    static func samples(_ store: MetricsStore) throws -> [(Int64, Double)] {
        guard let series = try store.querier(minTime: .min, maxTime: .max).select([try LabelMatcher(.equal, "__name__", "late")]).first
        else { return [] }
        var iterator = series.makeIterator()
        var result: [(Int64, Double)] = []
        while iterator.next() { result.append((iterator.timestamp, iterator.value)) }
        return result
    }

    @Test func samplesInsideTheWindowAreAcceptedAndMerged() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        do {
            let store = try Self.open(directory, window: 1000)
            var appender = store.appender()
            for t in stride(from: Int64(1000), through: 5000, by: 1000) { try appender.append(Self.labels, ref: nil, timestamp: t, value: Double(t)) }
            try await appender.commit()

            var late = store.appender()
            try late.append(Self.labels, ref: nil, timestamp: 4500, value: 4500)
            // Within one batch, newest first.
            try late.append(Self.labels, ref: nil, timestamp: 4200, value: 4200)
            try late.append(Self.labels, ref: nil, timestamp: 4100, value: 4100)
            #expect(throws: AppendError.tooOld(labels: Self.labels, timestamp: 3999)) {
                try late.append(Self.labels, ref: nil, timestamp: 3999, value: 1)
            }
            try await late.commit()

            var again = store.appender()
            try again.append(Self.labels, ref: nil, timestamp: 4500, value: 4500)  // same value: accepted, ignored
            #expect(throws: AppendError.duplicateTimestamp(labels: Self.labels, timestamp: 4500)) {
                try again.append(Self.labels, ref: nil, timestamp: 4500, value: 1)
            }
            try await again.commit()
            #expect(try Self.samples(store).map(\.0) == [1000, 2000, 3000, 4000, 4100, 4200, 4500, 5000])
            store.close()
        }
        let reopened = try Self.open(directory, window: 1000)
        #expect(try Self.samples(reopened).map(\.0) == [1000, 2000, 3000, 4000, 4100, 4200, 4500, 5000])
        #expect(try Self.samples(reopened).allSatisfy { Double($0.0) == $0.1 })
    }

    @Test func outOfOrderSamplesReachBlocksAndDeletions() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try Self.open(directory, window: 2000, range: 1000)
        var appender = store.appender()
        for t in stride(from: Int64(0), through: 3000, by: 200) { try appender.append(Self.labels, ref: nil, timestamp: t, value: Double(t)) }
        try await appender.commit()
        var late = store.appender()
        try late.append(Self.labels, ref: nil, timestamp: 1100, value: 1100)
        try await late.commit()
        try store.compact()  // span 3000 ≥ 1500: [0, 1000) and [1000, 2000) become blocks
        #expect(store.blockList.count == 2)
        #expect(store.blockList[1].meta.stats.numSamples == 6)  // 1000…1800 plus the late 1100
        #expect(try Self.samples(store).map(\.0).contains(1100))
        try await store.deleteSeries([try LabelMatcher(.equal, "__name__", "late")], minTime: 2050, maxTime: 2150)
        var after = store.appender()
        try after.append(Self.labels, ref: nil, timestamp: 2100, value: 2100)
        try await after.commit()
        try await store.deleteSeries([try LabelMatcher(.equal, "__name__", "late")], minTime: 2100, maxTime: 2100)
        #expect(try !Self.samples(store).map(\.0).contains(2100))
    }

    @Test func windowZeroRejectsOlderSamples() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try Self.open(directory, window: 0)
        var appender = store.appender()
        try appender.append(Self.labels, ref: nil, timestamp: 5000, value: 1)
        #expect(throws: AppendError.outOfOrder(labels: Self.labels, timestamp: 4999)) {
            try appender.append(Self.labels, ref: nil, timestamp: 4999, value: 1)
        }
        try await appender.commit()
        store.setOutOfOrderWindow(100)
        var widened = store.appender()
        try widened.append(Self.labels, ref: nil, timestamp: 4999, value: 1)
        try await widened.commit()
        #expect(try Self.samples(store).map(\.0) == [4999, 5000])
    }
}

@Suite struct MergeIteratorTests {
    @Test func mergesAndPrefersTheFirstStream() {
        var merged = MergeIterator(SampleArrayIterator([(1, 1.0.bitPattern), (3, 3.0.bitPattern), (5, 5.0.bitPattern)]),
                                   SampleArrayIterator([(2, 20.0.bitPattern), (3, 30.0.bitPattern), (6, 60.0.bitPattern)]))
        var out: [(Int64, Double)] = []
        while merged.next() { out.append((merged.timestamp, merged.value)) }
        #expect(out.map(\.0) == [1, 2, 3, 5, 6])
        #expect(out.map(\.1) == [1, 20, 3, 5, 60])

        var seeking = MergeIterator(SampleArrayIterator([(1, 0), (10, 0)]), SampleArrayIterator([(4, 0), (7, 0)]))
        let found = seeking.seek(5)
        #expect(found && seeking.timestamp == 7)
        let next = seeking.next()
        #expect(next && seeking.timestamp == 10)
        let end = seeking.next()
        #expect(!end)
    }
}
