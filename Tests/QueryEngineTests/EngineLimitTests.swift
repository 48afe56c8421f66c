import Foundation
import ObsCore
import QueryEngine
import Testing

/// An in-memory metrics store for engine tests; `delay` makes every select slow.
struct FakeStore: MetricsQueryable {
    struct Series: StoredSeries {
        let labels: Labels
        let samples: [(Int64, Double)]
        func makeIterator() -> any SampleIterator { Iterator(samples: samples) }
    }

    struct Iterator: SampleIterator {
        let samples: [(Int64, Double)]
        var index = -1
        var timestamp: Int64 { samples[index].0 }
        var value: Double { samples[index].1 }
        mutating func next() -> Bool {
            index += 1
            return index < samples.count
        }
        mutating func seek(_ t: Int64) -> Bool {
            if index < 0 { index = 0 }
            while index < samples.count, samples[index].0 < t { index += 1 }
            return index < samples.count
        }
    }

    struct Querier: MetricsQuerier {
        let series: [Series]
        let delay: Double
        func select(_ matchers: [LabelMatcher]) throws -> [any StoredSeries] {
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            return series.filter { s in matchers.allSatisfy { $0.matches(s.labels[$0.name] ?? "") } }
        }
        func labelNames(_ matchers: [LabelMatcher]) throws -> [String] { [] }
        func labelValues(_ name: String, _ matchers: [LabelMatcher]) throws -> [String] { [] }
    }

    let series: [Series]
    var delay = 0.0

    func querier(minTime: Int64, maxTime: Int64) throws -> any MetricsQuerier {
        Querier(series: series, delay: delay)
    }
}

@Suite struct EngineLimitTests {
    static let store = FakeStore(series: (0..<10).map { i in
        FakeStore.Series(labels: Labels(["__name__": "up", "instance": "\(i)"]),
                         samples: (0..<100).map { (Int64($0) * 15_000, Double($0)) })
    })

    @Test func tooManySamplesIsAnExecutionError() {
        var options = EngineOptions()
        options.maxSamples = 50
        let engine = PromQLEngine(options: options)
        #expect(throws: PromQLError.tooManySamples(50)) {
            try engine.rangeQuery("up", start: 0, end: 1_485_000, step: 15_000, on: Self.store)
        }
        // Within the limit the same query works.
        #expect(throws: Never.self) { try PromQLEngine().rangeQuery("up", start: 0, end: 1_485_000, step: 15_000, on: Self.store) }
    }

    @Test func slowQueriesTimeOut() {
        var options = EngineOptions()
        options.timeout = .milliseconds(20)
        var slow = Self.store
        slow.delay = 0.05
        #expect(throws: PromQLError.timeout("query execution")) {
            try PromQLEngine(options: options).instantQuery("up + up", at: 60_000, on: slow)
        }
    }

    @Test func instantAndRangeAgree() throws {
        let engine = PromQLEngine()
        let instant = try engine.instantQuery("sum(rate(up[1m]))", at: 600_000, on: Self.store)
        let range = try engine.rangeQuery("sum(rate(up[1m]))", start: 540_000, end: 660_000, step: 60_000, on: Self.store)
        guard case let .vector(samples) = instant.value, case let .matrix(series) = range.value else {
            Issue.record("unexpected result shapes")
            return
        }
        #expect(samples.first?.point.f == series.first?.points[1].f)
        #expect(instant.infos == ["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:10)"])
    }
}
