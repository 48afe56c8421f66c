import ObsCore

/// One float sample of a result series.
public struct Point: Sendable, Equatable {
    public var t: Int64
    public var f: Double

    public init(t: Int64, f: Double) {
        self.t = t
        self.f = f
    }
}

/// One native histogram sample of a result series.
public struct HistogramPoint: Sendable, Equatable {
    public var t: Int64
    public var h: FloatHistogram

    public init(t: Int64, h: FloatHistogram) {
        self.t = t
        self.h = h
    }
}

/// A labelled value of an instant-vector result: a float, or a histogram when `histogram` is set.
public struct Sample: Sendable, Equatable {
    public var labels: Labels
    public var point: Point
    public var histogram: FloatHistogram?

    public init(labels: Labels, point: Point, histogram: FloatHistogram? = nil) {
        self.labels = labels
        self.point = point
        self.histogram = histogram
    }
}

/// A labelled run of points of a range-query or range-vector result; float and histogram points
/// are listed apart, as the Prometheus API does.
public struct Series: Sendable, Equatable {
    public var labels: Labels
    public var points: [Point]
    public var histograms: [HistogramPoint] = []

    public init(labels: Labels, points: [Point], histograms: [HistogramPoint] = []) {
        self.labels = labels
        self.points = points
        self.histograms = histograms
    }
}

/// What a query returns, in the four shapes of the Prometheus API.
public enum QueryValue: Sendable, Equatable {
    case scalar(Point)
    case string(String, at: Int64)
    case vector([Sample])
    case matrix([Series])
}

/// A query's value and the annotations Prometheus would attach to it.
public struct QueryResult: Sendable {
    public var value: QueryValue
    public var warnings: [String]
    public var infos: [String]
}

/// A series evaluated at every step of the query: one slot per step, `present[i]` false where the
/// series has no value. Dense so that binary operators and aggregations combine series step by step
/// without searching.
struct StepSeries {
    var labels: Labels
    var values: [Double]
    var present: [Bool]
    /// Prometheus's delayed name removal: the name is kept for matching and dropped at the end.
    var dropName = false
    /// Histogram values by step, `nil` while the series holds only floats. A step with a histogram
    /// is `present` and its `values` slot is unused.
    var histograms: [FloatHistogram?]?

    init(labels: Labels, steps: Int, dropName: Bool = false) {
        self.labels = labels
        values = Array(repeating: 0, count: steps)
        present = Array(repeating: false, count: steps)
        self.dropName = dropName
    }

    init(labels: Labels, values: [Double], present: [Bool], dropName: Bool) {
        self.labels = labels
        self.values = values
        self.present = present
        self.dropName = dropName
    }

    @inline(__always) mutating func set(_ step: Int, _ value: Double) {
        values[step] = value
        present[step] = true
        if histograms != nil { histograms![step] = nil }
    }

    mutating func set(_ step: Int, histogram: FloatHistogram) {
        if histograms == nil { histograms = Array(repeating: nil, count: values.count) }
        histograms![step] = histogram
        present[step] = true
    }

    /// The histogram at `step`, if that step holds one.
    @inline(__always) func histogram(_ step: Int) -> FloatHistogram? {
        histograms?[step]
    }

    /// Whether `step` holds a float (present and not a histogram).
    @inline(__always) func hasFloat(_ step: Int) -> Bool {
        present[step] && (histograms == nil || histograms![step] == nil)
    }

    mutating func clear(_ step: Int) {
        present[step] = false
        if histograms != nil { histograms![step] = nil }
    }

    /// The series with its histogram steps removed, for operators that read floats only.
    var floatsOnly: StepSeries {
        guard let histograms else { return self }
        var copy = self
        for (step, h) in histograms.enumerated() where h != nil { copy.present[step] = false }
        copy.histograms = nil
        return copy
    }

    /// Whether any step holds a histogram.
    var hasHistograms: Bool { histograms?.contains { $0 != nil } ?? false }

    var isEmpty: Bool { !present.contains(true) }

    /// Joins series that share a label set into one, in order of first appearance; two values at
    /// the same step are Prometheus's duplicate-labelset error.
    static func merging(_ series: [StepSeries], steps: Int) throws(PromQLError) -> [StepSeries] {
        var index: [Labels: Int] = [:]
        var merged: [StepSeries] = []
        merged.reserveCapacity(series.count)
        for s in series {
            if let i = index[s.labels] {
                for step in 0..<steps where s.present[step] {
                    if merged[i].present[step] { throw .execution("vector cannot contain metrics with the same labelset") }
                    if let h = s.histogram(step) { merged[i].set(step, histogram: h) } else { merged[i].set(step, s.values[step]) }
                }
                merged[i].dropName = merged[i].dropName || s.dropName
            } else {
                index[s.labels] = merged.count
                merged.append(s)
            }
        }
        return merged
    }
}

/// Result series gathered by label set, in order of first appearance, for operators whose output
/// series are only known as values arrive (fills, `count_values`, `info`).
/// Each new series is a value slot for every step, so it is charged to the query's sample budget as
/// it appears: output that differs at every step would otherwise grow as steps squared.
struct SeriesByLabels {
    let steps: Int
    var series: [StepSeries]
    private var index: [Labels: Int] = [:]
    private let context: QueryContext

    init(steps: Int, starting series: [StepSeries] = [], context: QueryContext) {
        self.steps = steps
        self.series = series
        self.context = context
        for (i, s) in series.enumerated() { index[s.labels] = i }
    }

    /// The position of the series with `labels`, created (with `dropName`) when new.
    mutating func slot(_ labels: Labels, dropName: Bool) throws(PromQLError) -> Int {
        if let existing = index[labels] { return existing }
        try context.checkLimits(adding: steps)
        index[labels] = series.count
        series.append(StepSeries(labels: labels, steps: steps, dropName: dropName))
        return series.count - 1
    }

    mutating func set(_ labels: Labels, _ step: Int, _ value: Double, dropName: Bool) throws(PromQLError) {
        series[try slot(labels, dropName: dropName)].set(step, value)
    }
}

/// Raw samples of one series over a window, for range functions: the evaluated form of a matrix
/// selector or subquery. Stale markers are already removed.
struct RangeSeries {
    var labels: Labels
    var timestamps: [Int64]
    var values: [Double]
    var dropName = false
    /// Histogram samples at their positions, `nil` when the series has only floats.
    var histograms: [FloatHistogram?]? = nil

    var hasHistogramSamples: Bool { histograms?.contains { $0 != nil } ?? false }

    /// The float samples only.
    var floatsOnly: RangeSeries {
        guard let histograms else { return self }
        var copy = self
        copy.histograms = nil
        copy.timestamps = []
        copy.values = []
        for i in timestamps.indices where histograms[i] == nil {
            copy.timestamps.append(timestamps[i])
            copy.values.append(values[i])
        }
        return copy
    }
}

/// What evaluating an expression node gives.
enum EvalValue {
    /// One value per step.
    case scalar([Double])
    case vector([StepSeries])
    /// Samples for a range vector (only as a function argument or the result of an instant query).
    case matrix([RangeSeries], range: Int64)
    case string(String)
}
