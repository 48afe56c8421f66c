import ObsCore

/// Compensated summation (Neumaier's variant of Kahan's), as Prometheus uses for `sum`, `avg` and the
/// `_over_time` functions so that results do not depend on the order of the inputs.
struct KahanSum {
    var sum = 0.0
    var compensation = 0.0

    @inline(__always) mutating func add(_ value: Double) {
        (sum, compensation) = KahanSum.increment(value, sum, compensation)
    }

    var value: Double { sum + compensation }

    @inline(__always) static func increment(_ value: Double, _ sum: Double, _ compensation: Double) -> (Double, Double) {
        let total = sum + value
        if total.isInfinite { return (total, 0) }
        if abs(sum) >= abs(value) {
            return (total, compensation + ((sum - total) + value))
        }
        return (total, compensation + ((value - total) + sum))
    }
}

/// The arithmetic mean, switching from compensated sum to an incremental mean when the sum would
/// overflow, as Prometheus's `avg` and `avg_over_time` do.
struct RunningMean {
    private var sum = KahanSum()
    private var mean = 0.0
    private var meanCompensation = 0.0
    private var incremental = false
    private(set) var count = 0.0

    mutating func add(_ value: Double) {
        count += 1
        if !incremental {
            let (newSum, newCompensation) = KahanSum.increment(value, sum.sum, sum.compensation)
            if !newSum.isInfinite || count == 1 {
                sum.sum = newSum
                sum.compensation = newCompensation
                return
            }
            incremental = true
            mean = sum.sum / (count - 1)
            meanCompensation = sum.compensation / (count - 1)
        }
        if mean.isInfinite {
            if value.isInfinite, (mean > 0) == (value > 0) { return }
            if !value.isInfinite, !value.isNaN { return }
        }
        let currentMean = mean + meanCompensation
        (mean, meanCompensation) = KahanSum.increment(value / count - currentMean / count, mean, meanCompensation)
    }

    var value: Double {
        if incremental { return mean + meanCompensation }
        return sum.sum / count + sum.compensation / count
    }
}

/// A running sum of histograms with compensated count, sum and zero bucket, so that `sum` and
/// `sum_over_time` of histograms keep small values next to huge ones, as Prometheus's do.
struct HistogramSum {
    private(set) var total: FloatHistogram?
    private var count = 0.0, sum = 0.0, zero = 0.0

    /// Adds `h`; throws when exponential and custom buckets meet.
    mutating func add(_ h: FloatHistogram) throws(FloatHistogram.CombineError) -> FloatHistogram.CombineNotes {
        guard var t = total else {
            total = h
            return FloatHistogram.CombineNotes()
        }
        let before = (count: t.count, sum: t.sum, zero: t.zeroCount, threshold: t.zeroThreshold)
        let notes = try t.add(h)
        (t.count, count) = KahanSum.increment(h.count, before.count, count)
        (t.sum, sum) = KahanSum.increment(h.sum, before.sum, sum)
        if t.zeroThreshold == before.threshold && t.zeroThreshold == h.zeroThreshold {
            (t.zeroCount, zero) = KahanSum.increment(h.zeroCount, before.zero, zero)
        }
        total = t
        return notes
    }

    var value: FloatHistogram? {
        guard var t = total else { return nil }
        t.count += count
        t.sum += sum
        t.zeroCount += zero
        return t
    }
}
