import ObsCore

/// `histogram_quantile` over classic histograms: series that differ only in `le` form one histogram.
extension Evaluator {
    func histogramQuantile(_ arguments: [Expr], position: Int) throws(PromQLError) -> EvalValue {
        let quantiles = try scalar(arguments[0])
        let input = try vector(arguments[1])
        let location = context.location(position)
        for q in quantiles where q.isNaN || q < 0 || q > 1 {
            context.annotations.warn("quantile value should be between 0 and 1, got \(goFloat(q))",
                                     at: context.location(startPosition(arguments[0])))
        }
        struct Histogram {
            var labels: Labels
            var members: [(bound: Double, series: Int)] = []
        }
        var index: [Labels: Int] = [:]
        var histograms: [Histogram] = []
        for (i, series) in input.enumerated() {
            let le = series.labels["le"] ?? ""
            guard let bound = parseBound(le) else {
                let metric = series.labels.metricName ?? ""
                context.annotations.warn("bucket label \"le\" is missing or has a malformed value of \"\(le)\" for metric name \"\(metric)\"",
                                         at: context.location(startPosition(arguments[1])))
                continue
            }
            let key = series.labels.removing(["le"])
            if let h = index[key] {
                histograms[h].members.append((bound, i))
            } else {
                index[key] = histograms.count
                histograms.append(Histogram(labels: key, members: [(bound, i)]))
            }
        }
        var result: [StepSeries] = []
        for histogram in histograms {
            var out = StepSeries(labels: histogram.labels, steps: steps, dropName: true)
            var buckets: [(bound: Double, count: Double)] = []
            for step in 0..<steps {
                buckets.removeAll(keepingCapacity: true)
                for member in histogram.members where input[member.series].present[step] {
                    buckets.append((member.bound, input[member.series].values[step]))
                }
                guard !buckets.isEmpty else { continue }
                let (value, forcedMonotonic) = Self.bucketQuantile(quantiles[step], &buckets)
                if forcedMonotonic {
                    context.annotations.info("input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"\(histogram.labels.metricName ?? "")\"", at: location)
                }
                out.set(step, value)
            }
            if !out.isEmpty { result.append(out) }
        }
        return .vector(result)
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
        buckets.sort { $0.bound < $1.bound }
        guard let last = buckets.last, last.bound == .infinity else { return (.nan, false) }
        var merged: [(bound: Double, count: Double)] = []
        for bucket in buckets {
            if let tail = merged.last, tail.bound == bucket.bound {
                merged[merged.count - 1].count += bucket.count
            } else {
                merged.append(bucket)
            }
        }
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
