import ObsCore
import Synchronization

/// A metrics store in memory for rule unit tests: input series and rule output go in through the
/// appender, queries see samples up to `horizon` (promtool loads input samples only up to each
/// evaluation time).
public final class MemoryMetrics: MetricsAppendable, MetricsQueryable {
    struct Samples {
        var timestamps: [Int64] = []
        var values: [Double] = []
        var histograms: [FloatHistogram?] = []
    }

    struct State {
        var series: [Labels: Samples] = [:]
        var horizon: Int64 = .max
    }

    let state = Mutex(State())

    public init() {}

    /// Samples after this time (milliseconds) stay invisible to queries.
    public var horizon: Int64 {
        get { state.withLock { $0.horizon } }
        set { state.withLock { $0.horizon = newValue } }
    }

    public func appender() -> any MetricsAppender { Appender(store: self) }

    func insert(_ labels: Labels, _ timestamp: Int64, _ value: Double, _ histogram: FloatHistogram?) throws(AppendError) {
        try state.withLock { state throws(AppendError) in
            var samples = state.series[labels] ?? Samples()
            if let last = samples.timestamps.last {
                if timestamp == last { throw AppendError.duplicateTimestamp(labels: labels, timestamp: timestamp) }
                if timestamp < last { throw AppendError.outOfOrder(labels: labels, timestamp: timestamp) }
            }
            samples.timestamps.append(timestamp)
            samples.values.append(value)
            samples.histograms.append(histogram)
            state.series[labels] = samples
        }
    }

    struct Appender: MetricsAppender {
        let store: MemoryMetrics
        var pending: [(Labels, Int64, Double, FloatHistogram?)] = []

        mutating func append(_ labels: Labels, ref: SeriesRef?, timestamp: Int64, value: Double) throws(AppendError) -> SeriesRef {
            pending.append((labels, timestamp, value, nil))
            return 0
        }

        mutating func appendHistogram(_ labels: Labels, ref: SeriesRef?, timestamp: Int64,
                                      histogram: FloatHistogram) throws(AppendError) -> SeriesRef {
            pending.append((labels, timestamp, 0, histogram))
            return 0
        }

        /// Rule unit tests have no exemplars (`input_series` cannot write any), so none arrive here.
        mutating func appendExemplar(_ ref: SeriesRef, _ exemplar: Exemplar) throws(AppendError) {}

        mutating func commit() async throws {
            defer { pending = [] }
            for (labels, timestamp, value, histogram) in pending {
                try? store.insert(labels, timestamp, value, histogram)
            }
        }

        mutating func rollback() { pending = [] }
    }

    public func querier(minTime: Int64, maxTime: Int64) throws -> any MetricsQuerier {
        let (series, horizon) = state.withLock { ($0.series, $0.horizon) }
        let upper = min(maxTime, horizon)
        var selected: [StoredMemorySeries] = []
        for (labels, samples) in series {
            let indices = samples.timestamps.indices.filter { samples.timestamps[$0] >= minTime && samples.timestamps[$0] <= upper }
            guard !indices.isEmpty else { continue }
            selected.append(StoredMemorySeries(labels: labels, timestamps: indices.map { samples.timestamps[$0] },
                                               values: indices.map { samples.values[$0] },
                                               histograms: indices.map { samples.histograms[$0] }))
        }
        return Querier(series: selected.sorted { $0.labels < $1.labels })
    }

    struct Querier: MetricsQuerier {
        let series: [StoredMemorySeries]

        func select(_ matchers: [LabelMatcher]) throws -> [any StoredSeries] {
            series.filter { s in matchers.allSatisfy { $0.matches(s.labels[$0.name] ?? "") } }
        }

        func labelNames(_ matchers: [LabelMatcher]) throws -> [String] {
            Array(Set(try select(matchers).flatMap { $0.labels.map(\.name) })).sorted()
        }

        func labelValues(_ name: String, _ matchers: [LabelMatcher]) throws -> [String] {
            Array(Set(try select(matchers).compactMap { $0.labels[name] })).sorted()
        }
    }
}

struct StoredMemorySeries: StoredSeries {
    let labels: Labels
    let timestamps: [Int64]
    let values: [Double]
    let histograms: [FloatHistogram?]

    func makeIterator() -> any SampleIterator { Iterator(series: self) }

    struct Iterator: SampleIterator {
        let series: StoredMemorySeries
        var index = -1

        mutating func next() -> Bool {
            index += 1
            return index < series.timestamps.count
        }

        mutating func seek(_ timestamp: Int64) -> Bool {
            if index < 0 { index = 0 }
            while index < series.timestamps.count && series.timestamps[index] < timestamp { index += 1 }
            return index < series.timestamps.count
        }

        var timestamp: Int64 { series.timestamps[index] }
        var value: Double { series.values[index] }
        var histogram: FloatHistogram? { series.histograms[index] }
    }
}
