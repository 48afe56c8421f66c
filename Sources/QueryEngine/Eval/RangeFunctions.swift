import ObsCore

/// The samples of one series inside one step's window, `(start, end]`, with the window bounds.
/// The columns are views of the series' arrays, valid only for the kernel call they are made for:
/// a million windows a query made a million pairs of array slices, and their reference counting was
/// a tenth of the evaluation.
struct Window {
    var timestamps: Slice<UnsafeBufferPointer<Int64>>
    var values: Slice<UnsafeBufferPointer<Double>>
    var start: Int64
    var end: Int64
    var range: Int64
    /// The evaluation time of the step, before `offset` and `@` moved the window.
    var stepTime: Int64
    /// False when the caller knows no value in the window drops below its predecessor, so counter
    /// functions can skip looking for resets.
    var mayHaveResets = true

    var count: Int { values.count }
    var firstIndex: Int { values.startIndex }
    var lastIndex: Int { values.endIndex - 1 }

    /// Runs `body` with the window over `timestamps` and `values` (whole arrays).
    static func over<R>(_ timestamps: [Int64], _ values: [Double], start: Int64, end: Int64, range: Int64, stepTime: Int64,
                        _ body: (Window) -> R) -> R {
        timestamps.withUnsafeBufferPointer { ts in
            values.withUnsafeBufferPointer { vs in
                body(Window(timestamps: ts[...], values: vs[...], start: start, end: end, range: range, stepTime: stepTime))
            }
        }
    }
}

/// Kernels of the functions over range vectors. Each returns nil where Prometheus returns no sample.
enum RangeFunctions {
    /// Per-step scalar arguments (`predict_linear`'s seconds, `quantile_over_time`'s φ, …).
    typealias Kernel = (_ window: Window, _ step: Int) -> Double?

    static func kernel(_ name: String, scalars: [[Double]], legacy: Bool) -> Kernel? {
        switch name {
        case "rate": return { w, _ in extrapolatedDelta(w, isCounter: true, isRate: true, legacy: legacy) }
        case "increase": return { w, _ in extrapolatedDelta(w, isCounter: true, isRate: false, legacy: legacy) }
        case "delta": return { w, _ in extrapolatedDelta(w, isCounter: false, isRate: false, legacy: legacy) }
        case "irate": return { w, _ in instantDelta(w, isRate: true) }
        case "idelta": return { w, _ in instantDelta(w, isRate: false) }
        case "deriv": return { w, _ in
            guard w.count >= 2 else { return nil }
            return linearRegression(w, interceptTime: w.timestamps[w.firstIndex]).slope
        }
        case "predict_linear": return { w, step in
            guard w.count >= 2 else { return nil }
            let (slope, intercept) = linearRegression(w, interceptTime: w.stepTime)
            return slope * scalars[0][step] + intercept
        }
        case "changes": return { w, _ in
            var changes = 0.0
            var previous = w.values[w.firstIndex]
            for v in w.values.dropFirst() {
                if v != previous && !(v.isNaN && previous.isNaN) { changes += 1 }
                previous = v
            }
            return changes
        }
        case "resets": return { w, _ in
            var resets = 0.0
            var previous = w.values[w.firstIndex]
            for v in w.values.dropFirst() {
                if v < previous { resets += 1 }
                previous = v
            }
            return resets
        }
        case "avg_over_time": return { w, _ in
            var mean = RunningMean()
            for v in w.values { mean.add(v) }
            return mean.value
        }
        case "sum_over_time": return { w, _ in
            var sum = KahanSum()
            for v in w.values { sum.add(v) }
            return sum.value
        }
        case "count_over_time": return { w, _ in Double(w.count) }
        case "present_over_time": return { _, _ in 1 }
        case "last_over_time": return { w, _ in w.values[w.lastIndex] }
        case "first_over_time": return { w, _ in w.values[w.firstIndex] }
        case "ts_of_last_over_time": return { w, _ in Double(w.timestamps[w.lastIndex]) / 1000 }
        case "ts_of_first_over_time": return { w, _ in Double(w.timestamps[w.firstIndex]) / 1000 }
        case "min_over_time": return { w, _ in extreme(w, max: false).value }
        case "max_over_time": return { w, _ in extreme(w, max: true).value }
        case "ts_of_min_over_time": return { w, _ in Double(extreme(w, max: false).timestamp) / 1000 }
        case "ts_of_max_over_time": return { w, _ in Double(extreme(w, max: true).timestamp) / 1000 }
        case "stddev_over_time": return { w, _ in variance(w.values).squareRoot() }
        case "stdvar_over_time": return { w, _ in variance(w.values) }
        case "mad_over_time": return { w, _ in
            let values = Array(w.values)
            if values.contains(where: \.isNaN) { return .nan }
            let median = quantile(0.5, values)
            return quantile(0.5, values.map { abs($0 - median) })
        }
        case "quantile_over_time": return { w, step in quantile(scalars[0][step], Array(w.values)) }
        case "holt_winters", "double_exponential_smoothing": return { w, step in
            doubleExponentialSmoothing(w.values, smoothing: scalars[0][step], trend: scalars[1][step])
        }
        default: return nil
        }
    }

    /// `rate`, `increase` and `delta`: the change over the window, extrapolated towards the window's
    /// edges when the samples reach close to them.
    static func extrapolatedDelta(_ w: Window, isCounter: Bool, isRate: Bool, legacy: Bool) -> Double? {
        guard w.count >= 2 else { return nil }
        let firstValue = w.values[w.firstIndex]
        var result = w.values[w.lastIndex] - firstValue
        if isCounter && w.mayHaveResets {
            var last = firstValue
            for v in w.values {
                if v < last { result += last }
                last = v
            }
        }
        let factor = extrapolationFactor(w, isCounter: isCounter, isRate: isRate, legacy: legacy,
                                         zeroPoint: result > 0 && firstValue >= 0 ? firstValue / result : nil)
        return result * factor
    }

    /// What the change between the window's first and last sample is multiplied by: the
    /// extrapolation towards the window's edges (not past a counter's zero point, given as the
    /// first value over the change) and, for rates, the division by the range.
    static func extrapolationFactor(_ w: Window, isCounter: Bool, isRate: Bool, legacy: Bool, zeroPoint: Double?) -> Double {
        let firstT = w.timestamps[w.firstIndex], lastT = w.timestamps[w.lastIndex]
        var durationToStart = Double(firstT - w.start) / 1000
        var durationToEnd = Double(w.end - lastT) / 1000
        let sampledInterval = Double(lastT - firstT) / 1000
        let averageInterval = sampledInterval / Double(w.count - 1)
        let threshold = averageInterval * 1.1
        // Prometheus 2 capped at the zero point first, then applied the half-interval rule.
        if !legacy, durationToStart >= threshold { durationToStart = averageInterval / 2 }
        if isCounter, let zeroPoint {
            let durationToZero = sampledInterval * zeroPoint
            if durationToZero < durationToStart { durationToStart = durationToZero }
        }
        if legacy, durationToStart >= threshold { durationToStart = averageInterval / 2 }
        if durationToEnd >= threshold { durationToEnd = averageInterval / 2 }
        var factor = (sampledInterval + durationToStart + durationToEnd) / sampledInterval
        if isRate { factor /= Double(w.range) / 1000 }
        return factor
    }

    /// `irate` and `idelta`: from the last two samples only.
    static func instantDelta(_ w: Window, isRate: Bool) -> Double? {
        guard w.count >= 2 else { return nil }
        let last = w.values[w.lastIndex], previous = w.values[w.lastIndex - 1]
        var result = last - previous
        if isRate {
            if last < previous { result = last }
            let interval = w.timestamps[w.lastIndex] - w.timestamps[w.lastIndex - 1]
            if interval == 0 { return nil }
            result /= Double(interval) / 1000
        }
        return result
    }

    /// Least-squares fit of value over time (seconds relative to `interceptTime`), with compensated sums.
    static func linearRegression(_ w: Window, interceptTime: Int64) -> (slope: Double, intercept: Double) {
        var n = 0.0
        var sumX = KahanSum(), sumY = KahanSum(), sumXY = KahanSum(), sumX2 = KahanSum()
        let initY = w.values[w.firstIndex]
        var constY = true
        for i in w.values.indices {
            let v = w.values[i]
            if constY, i > w.firstIndex, v != initY { constY = false }
            n += 1
            let x = Double(w.timestamps[i] - interceptTime) / 1000
            sumX.add(x)
            sumY.add(v)
            sumXY.add(x * v)
            sumX2.add(x * x)
        }
        if constY {
            if initY.isInfinite { return (.nan, .nan) }
            return (0, initY)
        }
        let covXY = sumXY.value - sumX.value * sumY.value / n
        let varX = sumX2.value - sumX.value * sumX.value / n
        let slope = covXY / varX
        let intercept = sumY.value / n - slope * sumX.value / n
        return (slope, intercept)
    }

    /// The smallest or largest value and its timestamp; NaN only when every value is NaN.
    static func extreme(_ w: Window, max: Bool) -> (value: Double, timestamp: Int64) {
        var best = w.values[w.firstIndex]
        var bestT = w.timestamps[w.firstIndex]
        for i in w.values.indices.dropFirst() {
            let v = w.values[i]
            if (max ? v > best : v < best) || best.isNaN {
                if !v.isNaN || best.isNaN {
                    best = v
                    bestT = w.timestamps[i]
                }
            }
        }
        return (best, bestT)
    }

    /// Population variance by Welford's method with compensated sums.
    static func variance(_ values: some Sequence<Double>) -> Double {
        var count = 0.0
        var mean = 0.0, meanC = 0.0
        var aux = 0.0, auxC = 0.0
        for v in values {
            count += 1
            let delta = v - (mean + meanC)
            (mean, meanC) = KahanSum.increment(delta / count, mean, meanC)
            (aux, auxC) = KahanSum.increment(delta * (v - (mean + meanC)), aux, auxC)
        }
        return (aux + auxC) / count
    }

    /// Prometheus's φ-quantile with linear interpolation between the closest ranks.
    static func quantile(_ q: Double, _ input: [Double]) -> Double {
        if input.isEmpty || q.isNaN { return .nan }
        if q < 0 { return -.infinity }
        if q > 1 { return .infinity }
        // NaN counts as the smallest value, as in Prometheus.
        let values = input.sorted { a, b in a < b || (a.isNaN && !b.isNaN) }
        let n = Double(values.count)
        let rank = q * (n - 1)
        let lower = Swift.max(0, Int(rank.rounded(.down)))
        let upper = Swift.min(values.count - 1, lower + 1)
        let weight = rank - rank.rounded(.down)
        return values[lower] * (1 - weight) + values[upper] * weight
    }

    /// Holt's linear (double exponential) smoothing; nil with fewer than two samples. Factors outside
    /// (0, 1) are rejected by the caller.
    static func doubleExponentialSmoothing(_ values: Slice<UnsafeBufferPointer<Double>>, smoothing sf: Double, trend tf: Double) -> Double? {
        guard values.count >= 2 else { return nil }
        let first = values.startIndex
        var s0 = 0.0
        var s1 = values[first]
        var b = values[first + 1] - values[first]
        var x = 0.0, y = 0.0
        for i in 1..<values.count {
            x = sf * values[first + i]
            b = trendValue(i: i - 1, tf: tf, s0: s0, s1: s1, b: b)
            y = (1 - sf) * (s1 + b)
            s0 = s1
            s1 = x + y
        }
        return s1
    }

    private static func trendValue(i: Int, tf: Double, s0: Double, s1: Double, b: Double) -> Double {
        if i == 0 { return b }
        return tf * (s1 - s0) + (1 - tf) * b
    }
}
