import ObsCore

/// `histogram_quantile` over classic histograms: series that differ only in `le` form one histogram.
extension Evaluator {
    /// One classic histogram: the bucket series that share all labels but `le`.
    struct ClassicHistogram {
        var labels: Labels
        var members: [(bound: Double, series: Int)] = []
    }

    /// Groups bucket series into histograms, warning about series without a usable `le`.
    func classicHistograms(_ input: [StepSeries], argument: Expr) -> [ClassicHistogram] {
        var index: [Labels: Int] = [:]
        var histograms: [ClassicHistogram] = []
        for (i, series) in input.enumerated() {
            let le = series.labels["le"] ?? ""
            guard let bound = parseBound(le) else {
                let metric = series.labels.metricName ?? ""
                context.annotations.warn("bucket label \"le\" is missing or has a malformed value of \"\(le)\" for metric name \"\(metric)\"",
                                         at: context.location(startPosition(argument)))
                continue
            }
            let key = series.labels.removing(["le"])
            if let h = index[key] {
                histograms[h].members.append((bound, i))
            } else {
                index[key] = histograms.count
                histograms.append(ClassicHistogram(labels: key, members: [(bound, i)]))
            }
        }
        return histograms
    }

    /// Runs `body` on each histogram's buckets at each step where it has any.
    func forEachBucketSet(_ histograms: [ClassicHistogram], _ input: [StepSeries],
                          _ body: (Int, Int, inout [(bound: Double, count: Double)]) throws(PromQLError) -> Void) throws(PromQLError) {
        var buckets: [(bound: Double, count: Double)] = []
        for (h, histogram) in histograms.enumerated() {
            for step in 0..<steps {
                buckets.removeAll(keepingCapacity: true)
                for member in histogram.members where input[member.series].present[step] {
                    buckets.append((member.bound, input[member.series].values[step]))
                }
                if !buckets.isEmpty { try body(h, step, &buckets) }
            }
        }
    }

    func warnQuantileRange(_ values: [Double], at argument: Expr) {
        for q in values where q.isNaN || q < 0 || q > 1 {
            context.annotations.warn("quantile value should be between 0 and 1, got \(goFloat(q))",
                                     at: context.location(startPosition(argument)))
        }
    }

    func histogramQuantile(_ arguments: [Expr]) throws(PromQLError) -> EvalValue {
        let quantiles = try scalar(arguments[0])
        let all = try vector(arguments[1])
        let input = all.map(\.floatsOnly).filter { !$0.isEmpty }
        warnQuantileRange(quantiles, at: arguments[0])
        let native = nativeHistogramMap(all) { h, step in
            let value = NativeHistogramMath.quantile(quantiles[step], h)
            noteNaNObservations(h, result: value, argument: arguments[1], label: nil)
            return value
        }
        let histograms = classicHistograms(input, argument: arguments[1])
        var outputs = histograms.map { StepSeries(labels: $0.labels, steps: steps, dropName: true) }
        try forEachBucketSet(histograms, input) { h, step, buckets in
            let (value, forced) = Self.bucketQuantile(quantiles[step], &buckets)
            if forced { noteForcedMonotonic(histograms[h], position: startPosition(arguments[1])) }
            outputs[h].set(step, value)
        }
        return .vector(try joinClassicAndNative(outputs.filter { !$0.isEmpty }, native, argument: arguments[1]))
    }

    /// `histogram_quantiles(v, "label", q1, q2, …)`: one series per quantile, told apart by `label`.
    func histogramQuantiles(_ arguments: [Expr]) throws(PromQLError) -> EvalValue {
        let all = try vector(arguments[0])
        let input = all.map(\.floatsOnly).filter { !$0.isEmpty }
        let label = try string(arguments[1])
        guard isValidLabelName(label, legacy: context.options.compatibility == .prometheus2) else {
            throw .execution("invalid label name \(JSONText.quote(label))")
        }
        var quantiles: [[Double]] = []
        for argument in arguments.dropFirst(2) {
            let values = try scalar(argument)
            warnQuantileRange(values, at: argument)
            quantiles.append(values)
        }
        let histograms = classicHistograms(input, argument: arguments[0])
        var outputs: [StepSeries] = []
        var native: [StepSeries] = []
        for q in quantiles {
            let text = openMetricsFloat(q[0])
            outputs += histograms.map { StepSeries(labels: $0.labels.setting(label, to: text), steps: steps, dropName: true) }
            native += nativeHistogramMap(all) { h, step in
                let value = NativeHistogramMath.quantile(q[step], h)
                noteNaNObservations(h, result: value, argument: arguments[0], label: nil)
                return value
            }.map { s in
                var copy = s
                copy.labels = s.labels.setting(label, to: text)
                return copy
            }
        }
        try forEachBucketSet(histograms, input) { h, step, buckets in
            for (k, q) in quantiles.enumerated() {
                var copy = buckets
                let (value, forced) = Self.bucketQuantile(q[step], &copy)
                if forced { noteForcedMonotonic(histograms[h], position: startPosition(arguments[0])) }
                outputs[k * histograms.count + h].set(step, value)
            }
        }
        let joined = try joinClassicAndNative(outputs.filter { !$0.isEmpty }, native, argument: arguments[0])
        return .vector(try mergeSameLabels(joined))
    }

    /// `histogram_fraction(lower, upper, v)` over classic buckets: the share of observations
    /// between the bounds, interpolating linearly inside buckets.
    func histogramFraction(_ arguments: [Expr]) throws(PromQLError) -> EvalValue {
        let lower = try scalar(arguments[0])
        let upper = try scalar(arguments[1])
        let all = try vector(arguments[2])
        let input = all.map(\.floatsOnly).filter { !$0.isEmpty }
        let native = nativeHistogramMap(all) { h, step in
            if h.sum.isNaN && h.count > 0 {
                context.annotations.info("input to histogram_fraction has NaN observations, which are excluded from all fractions for metric name \"\(metricName(of: arguments[2]) ?? "")\"",
                                         at: context.location(startPosition(arguments[2])))
            }
            return NativeHistogramMath.fraction(lower[step], upper[step], h)
        }
        let histograms = classicHistograms(input, argument: arguments[2])
        var outputs = histograms.map { StepSeries(labels: $0.labels, steps: steps, dropName: true) }
        try forEachBucketSet(histograms, input) { h, step, buckets in
            outputs[h].set(step, Self.bucketFraction(lower[step], upper[step], &buckets))
        }
        return .vector(try joinClassicAndNative(outputs.filter { !$0.isEmpty }, native, argument: arguments[2]))
    }

    /// Native histograms whose sum is NaN hold NaN observations; Prometheus says what that did to
    /// the quantile.
    private func noteNaNObservations(_ h: FloatHistogram, result: Double, argument: Expr, label: String?) {
        guard h.sum.isNaN, h.count > 0 else { return }
        let metric = metricName(of: argument) ?? ""
        let effect = result.isNaN ? "result is NaN" : "result is skewed higher"
        context.annotations.info("input to histogram_quantile has NaN observations, \(effect) for metric name \"\(metric)\"",
                                 at: context.location(startPosition(argument)))
    }

    /// The metric name a selector argument asks for, for annotations.
    func metricName(of expr: Expr) -> String? {
        switch unwrapParens(expr) {
        case let .vectorSelector(selector), let .matrixSelector(selector, _, _):
            return selector.matchers.first { $0.name == Labels.metricName && $0.kind == .equal }?.value
        case let .call(_, arguments, _):
            return arguments.lazy.compactMap { self.metricName(of: $0) }.first
        default:
            return nil
        }
    }

    private func noteForcedMonotonic(_ histogram: ClassicHistogram, position: Int) {
        context.annotations.info("input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"\(histogram.labels.metricName ?? "")\"",
                                 at: context.location(position))
    }

    /// A quantile as an OpenMetrics label value: integers keep a `.0`.
    private func openMetricsFloat(_ value: Double) -> String {
        let text = formatValue(value)
        return value.isFinite && value == value.rounded() ? text + ".0" : text
    }

    private func parseBound(_ text: String) -> Double? {
        switch text.lowercased() {
        case "+inf", "inf": return .infinity
        case "-inf": return -.infinity
        case "nan": return .nan
        default: return Double(text.trimmingPrefix("+"))
        }
    }

    /// Prometheus's bucket interpolation: buckets sorted by upper bound, equal bounds merged, counts
    /// forced monotonic (tiny float noise ignored), linear interpolation within the bucket.
    static func bucketQuantile(_ q: Double, _ buckets: inout [(bound: Double, count: Double)]) -> (Double, Bool) {
        if q.isNaN { return (.nan, false) }
        if q < 0 { return (-.infinity, false) }
        if q > 1 { return (.infinity, false) }
        guard var merged = coalesced(&buckets) else { return (.nan, false) }
        var forced = false
        var previous = merged[0].count
        for i in 1..<merged.count {
            let current = merged[i].count
            if current == previous { continue }
            if almostEqual(previous, current, tolerance: 1e-12) {
                merged[i].count = previous
                continue
            }
            if current < previous {
                merged[i].count = previous
                forced = true
                continue
            }
            previous = current
        }
        guard merged.count >= 2 else { return (.nan, forced) }
        let observations = merged[merged.count - 1].count
        guard observations != 0 else { return (.nan, forced) }
        var rank = q * observations
        var b = 0
        while b < merged.count - 1, merged[b].count < rank { b += 1 }
        if b == merged.count - 1 { return (merged[merged.count - 2].bound, forced) }
        if b == 0, merged[0].bound <= 0 { return (merged[0].bound, forced) }
        var bucketStart = 0.0
        let bucketEnd = merged[b].bound
        var count = merged[b].count
        if b > 0 {
            bucketStart = merged[b - 1].bound
            count -= merged[b - 1].count
            rank -= merged[b - 1].count
        }
        return (bucketStart + (bucketEnd - bucketStart) * (rank / count), forced)
    }
}

extension Evaluator {
    /// Buckets sorted by upper bound with equal bounds added up; nil without a `+Inf` bucket.
    static func coalesced(_ buckets: inout [(bound: Double, count: Double)]) -> [(bound: Double, count: Double)]? {
        buckets.sort { $0.bound < $1.bound }
        guard let last = buckets.last, last.bound == .infinity else { return nil }
        var merged: [(bound: Double, count: Double)] = []
        for bucket in buckets {
            if let tail = merged.last, tail.bound == bucket.bound {
                merged[merged.count - 1].count += bucket.count
            } else {
                merged.append(bucket)
            }
        }
        return merged
    }

    /// The share of a classic histogram's observations between `lower` and `upper`.
    static func bucketFraction(_ lower: Double, _ upper: Double, _ buckets: inout [(bound: Double, count: Double)]) -> Double {
        guard var merged = coalesced(&buckets) else { return .nan }
        for i in merged.indices.dropFirst() where merged[i].count < merged[i - 1].count { merged[i].count = merged[i - 1].count }
        let total = merged[merged.count - 1].count
        if total == 0 || lower.isNaN || upper.isNaN { return .nan }
        if lower >= upper { return 0 }
        func rank(at value: Double) -> Double {
            if value == .infinity { return total }
            var previousBound = -Double.infinity, previousCount = 0.0
            for (i, bucket) in merged.enumerated() {
                if value <= bucket.bound {
                    if value <= previousBound { return previousCount }
                    // The first bucket starts at zero when its bound is positive; otherwise its
                    // observations sit at −∞, below any finite value. Those of the +Inf bucket sit at
                    // +∞: infinite buckets are not interpolated.
                    if i == 0 && bucket.bound <= 0 { return bucket.count }
                    let start = i == 0 ? 0 : previousBound
                    if bucket.bound.isInfinite || value <= start { return previousCount }
                    return previousCount + (bucket.count - previousCount) * (value - start) / (bucket.bound - start)
                }
                previousBound = bucket.bound
                previousCount = bucket.count
            }
            return total
        }
        return (min(rank(at: upper), total) - min(rank(at: lower), total)) / total
    }
}

/// Prometheus's `almost.Equal`: relative difference within `tolerance`, with the smallest-normal
/// rule near zero.
func almostEqual(_ a: Double, _ b: Double, tolerance: Double) -> Bool {
    if a == b { return true }
    let absSum = abs(a) + abs(b)
    let diff = abs(a - b)
    if a == 0 || b == 0 || absSum < Double.leastNormalMagnitude {
        return diff < tolerance * Double.leastNormalMagnitude
    }
    return diff / min(absSum, Double.greatestFiniteMagnitude) < tolerance
}
