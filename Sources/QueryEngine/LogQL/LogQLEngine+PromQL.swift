import ObsCore

/// A metric query's result: a PromQL value (timestamps in milliseconds) and what it read.
public struct LogQLMetricResult: Sendable {
    public var value: QueryValue
    public var stats: LogQLStats
}

extension LogQLEngine {
    /// Evaluates a metric query at `time` (instant) or at every `step` of `[start, end]`, all in
    /// nanoseconds. Range aggregations are computed from the store; the expression around them
    /// (vector aggregations, binary operations, `label_replace`, `vector()`, numbers) is handed to
    /// the PromQL evaluator over those results, named `__logql_<n>__` for the occasion.
    public func metric(_ expr: LogQLExpr, start: Int64, end: Int64, step: Int64,
                       instant: Bool) throws(LogQLError) -> LogQLMetricResult {
        if case .logs = expr { throw .badQuery("a log query is not a metric query") }
        let began = ContinuousClock.now
        let deadline = began + options.timeout
        let startMs = Self.floorDiv(start, 1_000_000)
        let endMs = Self.floorDiv(end, 1_000_000)
        let stepMs = instant ? 1 : Swift.max(1, step / 1_000_000)
        let count = instant ? 1 : Int((endMs - startMs) / stepMs) + 1
        let grid = StepGrid(start: startMs * 1_000_000, step: stepMs * 1_000_000, count: count)
        var stats = LogQLStats()
        var leaves = LeafStore()
        let text = try promQL(expr, grid: grid, injected: nil, deadline: deadline, leaves: &leaves, stats: &stats)

        var engine = PromQLEngine()
        engine.options.lookbackDelta = 1
        engine.options.timeout = Swift.max(.milliseconds(1), deadline - ContinuousClock.now)
        let store = leaves
        var result: QueryResult
        do {
            result = instant ? try engine.instantQuery(text, at: startMs, on: store)
                : try engine.rangeQuery(text, start: startMs, end: startMs + Int64(count - 1) * stepMs, step: stepMs, on: store)
        } catch {
            if case .timeout = error { throw .timeout(options.timeout) }
            throw .badQuery("\(error)")
        }
        result.value = Self.withoutLeafNames(result.value)
        let series: Int
        switch result.value {
        case let .vector(samples): series = samples.count
        case let .matrix(list): series = list.count
        case .scalar, .string: series = 1
        }
        if series > options.maxSeries {
            throw .limit("maximum number of series (\(options.maxSeries)) reached for a single query; consider reducing query cardinality by adding more filters or aggregations")
        }
        stats.seconds = Self.seconds(since: began)
        return LogQLMetricResult(value: result.value, stats: stats)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    /// The PromQL text of `expr`, evaluating each range aggregation into a named leaf.
    private func promQL(_ expr: LogQLExpr, grid: StepGrid, injected: Grouping?, deadline: ContinuousClock.Instant,
                        leaves: inout LeafStore, stats: inout LogQLStats) throws(LogQLError) -> String {
        func recurse(_ inner: LogQLExpr, _ injected: Grouping? = nil) throws(LogQLError) -> String {
            try promQL(inner, grid: grid, injected: injected, deadline: deadline, leaves: &leaves, stats: &stats)
        }
        switch expr {
        case .logs:
            throw .badQuery("a log query cannot be used as a metric")
        case let .rangeAggregation(aggregation):
            let name = "__logql_\(leaves.names)__"
            leaves.names += 1
            for series in try evaluate(aggregation, grid: grid, injected: injected, deadline: deadline, stats: &stats) {
                var points: [(Int64, Double)] = []
                for (index, value) in series.values.enumerated() {
                    if let value { points.append((grid.time(index) / 1_000_000, value)) }
                }
                leaves.series.append(LeafSeries(name: name, labels: series.labels, points: points))
            }
            return name
        case let .vectorAggregation(aggregation):
            let grouping = aggregation.grouping.map { " \($0.without ? "without" : "by") (\($0.labels.joined(separator: ", ")))" } ?? ""
            switch aggregation.operation {
            case .sort, .sortDesc:
                return "\(aggregation.operation.rawValue)(\(try recurse(aggregation.expr)))"
            case .topk, .bottomk:
                let k = formatValue(aggregation.parameter ?? 0)
                return "\(aggregation.operation.rawValue)\(grouping) (\(k), \(try recurse(aggregation.expr)))"
            default:
                // A sum by labels of counts can be computed from counts already grouped by them.
                var push: Grouping?
                if aggregation.operation == .sum, let grouping = aggregation.grouping, !grouping.without,
                   case let .rangeAggregation(inner) = aggregation.expr, inner.grouping == nil,
                   [.countOverTime, .rate, .bytesOverTime, .bytesRate].contains(inner.operation) {
                    push = grouping
                }
                return "\(aggregation.operation.rawValue)\(grouping) (\(try recurse(aggregation.expr, push)))"
            }
        case let .binary(operation):
            var modifiers = operation.returnBool ? " bool" : ""
            switch operation.matching {
            case let .on(labels)?: modifiers += " on (\(labels.joined(separator: ", ")))"
            case let .ignoring(labels)?: modifiers += " ignoring (\(labels.joined(separator: ", ")))"
            case nil: break
            }
            switch operation.group {
            case let .left(labels)?: modifiers += " group_left (\(labels.joined(separator: ", ")))"
            case let .right(labels)?: modifiers += " group_right (\(labels.joined(separator: ", ")))"
            case nil: break
            }
            return "(\(try recurse(operation.lhs))) \(operation.op.rawValue)\(modifiers) (\(try recurse(operation.rhs)))"
        case let .number(value):
            return "(\(formatValue(value)))"
        case let .vector(value):
            return "vector(\(formatValue(value)))"
        case let .labelReplace(inner, destination, replacement, source, regex):
            return "label_replace(\(try recurse(inner)), \(JSONText.quote(destination)), \(JSONText.quote(replacement)), "
                + "\(JSONText.quote(source)), \(JSONText.quote(regex)))"
        }
    }

    private static func withoutLeafNames(_ value: QueryValue) -> QueryValue {
        let name: Set<String> = ["__name__"]
        switch value {
        case let .vector(samples):
            return .vector(samples.map { sample in
                var copy = sample
                copy.labels = sample.labels.removing(name)
                return copy
            })
        case let .matrix(series):
            return .matrix(series.map { Series(labels: $0.labels.removing(name), points: $0.points) })
        case .scalar, .string:
            return value
        }
    }
}

/// One range aggregation's series as the PromQL evaluator reads it: samples at step times.
struct LeafSeries: StoredSeries {
    let name: String
    let labels: Labels
    let timestamps: [Int64]
    let values: [Double]

    init(name: String, labels: Labels, points: [(Int64, Double)]) {
        self.name = name
        self.labels = Labels(labels.pairs + [Label("__name__", name)])
        timestamps = points.map(\.0)
        values = points.map(\.1)
    }

    func makeIterator() -> any SampleIterator { LeafIterator(timestamps: timestamps, values: values) }
}

struct LeafIterator: SampleIterator {
    let timestamps: [Int64]
    let values: [Double]
    var index = -1

    mutating func next() -> Bool {
        index += 1
        return index < timestamps.count
    }

    mutating func seek(_ timestamp: Int64) -> Bool {
        if index < 0 { index = 0 }
        guard index < timestamps.count else { return false }
        if timestamps[index] < timestamp {
            // Binary search the rest: steps are sorted.
            var low = index, high = timestamps.count
            while low < high {
                let middle = (low + high) / 2
                if timestamps[middle] < timestamp { low = middle + 1 } else { high = middle }
            }
            index = low
        }
        return index < timestamps.count
    }

    var timestamp: Int64 { timestamps[index] }
    var value: Double { values[index] }
}

/// The leaves of one metric query as a read-only metrics store.
struct LeafStore: MetricsQueryable, MetricsQuerier {
    var series: [LeafSeries] = []
    /// Names given out so far.
    var names = 0

    func querier(minTime: Int64, maxTime: Int64) throws -> any MetricsQuerier { self }

    func select(_ matchers: [LabelMatcher]) throws -> [any StoredSeries] {
        series.filter { s in matchers.allSatisfy { $0.matches(s.labels[$0.name] ?? "") } }.sorted { $0.labels < $1.labels }
    }

    func labelNames(_ matchers: [LabelMatcher]) throws -> [String] {
        Array(Set(try select(matchers).flatMap { $0.labels.map(\.name) })).sorted()
    }

    func labelValues(_ name: String, _ matchers: [LabelMatcher]) throws -> [String] {
        Array(Set(try select(matchers).compactMap { $0.labels[name] })).sorted()
    }
}
