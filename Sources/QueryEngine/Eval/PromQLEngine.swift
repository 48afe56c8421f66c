import ObsCore

/// Runs PromQL queries against a metrics store. Stateless apart from its options; thread-safe.
/// Evaluation is synchronous CPU work: callers on the cooperative pool should hop off it first.
public struct PromQLEngine: Sendable {
    public var options: EngineOptions

    public init(options: EngineOptions = EngineOptions()) {
        self.options = options
    }

    /// Evaluates `query` at one instant (milliseconds).
    public func instantQuery(_ query: String, at time: Int64, on store: any MetricsQueryable) throws(PromQLError) -> QueryResult {
        try instantQuery(try PromQLParser.parse(query), text: query, at: time, on: store)
    }

    /// Evaluates an expression parsed earlier (`text` is what it was parsed from), for callers that
    /// run the same query again and again, such as rules.
    public func instantQuery(_ expr: Expr, text query: String, at time: Int64,
                             on store: any MetricsQueryable) throws(PromQLError) -> QueryResult {
        try Self.checkTime(time)
        let context = QueryContext(queryable: store, options: options, start: time, end: time, step: 0, query: query)
        let evaluator = Evaluator(context: context, start: time, end: time, interval: 1)
        let value: QueryValue
        switch try evaluator.eval(expr) {
        case let .scalar(values):
            value = .scalar(Point(t: time, f: values[0]))
        case let .string(text):
            value = .string(text, at: time)
        case let .vector(series):
            let cleaned = try finish(series, steps: 1)
            value = .vector(cleaned.compactMap { s in
                s.present[0] ? Sample(labels: s.labels, point: Point(t: time, f: s.values[0]), histogram: s.histogram(0)) : nil
            })
        case let .matrix(series, _):
            var result = series.map { s in
                var out = Series(labels: s.dropName ? s.labels.removing(Labels.nameAndMetadata) : s.labels, points: [])
                for i in s.timestamps.indices {
                    if let h = s.histograms?[i] {
                        out.histograms.append(HistogramPoint(t: s.timestamps[i], h: h))
                    } else {
                        out.points.append(Point(t: s.timestamps[i], f: s.values[i]))
                    }
                }
                return out
            }.filter { !$0.points.isEmpty || !$0.histograms.isEmpty }
            result.sort { $0.labels < $1.labels }
            for i in result.indices.dropFirst() where result[i].labels == result[i - 1].labels {
                throw PromQLError.execution("vector cannot contain metrics with the same labelset")
            }
            value = .matrix(result)
        }
        return QueryResult(value: value, warnings: context.annotations.warnings, infos: context.annotations.infos)
    }

    /// Evaluates `query` at every `step` from `start` to `end` (milliseconds).
    public func rangeQuery(_ query: String, start: Int64, end: Int64, step: Int64,
                           on store: any MetricsQueryable) throws(PromQLError) -> QueryResult {
        let expr = try PromQLParser.parse(query)
        guard expr.type == .scalar || expr.type == .vector else {
            throw PromQLError.execution("invalid expression type \"\(expr.type.documentedName)\" for range query, must be Scalar or instant Vector")
        }
        try Self.checkTime(start)
        try Self.checkTime(end)
        guard step > 0, end >= start else { throw PromQLError.execution("invalid range: start \(start), end \(end), step \(step)") }
        if (end - start) / step + 1 > Int64(options.maxSamples) { throw PromQLError.tooManySamples(options.maxSamples) }
        let context = QueryContext(queryable: store, options: options, start: start, end: end, step: step, query: query)
        let evaluator = Evaluator(context: context, start: start, end: end, interval: step)
        var series: [Series]
        switch try evaluator.eval(expr) {
        case let .scalar(values):
            series = [Series(labels: .empty, points: values.enumerated().map { Point(t: evaluator.time($0.offset), f: $0.element) })]
        case let .vector(results):
            series = try finish(results, steps: evaluator.steps).map { s in
                var out = Series(labels: s.labels, points: [])
                for step in 0..<evaluator.steps where s.present[step] {
                    if let h = s.histogram(step) {
                        out.histograms.append(HistogramPoint(t: evaluator.time(step), h: h))
                    } else {
                        out.points.append(Point(t: evaluator.time(step), f: s.values[step]))
                    }
                }
                return out
            }.filter { !$0.points.isEmpty || !$0.histograms.isEmpty }
        default:
            throw PromQLError.execution("invalid expression type for range query")
        }
        series.sort { $0.labels < $1.labels }
        return QueryResult(value: .matrix(series), warnings: context.annotations.warnings, infos: context.annotations.infos)
    }

    /// The engine's arithmetic on times is only safe within ±2^53 ms.
    public static func checkTime(_ time: Int64) throws(PromQLError) {
        guard abs(time) <= QueryContext.timeBound else {
            throw PromQLError.execution("timestamp out of range: \(time)")
        }
    }

    /// Drops the names that delayed name removal kept, then joins series whose label sets now
    /// coincide; two values at one step are an error.
    private func finish(_ series: [StepSeries], steps: Int) throws(PromQLError) -> [StepSeries] {
        let named = series.compactMap { s -> StepSeries? in
            guard !s.isEmpty else { return nil }
            var copy = s
            if s.dropName { copy.labels = s.labels.removing(Labels.nameAndMetadata) }
            return copy
        }
        return try StepSeries.merging(named, steps: steps)
    }
}
