import ObsCore

/// The times a metric query is evaluated at, in nanoseconds: `count` steps from `start`.
/// Range queries run on a millisecond grid, the PromQL evaluator's resolution.
struct StepGrid {
    let start: Int64
    let step: Int64
    let count: Int

    func time(_ index: Int) -> Int64 { start + Int64(index) * step }
    var end: Int64 { time(count - 1) }
}

/// Samples extracted from log lines for one series, in arrival order until sorted.
struct ExtractedSamples {
    var timestamps: [Int64] = []
    /// Empty when the operation counts lines and needs no values.
    var values: [Double] = []

    mutating func append(contentsOf other: ExtractedSamples) {
        timestamps += other.timestamps
        values += other.values
    }

    mutating func sort() {
        guard zip(timestamps, timestamps.dropFirst()).contains(where: { $0 > $1 }) else { return }
        let order = timestamps.indices.sorted { (timestamps[$0], $0) < (timestamps[$1], $1) }
        timestamps = order.map { timestamps[$0] }
        if !values.isEmpty { values = order.map { values[$0] } }
    }
}

/// What a scan gathers for one series: its samples, or with a streaming plan only the per-step
/// folds of them.
struct SeriesState {
    var samples = ExtractedSamples()
    var accumulator: StepAccumulator?
}

/// A range aggregation's result: values per step, nil where the window held no sample.
struct AggregatedSeries {
    var labels: Labels
    var values: [Double?]
}

extension LogQLEngine {
    /// Evaluates one range aggregation at every step of `grid`; `injected` is a grouping taken
    /// from an enclosing `sum by`, which merges series early without changing the sums.
    func evaluate(_ aggregation: RangeAggregation, grid: StepGrid, injected: Grouping?, deadline: ContinuousClock.Instant,
                  stats: inout LogQLStats) throws(LogQLError) -> [AggregatedSeries] {
        let operation = aggregation.operation
        let grouping = aggregation.grouping ?? injected
        // Grouped by labels, the series cannot show any other label: parsers need not extract them.
        let needed = grouping.flatMap { $0.without ? nil : Set($0.labels) }
        let pipeline = try Self.pipeline(aggregation.query, needing: needed)
        let unwrapped = aggregation.query.stages.contains { if case .unwrap = $0 { true } else { false } }
        if operation.needsUnwrap && !unwrapped {
            throw .badQuery("parse error : invalid aggregation \(operation.rawValue) without unwrap")
        }
        let countsBytes = operation == .bytesOverTime || operation == .bytesRate
        let needsValues = unwrapped || countsBytes
        // Samples in (t - offset - range, t - offset] for the first and last step.
        let lower = grid.start - aggregation.offset - aggregation.range + 1
        let upper = grid.end - aggregation.offset + 1
        let chunks = try self.chunks(aggregation.query.matchers, start: lower, end: upper)
        stats.chunksRef += chunks.count
        let filter = pipeline.pushdownFilter
        let exact = pipeline.pushdownIsExact
        let linesOnly = pipeline.onlyFiltersLines
        let keyer = SeriesKeyer(grouping: grouping)
        // Few windows per sample: fold samples into steps as they come instead of keeping them.
        let windowsPerSample = min((aggregation.range + grid.step - 1) / grid.step, Int64(grid.count))
        let streaming = StepAccumulator.supports(operation) && windowsPerSample <= Int64(options.maxWindowsPerSample)
        let range = aggregation.range, offset = aggregation.offset
        @Sendable func absorb(_ series: inout [Labels: SeriesState], _ key: Labels, _ samples: ExtractedSamples) {
            if streaming {
                series[key, default: SeriesState(accumulator: StepAccumulator(operation: operation, steps: grid.count))]
                    .accumulator!.add(samples, grid: grid, range: range, offset: offset)
            } else {
                series[key, default: SeriesState()].samples.append(contentsOf: samples)
            }
        }
        let partials = try scan(chunks, deadline: deadline, make: { [Labels: SeriesState]() }) { series, chunk, decoder in
            let streamKey = Self.reduce(chunk.labels, grouping)
            var base: [String: String] = [:]
            for label in chunk.labels { base[label.name] = label.value }
            var local = ExtractedSamples()
            // Lines of one chunk mostly land in a few series: the last one is checked first.
            var lastKey: Labels?
            var lastSamples = ExtractedSamples()
            try chunk.scan(start: lower, end: upper, filter: filter, decoder: decoder) { entry in
                if linesOnly && entry.metadata.isEmpty {
                    if !exact {
                        guard pipeline.process(line: String(decoding: entry.line, as: UTF8.self), labels: chunk.labels, timestamp: entry.timestamp) != nil else { return }
                    }
                    local.timestamps.append(entry.timestamp)
                    if countsBytes { local.values.append(Double(entry.line.count)) }
                    return
                }
                var labels = base
                for label in entry.metadata { labels[label.name] = label.value }
                guard let (_, unwrappedValue) = pipeline.run(line: String(decoding: entry.line, as: UTF8.self), timestamp: entry.timestamp, labels: &labels) else { return }
                let key = keyer.key(labels)
                let value = unwrapped ? (unwrappedValue ?? 0) : Double(entry.line.count)
                if key == streamKey {
                    local.timestamps.append(entry.timestamp)
                    if needsValues { local.values.append(value) }
                    return
                }
                if key != lastKey {
                    if let lastKey { absorb(&series, lastKey, lastSamples) }
                    lastKey = key
                    lastSamples = ExtractedSamples()
                }
                lastSamples.timestamps.append(entry.timestamp)
                if needsValues { lastSamples.values.append(value) }
            }
            if let lastKey { absorb(&series, lastKey, lastSamples) }
            if !local.timestamps.isEmpty { absorb(&series, streamKey, local) }
        }
        var merged: [Labels: SeriesState] = [:]
        for (partial, partialStats) in partials {
            stats.add(partialStats)
            for (labels, state) in partial {
                if let accumulator = state.accumulator {
                    if merged[labels]?.accumulator == nil {
                        merged[labels] = state
                    } else {
                        merged[labels]!.accumulator!.merge(accumulator)
                    }
                } else {
                    merged[labels, default: SeriesState()].samples.append(contentsOf: state.samples)
                }
            }
        }
        let seconds = Double(aggregation.range) / 1e9
        var perSeries: [(Labels, [Double?])] = []
        for (labels, var state) in merged {
            if let accumulator = state.accumulator {
                let values = operation == .absentOverTime ? accumulator.counts.map { $0 > 0 ? 1.0 : nil }
                    : accumulator.values(rangeSeconds: seconds, unwrapped: unwrapped)
                perSeries.append((labels, values))
            } else {
                state.samples.sort()
                var counting = aggregation
                if operation == .absentOverTime { counting.operation = .countOverTime }
                perSeries.append((labels, windows(state.samples, counting, grid: grid)))
            }
        }
        if operation == .absentOverTime { return [absent(perSeries.map(\.1), aggregation, grid: grid)] }
        var result: [AggregatedSeries] = []
        for (labels, values) in perSeries {
            guard values.contains(where: { $0 != nil }) else { continue }
            if let errorType = labels["__error__"] { throw .pipeline(errorType: errorType, series: labels) }
            result.append(AggregatedSeries(labels: labels, values: values))
        }
        return result
    }

    /// Builds a series' labels from a line's label dictionary under the query's grouping. As
    /// Loki: a line with an error keeps all its labels, so the error is not grouped away.
    struct SeriesKeyer: Sendable {
        let grouping: Grouping?
        let sortedNames: [String]

        init(grouping: Grouping?) {
            self.grouping = grouping
            sortedNames = (grouping?.labels ?? []).sorted()
        }

        func key(_ labels: [String: String]) -> Labels {
            guard let grouping, labels["__error__"] == nil else { return Labels(labels) }
            if grouping.without {
                var kept = labels
                for name in grouping.labels { kept[name] = nil }
                return Labels(kept)
            }
            var pairs: [Label] = []
            for name in sortedNames {
                if let value = labels[name], !value.isEmpty { pairs.append(Label(name, value)) }
            }
            return Labels(sortedUnchecked: pairs)
        }
    }

    static func reduce(_ labels: Labels, _ grouping: Grouping?) -> Labels {
        guard let grouping else { return labels }
        if grouping.without {
            return labels.removing(Set(grouping.labels))
        }
        return Labels(sortedUnchecked: labels.filter { grouping.labels.contains($0.name) })
    }

    /// The operation over each step's window `(t - offset - range, t - offset]`.
    func windows(_ samples: ExtractedSamples, _ aggregation: RangeAggregation, grid: StepGrid) -> [Double?] {
        let times = samples.timestamps, values = samples.values
        let seconds = Double(aggregation.range) / 1e9
        var result = [Double?](repeating: nil, count: grid.count)
        var low = 0, high = 0
        for step in 0..<grid.count {
            let end = grid.time(step) - aggregation.offset
            let start = end - aggregation.range
            while high < times.count && times[high] <= end { high += 1 }
            while low < high && times[low] <= start { low += 1 }
            guard high > low else { continue }
            let window = values.isEmpty ? [] : values[low..<high]
            let count = Double(high - low)
            switch aggregation.operation {
            case .countOverTime: result[step] = count
            case .rate where window.isEmpty: result[step] = count / seconds
            case .rate, .bytesRate: result[step] = window.reduce(0, +) / seconds
            case .bytesOverTime, .sumOverTime: result[step] = window.reduce(0, +)
            case .absentOverTime: break
            case .avgOverTime: result[step] = window.reduce(0, +) / count
            case .maxOverTime: result[step] = window.reduce(-Double.infinity) { $1.isNaN ? $0 : Swift.max($0, $1) }
            case .minOverTime: result[step] = window.reduce(Double.infinity) { $1.isNaN ? $0 : Swift.min($0, $1) }
            case .stdvarOverTime: result[step] = Self.variance(window)
            case .stddevOverTime: result[step] = Self.variance(window).squareRoot()
            case .quantileOverTime: result[step] = Self.quantile(aggregation.parameter ?? 0, window)
            case .firstOverTime: result[step] = window.first
            case .lastOverTime: result[step] = window.last
            case .rateCounter:
                result[step] = Self.counterRate(times[low..<high], window, start: start, end: end, range: seconds)
            }
        }
        return result
    }

    /// 1 at each step whose window holds no line of any selected stream, labelled with the
    /// selector's equality matchers. `present` holds, per series, a value where lines were seen.
    func absent(_ present: [[Double?]], _ aggregation: RangeAggregation, grid: StepGrid) -> AggregatedSeries {
        var labels: [Label] = []
        for matcher in aggregation.query.matchers where matcher.kind == .equal && !labels.contains(where: { $0.name == matcher.name }) {
            labels.append(Label(matcher.name, matcher.value))
        }
        let values = (0..<grid.count).map { step -> Double? in present.contains { $0[step] != nil } ? nil : 1 }
        return AggregatedSeries(labels: Labels(labels), values: values)
    }

    /// Population variance, as Loki's `stdvar_over_time`.
    static func variance(_ values: ArraySlice<Double>) -> Double {
        var count = 0.0, mean = 0.0, squares = 0.0
        for value in values {
            count += 1
            let delta = value - mean
            mean += delta / count
            squares += delta * (value - mean)
        }
        return squares / count
    }

    /// The φ-quantile by linear interpolation between the closest ranks, as PromQL's `quantile`.
    /// Finds the two ranks by selection rather than sorting the window.
    static func quantile(_ phi: Double, _ values: ArraySlice<Double>) -> Double {
        if phi.isNaN { return .nan }
        if phi < 0 { return -.infinity }
        if phi > 1 { return .infinity }
        var work = Array(values)
        let rank = phi * Double(work.count - 1)
        let lower = Int(rank.rounded(.down))
        let weight = rank - Double(lower)
        let low = select(&work, lower)
        guard weight > 0, lower + 1 < work.count else { return low }
        // Everything after the lower rank is at least as large: the next rank is their minimum.
        let high = work[(lower + 1)...].min()!
        return low * (1 - weight) + high * weight
    }

    /// The `k`-th smallest value (from 0), leaving smaller ones before it and larger ones after.
    static func select(_ values: inout [Double], _ k: Int) -> Double {
        var low = 0, high = values.count - 1
        while low < high {
            let pivot = values[(low + high) / 2]
            var i = low, j = high
            while i <= j {
                while values[i] < pivot { i += 1 }
                while values[j] > pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j {
                high = j
            } else if k >= i {
                low = i
            } else {
                break
            }
        }
        return values[k]
    }

    /// A counter's per-second increase over the window with counter resets handled and the edges
    /// extrapolated, as PromQL's `rate` (which Loki's `rate_counter` copies).
    static func counterRate(_ times: ArraySlice<Int64>, _ values: ArraySlice<Double>, start: Int64, end: Int64,
                            range: Double) -> Double? {
        guard values.count >= 2, let first = values.first, let last = values.last,
              let firstTime = times.first, let lastTime = times.last else { return nil }
        var increase = last - first
        var previous = first
        for value in values.dropFirst() {
            if value < previous { increase += previous }
            previous = value
        }
        let sampled = Double(lastTime - firstTime) / 1e9
        guard sampled > 0 else { return nil }
        var toStart = Double(firstTime - start) / 1e9
        let toEnd = Double(end - lastTime) / 1e9
        let average = sampled / Double(values.count - 1)
        if increase > 0 && first >= 0 {
            let toZero = sampled * (first / increase)
            if toZero < toStart { toStart = toZero }
        }
        let threshold = average * 1.1
        var interval = sampled
        interval += toStart < threshold ? toStart : average / 2
        interval += toEnd < threshold ? toEnd : average / 2
        return increase * (interval / sampled) / range
    }
}
