import ObsCore

/// Functions that read native histograms: `histogram_count` and friends, and the native half of
/// `histogram_quantile(s)` and `histogram_fraction`.
extension Evaluator {
    /// One float per histogram sample, computed by `property`; float samples give nothing.
    func nativeHistogramMap(_ input: [StepSeries], _ property: (FloatHistogram, Int) -> Double) -> [StepSeries] {
        var result: [StepSeries] = []
        for series in input where series.histograms != nil {
            var out = StepSeries(labels: series.labels, steps: steps, dropName: true)
            for step in 0..<steps {
                if let h = series.histogram(step) { out.set(step, property(h, step)) }
            }
            if !out.isEmpty { result.append(out) }
        }
        return result
    }

    func histogramProperty(_ name: String, _ argument: Expr) throws(PromQLError) -> EvalValue {
        let input = try vector(argument)
        return .vector(nativeHistogramMap(input) { h, _ in
            switch name {
            case "histogram_count": h.count
            case "histogram_sum": h.sum
            case "histogram_avg": h.sum / h.count
            case "histogram_stddev": NativeHistogramMath.variance(h).squareRoot()
            default: NativeHistogramMath.variance(h)
            }
        })
    }

    /// Classic results and native results side by side; where both give a value for the same
    /// labels at the same step, Prometheus warns and drops both.
    func joinClassicAndNative(_ classic: [StepSeries], _ native: [StepSeries], argument: Expr) throws(PromQLError) -> [StepSeries] {
        guard !classic.isEmpty, !native.isEmpty else { return classic + native }
        var byLabels: [Labels: Int] = [:]
        var classic = classic
        for (i, s) in classic.enumerated() { byLabels[s.labels] = i }
        var native = native
        for n in native.indices {
            guard let c = byLabels[native[n].labels] else { continue }
            for step in 0..<steps where native[n].present[step] && classic[c].present[step] {
                context.annotations.warn("vector contains a mix of classic and native histograms for metric name \"\(native[n].labels.metricName ?? "")\"",
                                         at: context.location(startPosition(argument)))
                native[n].clear(step)
                classic[c].clear(step)
            }
        }
        return (classic + native).filter { !$0.isEmpty }
    }
}
