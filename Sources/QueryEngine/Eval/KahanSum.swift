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
