import ObsCore

/// Settings that shape every query, with Prometheus's defaults.
public struct EngineOptions: Sendable {
    /// How far back an instant selector looks for the latest sample (`--query.lookback-delta`).
    public var lookbackDelta: Int64 = 300_000
    /// Step of subqueries written without one (the global `evaluation_interval`).
    public var defaultSubqueryStep: Int64 = 60_000
    /// Most samples a query may hold at once (`--query.max-samples`).
    public var maxSamples = 50_000_000
    /// `--query.timeout`.
    public var timeout: Duration = .seconds(120)
    /// Whose semantics to follow where Prometheus 2 and 3 differ.
    public var compatibility: Compatibility = .prometheus3

    public enum Compatibility: String, Sendable {
        /// Windows (range selectors and the lookback) leave their start open.
        case prometheus3
        /// Windows include a sample exactly at their start; `rate` caps extrapolation at the zero
        /// point before the half-interval rule; `atan2` keeps the metric name.
        case prometheus2
    }

    var closedWindows: Bool { compatibility == .prometheus2 }

    public init() {}
}

/// The query-wide facts that nested subquery evaluators share with the top level.
final class QueryContext {
    let queryable: any MetricsQueryable
    let options: EngineOptions
    /// The top-level query's start, end and step, for `@ start()`, `@ end()`, `step()` and `range()`.
    let queryStart: Int64
    let queryEnd: Int64
    let queryStep: Int64
    let deadline: ContinuousClock.Instant
    var samples = 0
    var annotations = Annotations()
    let queryText: [UInt8]

    init(queryable: any MetricsQueryable, options: EngineOptions, start: Int64, end: Int64, step: Int64, query: String) {
        self.queryable = queryable
        self.options = options
        queryStart = start
        queryEnd = end
        queryStep = step
        deadline = .now + options.timeout
        queryText = Array(query.utf8)
    }

    /// Added to a window's start to get its first included timestamp.
    var windowStartOffset: Int64 { options.closedWindows ? 0 : 1 }

    func checkLimits(adding count: Int) throws(PromQLError) {
        samples += count
        if samples > options.maxSamples { throw .tooManySamples(options.maxSamples) }
        if ContinuousClock.now > deadline { throw .timeout("query execution") }
        if Task.isCancelled { throw .canceled }
    }

    /// Durations and timestamps are kept within ±2^53 ms (285,000 years), so that no sum or
    /// difference of two of them can overflow.
    static let timeBound: Int64 = 1 << 53

    func milliseconds(_ duration: DurationExpr) -> Int64 {
        let ms = duration.milliseconds(step: queryStep, range: queryEnd - queryStart)
        guard ms.isFinite else { return 0 }
        return Int64(max(-Double(Self.timeBound), min(Double(Self.timeBound), ms.rounded())))
    }

    /// `line:column` of a byte offset, for annotation suffixes.
    func location(_ offset: Int) -> String {
        var line = 1, column = 1
        for byte in queryText.prefix(offset) {
            if byte == 0x0A { line += 1; column = 1 } else { column += 1 }
        }
        return "\(line):\(column)"
    }
}

/// Evaluates an expression at every step of `start…end` (one step for instant queries).
final class Evaluator {
    let context: QueryContext
    let start: Int64
    let end: Int64
    let interval: Int64
    let steps: Int

    init(context: QueryContext, start: Int64, end: Int64, interval: Int64) {
        self.context = context
        self.start = start
        self.end = end
        self.interval = max(interval, 1)
        steps = Int((end - start) / max(interval, 1)) + 1
    }

    @inline(__always) func time(_ step: Int) -> Int64 { start + Int64(step) * interval }

    func eval(_ expr: Expr) throws(PromQLError) -> EvalValue {
        switch expr {
        case let .number(value, _):
            return .scalar(Array(repeating: value, count: steps))
        case let .string(text):
            return .string(text)
        case let .duration(duration):
            let seconds = duration.milliseconds(step: context.queryStep, range: context.queryEnd - context.queryStart) / 1000
            return .scalar(Array(repeating: seconds, count: steps))
        case let .paren(inner):
            return try eval(inner)
        case let .negate(inner):
            switch try eval(inner) {
            case let .scalar(values): return .scalar(values.map { -$0 })
            case var .vector(series):
                for i in series.indices {
                    for s in 0..<steps where series[i].present[s] {
                        if var h = series[i].histogram(s) {
                            h.scale(by: -1)
                            series[i].set(s, histogram: h)
                        } else {
                            series[i].values[s] = -series[i].values[s]
                        }
                    }
                    series[i].dropName = true
                }
                return .vector(series)
            case let other: return other
            }
        case let .vectorSelector(selector):
            return .vector(try selectInstant(selector))
        case .matrixSelector, .subquery:
            // Only an instant query may return a range vector; functions take the other path.
            let input = try rangeInput(expr)
            return .matrix(input.series.map { series in
                var copy = series
                let lower = input.windowEnd(0) - input.range
                let upper = input.windowEnd(0)
                var keep: [Int] = []
                for (i, t) in series.timestamps.enumerated() where t >= lower + context.windowStartOffset && t <= upper { keep.append(i) }
                copy.timestamps = keep.map { series.timestamps[$0] }
                copy.values = keep.map { series.values[$0] }
                copy.histograms = series.histograms.map { all in keep.map { all[$0] } }
                return copy
            }, range: input.range)
        case let .call(function, arguments, position):
            return try call(function, arguments, position: position)
        case let .aggregate(aggregate):
            return try self.aggregate(aggregate)
        case let .binary(binary):
            return try self.binary(binary)
        }
    }

    // MARK: Time modifiers

    /// The time at which step `step` reads its data: `@` replaces the step time, `offset` moves it back.
    func effectiveTimes(_ modifiers: TimeModifiers) -> [Int64] {
        let offset = modifiers.offset.map { context.milliseconds($0) } ?? 0
        let pinned: Int64? = switch modifiers.at {
        case nil: nil
        case let .timestamp(t)?: t
        case .start?: context.queryStart
        case .end?: context.queryEnd
        }
        return (0..<steps).map { (pinned ?? time($0)) - offset }
    }

    // MARK: Selectors

    func selectSeries(_ matchers: [LabelMatcher], minTime: Int64, maxTime: Int64) throws(PromQLError) -> [any StoredSeries] {
        do {
            return try context.queryable.querier(minTime: minTime, maxTime: maxTime).select(matchers)
        } catch {
            throw .execution("\(error)")
        }
    }

    /// An instant-vector selector: the latest sample within the lookback window before each step,
    /// unless that sample is a stale marker.
    func selectInstant(_ selector: VectorSelector, reportTimestamps: Bool = false) throws(PromQLError) -> [StepSeries] {
        let times = effectiveTimes(selector.modifiers)
        let lookback = context.options.lookbackDelta
        guard let first = times.first, let last = times.last else { return [] }
        let open = context.windowStartOffset
        // A smoothed selector also needs the first sample after each step.
        let lookahead = selector.smoothed ? lookback : 0
        let found = try selectSeries(selector.matchers, minTime: first - lookback + open, maxTime: last + lookahead)
        var result: [StepSeries] = []
        result.reserveCapacity(found.count)
        try SeriesDecoding.forEach(found, minTime: first - lookback + open, maxTime: last + lookahead) { (index, samples) throws(PromQLError) in
            let stored = found[index]
            let ts = samples.timestamps, vs = samples.values, hs = samples.histograms
            if ts.isEmpty { return }
            var out = StepSeries(labels: stored.labels, steps: steps)
            var count = 0
            var after = 0  // index of the first sample past the step's time
            for step in 0..<steps {
                let t = times[step]
                if step > 0, t < times[step - 1] { after = 0 }
                while after < ts.count, ts[after] <= t { after += 1 }
                guard after > 0 else { continue }
                let lastT = ts[after - 1], lastV = vs[after - 1]
                guard lastT >= t - lookback + open else { continue }
                if let hs, !reportTimestamps {
                    let current: Operand = hs[after - 1].map(Operand.histogram) ?? .float(lastV)
                    if case let .histogram(h) = current, isStaleMarker(h.sum) { continue }
                    if case let .float(v) = current, isStaleMarker(v) { continue }
                    var result: Operand? = current
                    if selector.smoothed, lastT < t, after < ts.count, ts[after] <= t + lookback {
                        let next: Operand = hs[after].map(Operand.histogram) ?? .float(vs[after])
                        result = interpolateOperands(lastT, current, ts[after], next, at: t, counter: false,
                                                     metric: stored.labels.metricName ?? "",
                                                     location: context.location(selector.position))
                    }
                    guard let result else { continue }
                    out.set(step, result)
                    count += 1
                    continue
                }
                guard !isStaleMarker(lastV) else { continue }
                var value = reportTimestamps ? Double(lastT) / 1000 : lastV
                if selector.smoothed, lastT < t, after < ts.count, ts[after] <= t + lookback, !isStaleMarker(vs[after]) {
                    value = interpolate(lastT, lastV, ts[after], vs[after], at: t, counter: false)
                }
                out.set(step, value)
                count += 1
            }
            if count > 0 {
                try context.checkLimits(adding: count)
                result.append(out)
            }
        }
        return result
    }

    /// Samples of a matrix selector or subquery covering every step's window, and how to find each
    /// step's window: `(windowEnd(step) - range, windowEnd(step)]`.
    struct RangeInput {
        var series: [RangeSeries]
        var range: Int64
        var ends: [Int64]
        var mode: RangeMode = .normal
        var windowStartOffset: Int64 = 1
        func windowEnd(_ step: Int) -> Int64 { ends[step] }
    }

    func rangeInput(_ expr: Expr) throws(PromQLError) -> RangeInput {
        switch expr {
        case let .paren(inner):
            return try rangeInput(inner)
        case let .matrixSelector(selector, rangeExpr, mode):
            let range = context.milliseconds(rangeExpr)
            guard range > 0 else { throw .execution("duration must be greater than 0") }
            let ends = effectiveTimes(selector.modifiers)
            let lookbackExtra: Int64 = mode == .normal ? 0 : context.options.lookbackDelta
            let minTime = (ends.first ?? 0) - range - lookbackExtra + context.windowStartOffset
            let maxTime = (ends.last ?? 0) + (mode == .smoothed ? lookbackExtra : 0)
            let found = try selectSeries(selector.matchers, minTime: minTime, maxTime: maxTime)
            var series: [RangeSeries] = []
            series.reserveCapacity(found.count)
            try SeriesDecoding.forEach(found, minTime: minTime, maxTime: maxTime) { (index, samples) throws(PromQLError) in
                var timestamps = samples.timestamps, values = samples.values, histograms = samples.histograms
                samples = DecodedSamples()
                // Range selectors leave stale markers out.
                let stale = { (i: Int) in isStaleMarker(histograms?[i]?.sum ?? values[i]) }
                if let firstStale = values.indices.first(where: stale) {
                    var kept = firstStale
                    for i in firstStale..<values.count where !stale(i) {
                        timestamps[kept] = timestamps[i]
                        values[kept] = values[i]
                        if let all = histograms { histograms![kept] = all[i] }
                        kept += 1
                    }
                    timestamps.removeLast(timestamps.count - kept)
                    values.removeLast(values.count - kept)
                    if let all = histograms { histograms!.removeLast(all.count - kept) }
                }
                if timestamps.isEmpty { return }
                try context.checkLimits(adding: timestamps.count)
                series.append(RangeSeries(labels: found[index].labels, timestamps: timestamps, values: values, histograms: histograms))
            }
            return RangeInput(series: series, range: range, ends: ends, mode: mode, windowStartOffset: context.windowStartOffset)
        case let .subquery(inner, rangeExpr, stepExpr, modifiers):
            let range = context.milliseconds(rangeExpr)
            let step = stepExpr.map { context.milliseconds($0) } ?? context.options.defaultSubqueryStep
            guard range > 0 else { throw .execution("duration must be greater than 0") }
            guard step > 0 else { throw .execution("step must be greater than 0") }
            let ends = effectiveTimes(modifiers)
            let first = (ends.first ?? 0) - range
            var subStart = step * (first / step)
            if subStart < first + context.windowStartOffset { subStart += step }
            // Every inner step costs memory per series before any sample is counted: bound them first.
            let innerSteps = ((ends.last ?? 0) - subStart) / step + 1
            if innerSteps > context.options.maxSamples { throw .tooManySamples(context.options.maxSamples) }
            let nested = Evaluator(context: context, start: subStart, end: max(ends.last ?? 0, subStart - step),
                                   interval: step)
            var series: [RangeSeries] = []
            if (ends.last ?? 0) >= subStart {
                switch try nested.eval(inner) {
                case let .vector(results):
                    for result in results {
                        var timestamps: [Int64] = [], values: [Double] = []
                        var histograms: [FloatHistogram?]? = result.histograms == nil ? nil : []
                        for s in 0..<nested.steps where result.present[s] {
                            timestamps.append(nested.time(s))
                            values.append(result.values[s])
                            histograms?.append(result.histogram(s))
                        }
                        series.append(RangeSeries(labels: result.labels, timestamps: timestamps, values: values,
                                                  dropName: result.dropName, histograms: histograms))
                    }
                case let .scalar(values):
                    series.append(RangeSeries(labels: .empty, timestamps: (0..<nested.steps).map { nested.time($0) },
                                              values: values))
                default:
                    throw .execution("subquery is only allowed on instant vector")
                }
            }
            return RangeInput(series: series, range: range, ends: ends, windowStartOffset: context.windowStartOffset)
        default:
            throw .execution("expected a range vector, got \(expr.type.documentedName)")
        }
    }
}

/// The value at `t` on the line between two samples. For a counter that reset between them, the
/// counter is taken to restart from zero at the first sample's time.
func interpolate(_ t1: Int64, _ v1: Double, _ t2: Int64, _ v2: Double, at t: Int64, counter: Bool) -> Double {
    if t <= t1 { return v1 }
    let fraction = Double(t - t1) / Double(t2 - t1)
    if counter && v2 < v1 { return v2 * fraction }
    return v1 + (v2 - v1) * fraction
}

@inline(__always) func isStaleMarker(_ value: Double) -> Bool {
    value.bitPattern == 0x7FF0_0000_0000_0002
}
