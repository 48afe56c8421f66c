import ObsCore

/// Range functions over series that hold native histograms (alone or mixed with floats).
extension Evaluator {
    /// What one step of a range function gives: a float, a histogram, or nothing.
    enum RangeOutput {
        case float(Double)
        case histogram(FloatHistogram)
    }

    /// Evaluates `name` over the window `lower..<upper` of a series with histogram samples.
    func histogramWindow(_ name: String, _ series: RangeSeries, lower: Int, upper: Int, step: Int,
                         input: RangeInput, kernel: RangeFunctions.Kernel, at location: String) -> RangeOutput? {
        guard lower < upper else { return nil }
        let hs = series.histograms!
        let metric = series.labels.metricName ?? ""
        let end = input.windowEnd(step)
        let indexes = Array(lower..<upper)
        let floats = indexes.filter { hs[$0] == nil }
        let histograms = indexes.filter { hs[$0] != nil }
        func floatWindow<R>(_ chosen: [Int], _ body: (Window) -> R) -> R {
            Window.over(chosen.map { series.timestamps[$0] }, chosen.map { series.values[$0] },
                        start: end - input.range, end: end, range: input.range, stepTime: time(step), body)
        }
        func mixed() -> RangeOutput? {
            context.annotations.warn("encountered a mix of histograms and floats for metric name \"\(metric)\"", at: location)
            return nil
        }
        switch name {
        case "rate", "increase", "delta", "irate", "idelta", "sum_over_time", "avg_over_time":
            if histograms.isEmpty { return floatWindow(floats) { kernel($0, step) }.map(RangeOutput.float) }
            if name == "irate" || name == "idelta" {
                guard indexes.count >= 2 else { return nil }
                guard let last = hs[upper - 1], let previous = hs[upper - 2] else { return mixed() }
                return instantHistogramDelta(previous, last, interval: series.timestamps[upper - 1] - series.timestamps[upper - 2],
                                             isRate: name == "irate", metric: metric, at: location).map(RangeOutput.histogram)
            }
            if !floats.isEmpty { return mixed() }
            let points = histograms.map { hs[$0]! }
            if name == "sum_over_time" || name == "avg_over_time" {
                return sumHistograms(points, metric: metric, at: location, operation: "aggregation",
                                     average: name == "avg_over_time").map(RangeOutput.histogram)
            }
            guard points.count >= 2,
                  var change = histogramChange(points, isCounter: name != "delta", metric: metric, at: location) else { return nil }
            let first = points[0].count
            let zeroPoint = change.count > 0 && first >= 0 ? first / change.count : nil
            change.scale(by: floatWindow(histograms) { w in
                RangeFunctions.extrapolationFactor(w, isCounter: name != "delta", isRate: name == "rate",
                                                   legacy: context.options.closedWindows, zeroPoint: zeroPoint)
            })
            return .histogram(change)
        case "last_over_time":
            guard let i = indexes.last else { return nil }
            return hs[i].map(RangeOutput.histogram) ?? .float(series.values[i])
        case "first_over_time":
            guard let i = indexes.first else { return nil }
            return hs[i].map(RangeOutput.histogram) ?? .float(series.values[i])
        case "count_over_time", "present_over_time", "ts_of_last_over_time", "ts_of_first_over_time":
            return floatWindow(indexes) { kernel($0, step) }.map(RangeOutput.float)
        case "changes", "resets":
            guard !indexes.isEmpty else { return nil }
            var count = 0.0
            for (a, b) in zip(indexes, indexes.dropFirst()) {
                switch (hs[a], hs[b]) {
                case (nil, nil):
                    let x = series.values[a], y = series.values[b]
                    if name == "resets" ? y < x : (x != y && !(x.isNaN && y.isNaN)) { count += 1 }
                case let (x?, y?):
                    if name == "resets" ? y.isCounterReset(after: x) : !y.sameValue(as: x) { count += 1 }
                default:
                    count += 1
                }
            }
            return .float(count)
        default:
            guard !floats.isEmpty else { return nil }
            if !histograms.isEmpty {
                context.annotations.info("ignored histograms in a range containing both floats and histograms for metric name \"\(metric)\"",
                                         at: location)
            }
            return floatWindow(floats) { kernel($0, step) }.map(RangeOutput.float)
        }
    }

    /// The sum (or, with `average`, the mean) of histograms, with Prometheus's annotations; nil
    /// when they cannot be added. A mean adds each histogram divided by the count, so that huge
    /// values do not overflow. `reportsConflicts` warns when reset hints collide (aggregations).
    func sumHistograms(_ points: [FloatHistogram], metric: String, at location: String, operation: String,
                       average: Bool = false, reportsConflicts: Bool = false) -> FloatHistogram? {
        var total = HistogramSum()
        var conflicting = false
        for var h in points {
            if average { h.divide(by: Double(points.count)) }
            do {
                let notes = try total.add(h)
                conflicting = conflicting || notes.conflictingResetHints
                if notes.reconciledCustomBuckets {
                    context.annotations.info("mismatched custom buckets were reconciled during \(operation)", at: location)
                }
            } catch {
                context.annotations.warn("vector contains a mix of histograms with exponential and custom buckets schemas for metric name \"\(metric)\"",
                                         at: location)
                return nil
            }
        }
        if conflicting && reportsConflicts {
            context.annotations.warn("conflicting counter resets during histogram aggregation", at: location)
        }
        return total.value
    }

    /// `total += h` (or `-=`), reporting what Prometheus reports; false when the two cannot be combined.
    func addHistogram(_ total: inout FloatHistogram, _ h: FloatHistogram, negate: Bool, metric: String,
                      at location: String, operation: String) -> Bool {
        do {
            let notes = try total.add(h, negate: negate)
            if notes.reconciledCustomBuckets {
                context.annotations.info("mismatched custom buckets were reconciled during \(operation)", at: location)
            }
            return true
        } catch {
            context.annotations.warn("vector contains a mix of histograms with exponential and custom buckets schemas for metric name \"\(metric)\"",
                                     at: location)
            return false
        }
    }

    /// Last minus first of a run of histograms; for counters, every reset adds the value before it.
    func histogramChange(_ points: [FloatHistogram], isCounter: Bool, metric: String, at location: String) -> FloatHistogram? {
        let first = points[0], last = points[points.count - 1]
        if isCounter {
            if points.contains(where: { $0.resetHint == .gauge }) {
                context.annotations.warn("this native histogram metric is not a counter: \"\(metric)\"", at: location)
            }
        } else if first.resetHint != .gauge || last.resetHint != .gauge {
            context.annotations.warn("this native histogram metric is not a gauge: \"\(metric)\"", at: location)
        }
        let custom = first.usesCustomBuckets
        if points.contains(where: { $0.usesCustomBuckets != custom }) {
            context.annotations.warn("vector contains a mix of histograms with exponential and custom buckets schemas for metric name \"\(metric)\"",
                                     at: location)
            return nil
        }
        var result = last
        if !custom, let lowest = points.map(\.schema).min() { result.reduceResolution(to: lowest) }
        guard addHistogram(&result, first, negate: true, metric: metric, at: location, operation: "subtraction") else { return nil }
        if isCounter {
            for (previous, current) in zip(points, points.dropFirst()) where current.isCounterReset(after: previous) {
                guard addHistogram(&result, previous, negate: false, metric: metric, at: location, operation: "subtraction") else { return nil }
            }
        }
        result.resetHint = .gauge
        return result
    }

    /// `irate`/`idelta` on the last two histograms of a window.
    func instantHistogramDelta(_ previous: FloatHistogram, _ last: FloatHistogram, interval: Int64, isRate: Bool,
                               metric: String, at location: String) -> FloatHistogram? {
        if isRate {
            if previous.resetHint == .gauge || last.resetHint == .gauge {
                context.annotations.warn("this native histogram metric is not a counter: \"\(metric)\"", at: location)
            }
        } else if previous.resetHint != .gauge || last.resetHint != .gauge {
            context.annotations.warn("this native histogram metric is not a gauge: \"\(metric)\"", at: location)
        }
        if previous.usesCustomBuckets != last.usesCustomBuckets {
            context.annotations.warn("vector contains a mix of histograms with exponential and custom buckets schemas for metric name \"\(metric)\"",
                                     at: location)
            return nil
        }
        var result = last
        if !(isRate && last.isCounterReset(after: previous)) {
            guard addHistogram(&result, previous, negate: true, metric: metric, at: location, operation: "subtraction") else { return nil }
        }
        if isRate {
            guard interval > 0 else { return nil }
            result.divide(by: Double(interval) / 1000)
        }
        result.resetHint = .gauge
        return result
    }
}

/// `anchored` and `smoothed` windows, over floats and histograms alike.
extension Evaluator {
    /// A value of the boundary chain and whether it was interpolated (then only values, not
    /// reset hints, tell a counter reset next to it).
    struct ChainValue {
        var operand: Operand
        var interpolated = false
    }

    func extendedRangeSeries(_ name: String, _ series: RangeSeries, _ input: RangeInput, at location: String) -> StepSeries {
        let lookback = context.options.lookbackDelta
        let open = input.windowStartOffset
        let isCounter = name == "rate" || name == "increase"
        let ts = series.timestamps
        let metric = series.labels.metricName ?? ""
        func value(_ i: Int) -> Operand { series.histograms?[i].map(Operand.histogram) ?? .float(series.values[i]) }
        var out = StepSeries(labels: series.labels, steps: steps, dropName: true)
        var lo = 0, hi = 0
        for step in 0..<steps {
            let end = input.windowEnd(step), start = end - input.range
            if step > 0, end < input.windowEnd(step - 1) { lo = 0; hi = 0 }
            while lo < ts.count, ts[lo] < start + open { lo += 1 }
            while hi < ts.count, ts[hi] <= end { hi += 1 }
            var chain: [ChainValue] = []
            if input.mode == .anchored {
                guard lo < hi else { continue }
                if lo > 0, ts[lo - 1] >= start - lookback + open { chain.append(ChainValue(operand: value(lo - 1))) }
                for i in lo..<hi { chain.append(ChainValue(operand: value(i))) }
            } else {
                guard lo < ts.count, hi > 0 else { continue }
                var left = ChainValue(operand: value(lo))
                if lo > 0, ts[lo - 1] >= start - lookback + open {
                    guard let v = interpolateOperands(ts[lo - 1], value(lo - 1), ts[lo], value(lo), at: start, counter: isCounter,
                                                      metric: metric, location: location) else { continue }
                    left = ChainValue(operand: v, interpolated: ts[lo - 1] < start)
                }
                var right = ChainValue(operand: value(hi - 1))
                if hi < ts.count, ts[hi] <= end + lookback {
                    guard let v = interpolateOperands(ts[hi - 1], value(hi - 1), ts[hi], value(hi), at: end, counter: isCounter,
                                                      metric: metric, location: location) else { continue }
                    right = ChainValue(operand: v, interpolated: ts[hi - 1] < end)
                }
                chain.append(left)
                for i in lo..<max(lo, hi) where ts[i] < end { chain.append(ChainValue(operand: value(i))) }
                chain.append(right)
            }
            if name == "changes" || name == "resets" {
                var count = 0.0
                for (a, b) in zip(chain, chain.dropFirst()) {
                    switch (a.operand, b.operand) {
                    case let (.float(x), .float(y)):
                        if name == "resets" ? y < x : (x != y && !(x.isNaN && y.isNaN)) { count += 1 }
                    case let (.histogram(x), .histogram(y)):
                        if name == "resets" ? y.isCounterReset(after: x) : !y.sameValue(as: x) { count += 1 }
                    default:
                        count += 1
                    }
                }
                out.set(step, count)
                continue
            }
            var points: [FloatHistogram] = [], floats: [Double] = []
            for item in chain {
                switch item.operand {
                case let .histogram(h): points.append(h)
                case let .float(v): floats.append(v)
                }
            }
            if floats.count == chain.count {
                // Floats carry no hints: a drop is a reset.
                var value = floats[floats.count - 1] - floats[0]
                if isCounter {
                    for i in floats.indices.dropFirst() where floats[i] < floats[i - 1] { value += floats[i - 1] }
                }
                if name == "rate" { value /= Double(input.range) / 1000 }
                out.set(step, value)
                continue
            }
            guard points.count == chain.count else {
                context.annotations.warn("encountered a mix of histograms and floats for metric name \"\(metric)\"", at: location)
                continue
            }
            if isCounter {
                if points.contains(where: { $0.resetHint == .gauge }) {
                    context.annotations.warn("this native histogram metric is not a counter: \"\(metric)\"", at: location)
                }
            } else if points.first?.resetHint != .gauge || points.last?.resetHint != .gauge {
                context.annotations.warn("this native histogram metric is not a gauge: \"\(metric)\"", at: location)
            }
            let custom = points[0].usesCustomBuckets
            if points.contains(where: { $0.usesCustomBuckets != custom }) {
                context.annotations.warn("vector contains a mix of histograms with exponential and custom buckets schemas for metric name \"\(metric)\"",
                                         at: location)
                continue
            }
            var result = points[points.count - 1]
            guard addHistogram(&result, points[0], negate: true, metric: metric, at: location, operation: "subtraction") else { continue }
            var failed = false
            if isCounter {
                for i in 1..<points.count {
                    var before = points[i - 1], after = points[i]
                    // Next to an interpolated value only the values tell a reset.
                    if chain[i - 1].interpolated || chain[i].interpolated {
                        before.resetHint = .unknown
                        after.resetHint = .unknown
                    }
                    if after.isCounterReset(after: before),
                       !addHistogram(&result, points[i - 1], negate: false, metric: metric, at: location, operation: "subtraction") {
                        failed = true
                    }
                }
            }
            if failed { continue }
            if name == "rate" { result.divide(by: Double(input.range) / 1000) }
            result.resetHint = .gauge
            out.set(step, histogram: result)
        }
        return out
    }

    /// The value at `t` between two samples: linear for floats and histograms; a counter histogram
    /// that reset in between restarts from zero at the first sample's time. nil (with a warning)
    /// for a float next to a histogram or exponential next to custom buckets.
    func interpolateOperands(_ t1: Int64, _ v1: Operand, _ t2: Int64, _ v2: Operand, at t: Int64, counter: Bool,
                             metric: String, location: String) -> Operand? {
        switch (v1, v2) {
        case let (.float(a), .float(b)):
            return .float(interpolate(t1, a, t2, b, at: t, counter: counter))
        case let (.histogram(a), .histogram(b)):
            if t <= t1 { return v1 }
            if a.usesCustomBuckets != b.usesCustomBuckets {
                context.annotations.warn("vector contains a mix of histograms with exponential and custom buckets schemas for metric name \"\(metric)\"",
                                         at: location)
                return nil
            }
            let fraction = Double(t - t1) / Double(t2 - t1)
            let isCounter = counter || (a.resetHint != .gauge && b.resetHint != .gauge)
            if isCounter && b.isCounterReset(after: a) {
                var scaled = b
                scaled.scale(by: fraction)
                scaled.resetHint = .reset
                return .histogram(scaled)
            }
            var difference = b
            guard addHistogram(&difference, a, negate: true, metric: metric, at: location, operation: "subtraction") else { return nil }
            difference.scale(by: fraction)
            var result = a
            guard addHistogram(&result, difference, negate: false, metric: metric, at: location, operation: "addition") else { return nil }
            result.resetHint = a.resetHint
            return .histogram(result)
        default:
            context.annotations.warn("encountered a mix of histograms and floats for metric name \"\(metric)\"", at: location)
            return nil
        }
    }
}
