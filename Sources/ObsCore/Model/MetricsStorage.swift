/// The protocols between metric sources, the metric store and the query engines.
///
/// Sources fill an appender and commit; when `commit` returns, the batch is durable. Engines open a
/// querier for a time range, select series by matchers and walk each series with a sample iterator.
/// Concrete stores live in `MetricsTSDB`; engines and sources see only these protocols.

/// A reference to a series that a store handed out, valid for the life of the store; lets a source
/// skip label hashing on its next append of the same series.
public typealias SeriesRef = UInt64

/// Why a sample was not stored. The messages match Prometheus's, which clients recognise.
public enum AppendError: Error, Equatable, Sendable, CustomStringConvertible {
    case outOfOrder(labels: Labels, timestamp: Int64)
    case duplicateTimestamp(labels: Labels, timestamp: Int64)
    case tooOld(labels: Labels, timestamp: Int64)
    /// Beyond ±`CheckedTime.maxMilliseconds`: block and compaction arithmetic must not overflow.
    case outOfRange(labels: Labels, timestamp: Int64)
    case invalidLabels(labels: Labels, reason: String)
    case invalidExemplar(labels: Labels, reason: String)

    public var description: String {
        switch self {
        case let .outOfOrder(labels, t): "out of order sample for series \(labels) at timestamp \(t)"
        case let .duplicateTimestamp(labels, t): "duplicate sample for timestamp for series \(labels) at timestamp \(t)"
        case let .tooOld(labels, t): "out of bounds: sample too old for series \(labels) at timestamp \(t)"
        case let .outOfRange(labels, t): "out of bounds: timestamp \(t) of series \(labels) is beyond ±2^53 ms"
        case let .invalidLabels(labels, reason): "invalid labels \(labels): \(reason)"
        case let .invalidExemplar(labels, reason): "invalid exemplar \(labels): \(reason)"
        }
    }
}

/// Collects samples for one commit. Not thread-safe: one appender per request or scrape.
public protocol MetricsAppender {
    /// Adds a sample; throws `AppendError` for a sample that can never be stored (the rest of the batch
    /// is unaffected). `ref` is a hint from an earlier append of the same series.
    @discardableResult
    mutating func append(_ labels: Labels, ref: SeriesRef?, timestamp: Int64, value: Double) throws(AppendError) -> SeriesRef

    /// Adds a native histogram sample; the same rules as `append`, and a series may hold floats at
    /// some times and histograms at others.
    @discardableResult
    mutating func appendHistogram(_ labels: Labels, ref: SeriesRef?, timestamp: Int64,
                                  histogram: FloatHistogram) throws(AppendError) -> SeriesRef

    /// Adds an exemplar to the series `ref` (a reference an append of this batch returned). It is
    /// stored with the batch; one older than the series' newest exemplar, or the same again, is
    /// counted and dropped at commit. Throws only for an exemplar that can never be stored.
    mutating func appendExemplar(_ ref: SeriesRef, _ exemplar: Exemplar) throws(AppendError)

    /// Makes every accepted sample durable and visible. When it returns, a crash loses none of them.
    mutating func commit() async throws

    /// Drops everything appended since the last commit.
    mutating func rollback()
}

/// Where appenders come from.
public protocol MetricsAppendable: Sendable {
    func appender() -> any MetricsAppender

    /// An appender whose `commit` hands the WAL to the kernel without waiting for the disk: a
    /// killed process loses nothing, a crashed machine may lose the last seconds. For sources with
    /// no client waiting on an acknowledgement (scrapes); the store syncs such writes periodically.
    func bufferedAppender() -> any MetricsAppender
}

extension MetricsAppendable {
    public func bufferedAppender() -> any MetricsAppender { appender() }
}

/// Walks one series' samples in time order. Not thread-safe.
public protocol SampleIterator {
    /// Moves to the next sample; false at the end.
    mutating func next() -> Bool
    /// Moves to the first sample at or after `timestamp` (never backwards); false if there is none.
    mutating func seek(_ timestamp: Int64) -> Bool
    /// The current sample, valid after `next` or `seek` returned true.
    var timestamp: Int64 { get }
    var value: Double { get }
    /// The current sample's histogram, or `nil` for a float sample (then `value` holds it).
    var histogram: FloatHistogram? { get }

    /// Appends the current sample and those after it up to `maxTime` to the arrays, and returns
    /// whether samples remain after `maxTime` (the iterator then stands on the first of them).
    /// A histogram sample goes into `histograms` at its position (created on the first one, floats
    /// get `nil` there) with 0 in `values`; `histograms` stays `nil` while only floats were seen.
    /// Call only after `next` or `seek` returned true. One call per series instead of one dynamic
    /// call per sample: engines read whole windows this way.
    mutating func collect(upTo maxTime: Int64, timestamps: inout [Int64], values: inout [Double],
                          histograms: inout [FloatHistogram?]?) -> Bool
}

extension SampleIterator {
    public var histogram: FloatHistogram? { nil }

    public mutating func collect(upTo maxTime: Int64, timestamps: inout [Int64], values: inout [Double],
                                 histograms: inout [FloatHistogram?]?) -> Bool {
        while timestamp <= maxTime {
            if let h = histogram {
                if histograms == nil { histograms = Array(repeating: nil, count: timestamps.count) }
                histograms!.append(h)
                values.append(0)
            } else {
                histograms?.append(nil)
                values.append(value)
            }
            timestamps.append(timestamp)
            if !next() { return false }
        }
        return true
    }
}

/// A selected series: its labels and a way to read its samples.
/// Queries iterate the series of one selection on several threads at once, each series on one:
/// `makeIterator` and the iterators it returns must not share mutable state between series.
public protocol StoredSeries {
    var labels: Labels { get }
    func makeIterator() -> any SampleIterator
}

/// A read view over a time range. Samples appended after it was opened may or may not be seen.
public protocol MetricsQuerier {
    /// Series with at least one sample in the querier's range that match every matcher, sorted by labels.
    func select(_ matchers: [LabelMatcher]) throws -> [any StoredSeries]
    /// Label names of matching series (all series if `matchers` is empty), sorted.
    func labelNames(_ matchers: [LabelMatcher]) throws -> [String]
    /// Values of `name` across matching series, sorted.
    func labelValues(_ name: String, _ matchers: [LabelMatcher]) throws -> [String]
}

/// Where queriers come from.
public protocol MetricsQueryable: Sendable {
    func querier(minTime: Int64, maxTime: Int64) throws -> any MetricsQuerier
}
