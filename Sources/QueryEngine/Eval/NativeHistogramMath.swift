import ObsCore

/// Statistics of one native histogram, with Prometheus's interpolation rules: exponential buckets
/// are interpolated on a log scale, custom buckets and the zero bucket linearly; a histogram with
/// only positive (negative) buckets has its zero bucket start (end) at 0.
enum NativeHistogramMath {
    struct Span {
        var lower: Double
        var upper: Double
        var count: Double
        var isZero = false
    }

    /// Every bucket from the most negative up, the zero bucket in its place.
    static func buckets(_ h: FloatHistogram) -> [Span] {
        var out: [Span] = []
        out.reserveCapacity(h.positive.count + h.negative.count + 1)
        for bucket in h.negative.reversed() {
            let (lower, upper) = h.bounds(ofPositive: bucket.index)
            out.append(Span(lower: -upper, upper: -lower, count: bucket.count))
        }
        if !h.usesCustomBuckets && (h.zeroThreshold != 0 || h.zeroCount != 0) {
            var zero = Span(lower: -h.zeroThreshold, upper: h.zeroThreshold, count: h.zeroCount, isZero: true)
            let hasPositive = h.positive.contains { $0.count != 0 }, hasNegative = h.negative.contains { $0.count != 0 }
            if hasPositive && !hasNegative { zero.lower = 0 }
            if hasNegative && !hasPositive { zero.upper = 0 }
            out.append(zero)
        }
        for bucket in h.positive {
            let (lower, upper) = h.bounds(ofPositive: bucket.index)
            out.append(Span(lower: lower, upper: upper, count: bucket.count))
        }
        return out
    }

    static func quantile(_ q: Double, _ h: FloatHistogram) -> Double {
        if q < 0 { return -.infinity }
        if q > 1 { return .infinity }
        if h.count == 0 || q.isNaN { return .nan }
        let all = buckets(h)
        // From the top for upper quantiles (better precision), unless NaN observations make the
        // bucket total smaller than the count.
        let forward = h.sum.isNaN || q < 0.5
        var rank = forward ? q * h.count : (1 - q) * h.count
        var count = 0.0
        var found: Span?
        let order: [Span] = forward ? all : all.reversed()
        for bucket in order where bucket.count != 0 {
            found = bucket
            count += bucket.count
            if count >= rank { break }
        }
        guard var bucket = found else { return .nan }
        if h.usesCustomBuckets {
            if bucket.lower == -.infinity {
                if bucket.upper <= 0 { return bucket.upper }
                bucket.lower = 0
            } else if bucket.upper == .infinity {
                return bucket.lower
            }
        }
        count = min(count, h.count)
        // The rank lies beyond the buckets: in NaN observations when the sum is NaN.
        if count < rank { return h.sum.isNaN ? .nan : bucket.upper }
        rank = forward ? rank - (count - bucket.count) : count - rank
        let fraction = rank / bucket.count
        if h.usesCustomBuckets || (bucket.lower <= 0 && bucket.upper >= 0) {
            return bucket.lower + (bucket.upper - bucket.lower) * fraction
        }
        let logLower = log2(abs(bucket.lower)), logUpper = log2(abs(bucket.upper))
        if bucket.lower > 0 { return exp2(logLower + (logUpper - logLower) * fraction) }
        return -exp2(logUpper + (logLower - logUpper) * (1 - fraction))
    }

    static func fraction(_ lower: Double, _ upper: Double, _ h: FloatHistogram) -> Double {
        if h.count == 0 || lower.isNaN || upper.isNaN { return .nan }
        if lower >= upper { return 0 }
        var rank = 0.0, lowerRank = 0.0, upperRank = 0.0
        var lowerSet = false, upperSet = false
        for b in buckets(h) {
            let linear = h.usesCustomBuckets || b.isZero
            func position(_ v: Double) -> Double {
                if linear {
                    if b.lower == -.infinity { return rank + (b.upper <= 0 ? b.count : v <= 0 ? 0 : b.count * v / b.upper) }
                    if b.upper == .infinity { return rank }
                    return rank + b.count * (v - b.lower) / (b.upper - b.lower)
                }
                let logLower = log2(abs(b.lower)), logUpper = log2(abs(b.upper)), logV = log2(abs(v))
                let fraction = v > 0 ? (logV - logLower) / (logUpper - logLower) : 1 - (logV - logUpper) / (logLower - logUpper)
                return rank + b.count * fraction
            }
            if !lowerSet && b.lower >= lower { lowerRank = rank; lowerSet = true }
            if !upperSet && b.lower >= upper { upperRank = rank; upperSet = true }
            if lowerSet && upperSet { break }
            if !lowerSet && b.lower < lower && b.upper > lower { lowerRank = position(lower); lowerSet = true }
            if !upperSet && b.lower < upper && b.upper > upper { upperRank = position(upper); upperSet = true }
            if lowerSet && upperSet { break }
            rank += b.count
        }
        // Unset ranks lie past every bucket; NaN observations (counted, in no bucket) stay excluded.
        if !lowerSet { lowerRank = rank }
        if !upperSet { upperRank = rank }
        lowerRank = min(lowerRank, h.count)
        upperRank = min(upperRank, h.count)
        return (upperRank - lowerRank) / h.count
    }

    /// Estimated variance of the observations: each bucket's count sits at its geometric mean
    /// (arithmetic for custom buckets, 0 in the zero bucket).
    static func variance(_ h: FloatHistogram) -> Double {
        let mean = h.sum / h.count
        var sum = KahanSum()
        for bucket in buckets(h) where bucket.count != 0 {
            let value: Double
            if h.usesCustomBuckets {
                value = (bucket.upper + bucket.lower) / 2
            } else if bucket.lower <= 0 && bucket.upper >= 0 {
                value = 0
            } else {
                let geometric = (bucket.upper * bucket.lower).squareRoot()
                value = bucket.upper < 0 ? -geometric : geometric
            }
            let delta = value - mean
            sum.add(bucket.count * delta * delta)
        }
        return sum.value / h.count
    }
}

extension NativeHistogramMath {
    /// The observations of `h` below (`keepBelow`) or above `cutoff`. A bucket the cutoff cuts keeps
    /// the interpolated share (log scale for exponential buckets, linear for custom buckets and the
    /// zero bucket); a cut bucket with an infinite bound keeps all or nothing. When anything was
    /// removed the sum is re-estimated from the kept buckets: each at its geometric mean
    /// (arithmetic for custom buckets and the zero bucket), open-ended ones at their finite bound.
    static func trimmed(_ h: FloatHistogram, at cutoff: Double, keepBelow: Bool) -> FloatHistogram {
        guard !cutoff.isNaN else { return h }
        var out = h
        var removedAny = false
        var sum = KahanSum()
        var total = 0.0
        let hasPositive = h.positive.contains { $0.count != 0 }, hasNegative = h.negative.contains { $0.count != 0 }

        /// The kept count and its representative value for one bucket.
        func keep(_ lowerBound: Double, _ upperBound: Double, _ count: Double, linear: Bool) -> Double {
            guard count != 0 else { return 0 }
            var lower = lowerBound, upper = upperBound
            if lower == -.infinity && upper > 0 { lower = 0 }
            let whole = keepBelow ? upper <= cutoff : lower >= cutoff
            let none = keepBelow ? lower >= cutoff : upper <= cutoff
            var kept = 0.0, from = lower, to = upper
            if whole {
                kept = count
            } else if !none {
                if lower == -.infinity || upper == .infinity {
                    // Open-ended: the side that reaches the cutoff from the open end keeps everything.
                    let keepsAll = keepBelow ? lower == -.infinity && upper != .infinity : upper == .infinity && lower != -.infinity
                    if keepsAll { kept = count; if keepBelow { to = cutoff } else { from = cutoff } }
                } else {
                    let below: Double
                    if linear {
                        below = (cutoff - lower) / (upper - lower)
                    } else if cutoff > 0 {
                        below = (log2(cutoff) - log2(lower)) / (log2(upper) - log2(lower))
                    } else {
                        below = 1 - (log2(-cutoff) - log2(-upper)) / (log2(-lower) - log2(-upper))
                    }
                    kept = count * (keepBelow ? below : 1 - below)
                    if keepBelow { to = cutoff } else { from = cutoff }
                }
            }
            if kept != count { removedAny = true }
            if kept != 0 {
                let value: Double
                if from == -.infinity { value = to } else if to == .infinity { value = from } else if linear || (from <= 0 && to >= 0) {
                    value = (from + to) / 2
                } else {
                    let geometric = (from * to).squareRoot()
                    value = to < 0 ? -geometric : geometric
                }
                sum.add(kept * value)
                total += kept
            }
            return kept
        }

        let custom = h.usesCustomBuckets
        for i in out.negative.indices {
            let (lower, upper) = h.bounds(ofPositive: out.negative[i].index)
            out.negative[i].count = keep(-upper, -lower, out.negative[i].count, linear: false)
        }
        if !custom {
            var lower = -h.zeroThreshold, upper = h.zeroThreshold
            if hasPositive && !hasNegative { lower = 0 }
            if hasNegative && !hasPositive { upper = 0 }
            out.zeroCount = keep(lower, upper, h.zeroCount, linear: true)
        }
        for i in out.positive.indices {
            var (lower, upper) = h.bounds(ofPositive: out.positive[i].index)
            if !custom && lower < h.zeroThreshold && upper > h.zeroThreshold { lower = h.zeroThreshold }
            out.positive[i].count = keep(lower, upper, out.positive[i].count, linear: custom)
        }
        guard removedAny else { return h }
        out.count = total
        out.sum = sum.value
        out.dropEmptyBuckets()
        return out
    }
}
