import Logging
@testable import MetricsTSDB
import ObsCore
import Testing

/// The exemplar ring and its place in the store: bounded size, per-series order, duplicates, the
/// WAL (exemplars survive a reopen and a checkpoint) and selection by matchers and time.
@Suite struct ExemplarStoreTests {
    static let logger = Logger(label: "test")
    static let requests = Labels(["__name__": "http_request_duration_seconds_bucket", "le": "0.5", "job": "api"])
    static let errors = Labels(["__name__": "http_errors_total", "job": "api"])

    static func exemplar(_ trace: String, _ value: Double, at timestamp: Int64) -> Exemplar {
        Exemplar(labels: Labels(["trace_id": trace]), value: value, timestamp: timestamp)
    }

    static func all(_ matchers: [LabelMatcher]...) -> [[LabelMatcher]] { matchers }

    @Test func theRingKeepsTheNewestAcrossSeries() throws {
        let ring = ExemplarStorage(capacity: 3, metrics: MetricsRegistry())
        #expect(ring.add(Self.requests, Self.exemplar("a", 1, at: 1000)) == .added)
        #expect(ring.add(Self.requests, Self.exemplar("a", 1, at: 1000)) == .duplicate)
        #expect(ring.add(Self.requests, Self.exemplar("b", 2, at: 1000)) == .outOfOrder)
        #expect(ring.add(Self.requests, Self.exemplar("b", 2, at: 900)) == .outOfOrder)
        #expect(ring.add(Self.errors, Self.exemplar("c", 3, at: 500)) == .added)
        #expect(ring.add(Self.requests, Self.exemplar("d", 4, at: 2000)) == .added)
        // Full: the next one evicts the oldest, which is the first of `requests`.
        #expect(ring.add(Self.errors, Self.exemplar("e", 5, at: 3000)) == .added)
        let everything = Self.all([try LabelMatcher(.equal, "job", "api")])
        let found = ring.select(everything, start: .min, end: .max)
        #expect(found.map(\.series) == [Self.errors, Self.requests])
        #expect(found[0].exemplars.map(\.value) == [3, 5])
        #expect(found[1].exemplars.map(\.value) == [4])
        // Evicting a series' last exemplar forgets the series.
        #expect(ring.add(Self.errors, Self.exemplar("f", 6, at: 4000)) == .added)
        #expect(ring.add(Self.errors, Self.exemplar("g", 7, at: 5000)) == .added)
        #expect(ring.select(everything, start: .min, end: .max).map(\.series) == [Self.errors])
        // Time bounds are inclusive; matchers pick the series.
        #expect(ring.select(everything, start: 4000, end: 4000).first?.exemplars.map(\.value) == [6])
        #expect(ring.select(Self.all([try LabelMatcher(.equal, "__name__", "nope")]), start: .min, end: .max).isEmpty)
        // Shrinking keeps the newest; zero keeps none and takes none.
        ring.resize(to: 1)
        #expect(ring.select(everything, start: .min, end: .max).first?.exemplars.map(\.value) == [7])
        ring.resize(to: 0)
        #expect(ring.add(Self.errors, Self.exemplar("h", 8, at: 6000)) == .disabled)
        #expect(ring.select(everything, start: .min, end: .max).isEmpty)
    }

    @Test func exemplarsAreLoggedAndSurviveAReopenAndACheckpoint() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        var options = MetricsStore.Options()
        options.blockRange = 3_600_000
        let hour: Int64 = 3_600_000
        do {
            let store = try MetricsStore(directory: directory, options: options, metrics: MetricsRegistry(), logger: Self.logger)
            var appender = store.appender()
            let ref = try appender.append(Self.requests, ref: nil, timestamp: 1000, value: 1)
            try appender.appendExemplar(ref, Self.exemplar("early", 0.3, at: 1000))
            let late = try appender.append(Self.errors, ref: nil, timestamp: 3 * hour, value: 1)
            try appender.appendExemplar(late, Self.exemplar("late", 1, at: 3 * hour))
            // Too long a label set is refused outright.
            let long = Exemplar(labels: Labels(["trace_id": String(repeating: "x", count: 121)]), value: 1, timestamp: 2000)
            #expect(throws: AppendError.self) { try appender.appendExemplar(ref, long) }
            try await appender.commit()
            store.close()
        }
        let everything = Self.all([try LabelMatcher(.equal, "job", "api")])
        do {
            let store = try MetricsStore(directory: directory, options: options, metrics: MetricsRegistry(), logger: Self.logger)
            let found = store.exemplars(everything, start: .min, end: .max)
            #expect(found.map(\.series) == [Self.errors, Self.requests])
            #expect(found.flatMap(\.exemplars).map { $0.labels["trace_id"] } == ["late", "early"])
            // A block is cut and the WAL checkpointed: the old series' exemplar goes with the head's
            // low time, the newer one stays.
            #expect(try store.compact() > 0)
            store.close()
        }
        let store = try MetricsStore(directory: directory, options: options, metrics: MetricsRegistry(), logger: Self.logger)
        let found = store.exemplars(everything, start: .min, end: .max)
        #expect(found.flatMap(\.exemplars).map { $0.labels["trace_id"] } == ["late"], "\(found)")
    }
}
