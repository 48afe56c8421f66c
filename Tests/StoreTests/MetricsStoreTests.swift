import Logging
@testable import MetricsTSDB
import ObsCore
import Testing

@Suite struct MetricsStoreTests {
    static let logger = Logger(label: "test")

    static func series(_ name: String, _ labels: [String: String] = [:]) -> Labels {
        var all = labels
        all["__name__"] = name
        return Labels(all)
    }

    static func samples(_ querier: any MetricsQuerier, _ matchers: [LabelMatcher]) throws -> [String: [(Int64, Double)]] {
        var result: [String: [(Int64, Double)]] = [:]
        for series in try querier.select(matchers) {
            var iterator = series.makeIterator()
            var points: [(Int64, Double)] = []
            while iterator.next() { points.append((iterator.timestamp, iterator.value)) }
            result[series.labels.description] = points
        }
        return result
    }

    @Test func appendCommitQueryAndReopen() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let up = Self.series("up", ["job": "node", "instance": "a"])
        let upB = Self.series("up", ["job": "node", "instance": "b"])
        let other = Self.series("http_requests_total", ["job": "api"])
        do {
            let store = try MetricsStore(directory: directory, metrics: MetricsRegistry(), logger: Self.logger)
            var appender = store.appender()
            for i in 0..<300 {
                try appender.append(up, ref: nil, timestamp: Int64(i) * 15_000, value: Double(i))
                try appender.append(upB, ref: nil, timestamp: Int64(i) * 15_000, value: 1)
            }
            try appender.append(other, ref: nil, timestamp: 0, value: 7)
            // Nothing is visible before commit.
            #expect(try store.querier(minTime: .min, maxTime: .max).select([try LabelMatcher(.equal, "__name__", "up")]).isEmpty)
            try await appender.commit()
            store.close()
        }
        let store = try MetricsStore(directory: directory, metrics: MetricsRegistry(), logger: Self.logger)
        #expect(store.seriesCount == 3)
        let querier = try store.querier(minTime: 15_000, maxTime: 45_000)
        let selected = try Self.samples(querier, [try LabelMatcher(.equal, "__name__", "up"), try LabelMatcher(.regexMatch, "instance", "a|c")])
        #expect(selected.keys.sorted() == [up.description])
        #expect(selected[up.description]!.map(\.0) == [15_000, 30_000, 45_000])
        #expect(selected[up.description]!.map(\.1) == [1, 2, 3])

        let everything = try store.querier(minTime: .min, maxTime: .max)
        #expect(try everything.labelNames([]) == ["__name__", "instance", "job"])
        #expect(try everything.labelValues("job", []) == ["api", "node"])
        #expect(try everything.labelValues("instance", [try LabelMatcher(.notEqual, "instance", "a")]) == ["b"])
        // A range after the last sample selects nothing.
        #expect(try store.querier(minTime: 300 * 15_000, maxTime: .max).select([]).isEmpty)
        let all = try Self.samples(everything, [try LabelMatcher(.regexMatch, "__name__", ".+")])
        #expect(all[up.description]?.count == 300)
    }

    @Test func prometheusAppendSemantics() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try MetricsStore(directory: directory, metrics: MetricsRegistry(), logger: Self.logger)
        let labels = Self.series("m")
        var appender = store.appender()
        // Any timestamp may be written to an empty store.
        try appender.append(labels, ref: nil, timestamp: -1_000_000, value: 1)
        try appender.append(labels, ref: nil, timestamp: 10, value: 1)
        // Same timestamp, same value: accepted and ignored. Different value: rejected.
        try appender.append(labels, ref: nil, timestamp: 10, value: 1)
        #expect(throws: AppendError.duplicateTimestamp(labels: labels, timestamp: 10)) {
            try appender.append(labels, ref: nil, timestamp: 10, value: 2)
        }
        #expect(throws: AppendError.outOfOrder(labels: labels, timestamp: 5)) {
            try appender.append(labels, ref: nil, timestamp: 5, value: 2)
        }
        try await appender.commit()
        var next = store.appender()
        #expect(throws: AppendError.outOfOrder(labels: labels, timestamp: 9)) {
            try next.append(labels, ref: nil, timestamp: 9, value: 2)
        }
        try next.append(labels, ref: nil, timestamp: 10, value: 1)
        #expect(throws: AppendError.duplicateTimestamp(labels: labels, timestamp: 10)) {
            try next.append(labels, ref: nil, timestamp: 10, value: 3)
        }
        #expect(throws: AppendError.self) { try next.append(Labels.empty, ref: nil, timestamp: 1, value: 1) }
        let staleNaN = Double(bitPattern: 0x7ff0_0000_0000_0002)
        try next.append(labels, ref: nil, timestamp: 20, value: staleNaN)
        try await next.commit()
        let stored = try Self.samples(try store.querier(minTime: .min, maxTime: .max), [])
        #expect(stored[labels.description]!.map(\.0) == [-1_000_000, 10, 20])
        #expect(stored[labels.description]!.last!.1.bitPattern == staleNaN.bitPattern)
    }

    @Test func referencesSkipLabelLookupAndSurviveRestart() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let labels = Self.series("m", ["a": "1"])
        let ref: SeriesRef
        do {
            let store = try MetricsStore(directory: directory, metrics: MetricsRegistry(), logger: Self.logger)
            var appender = store.appender()
            ref = try appender.append(labels, ref: nil, timestamp: 1, value: 1)
            #expect(try appender.append(labels, ref: ref, timestamp: 2, value: 2) == ref)
            try await appender.commit()
        }
        let reopened = try MetricsStore(directory: directory, metrics: MetricsRegistry(), logger: Self.logger)
        var appender = reopened.appender()
        #expect(try appender.append(labels, ref: ref, timestamp: 3, value: 3) == ref)
        // A new series never reuses a restored reference.
        #expect(try appender.append(Self.series("n"), ref: nil, timestamp: 3, value: 3) > ref)
        try await appender.commit()
    }

    @Test func rollbackDropsThePendingBatch() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try MetricsStore(directory: directory, metrics: MetricsRegistry(), logger: Self.logger)
        var appender = store.appender()
        try appender.append(Self.series("m"), ref: nil, timestamp: 1, value: 1)
        appender.rollback()
        try await appender.commit()
        #expect(try store.querier(minTime: .min, maxTime: .max).select([]).isEmpty)
    }

    @Test func seekNeverGoesBackwards() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try MetricsStore(directory: directory, metrics: MetricsRegistry(), logger: Self.logger)
        var appender = store.appender()
        for i in 0..<500 { try appender.append(Self.series("m"), ref: nil, timestamp: Int64(i) * 10, value: Double(i)) }
        try await appender.commit()
        var iterator = try store.querier(minTime: 100, maxTime: 4000).select([])[0].makeIterator()
        let first = iterator.seek(2005)
        #expect(first && iterator.timestamp == 2010)
        let backwards = iterator.seek(50)
        #expect(backwards && iterator.timestamp == 2010)
        let next = iterator.next()
        #expect(next && iterator.timestamp == 2020)
        let past = iterator.seek(4001)
        #expect(!past)
    }
}
