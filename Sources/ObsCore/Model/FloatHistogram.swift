/// A Prometheus native histogram with float counts, the form every histogram takes once stored
/// (integer histograms from remote write are converted on arrival).
///
/// Buckets are kept sparse: `(index, count)` pairs sorted by index, zero counts left out. Spans and
/// deltas are a wire and storage concern; arithmetic on sorted pairs is a merge.
///
/// Exponential schemas (−4…8): positive bucket `i` covers `(2^((i−1)·2^−s), 2^(i·2^−s)]`, negative
/// buckets mirror that, and the zero bucket covers `[−zeroThreshold, zeroThreshold]`. The custom-bucket
/// schema (−53) has upper bounds `customValues`: bucket `i` covers `(customValues[i−1], customValues[i]]`
/// with the first starting at −∞ and bucket `customValues.count` ending at +∞.
public struct FloatHistogram: Sendable, Equatable {
    public struct Bucket: Sendable, Equatable {
        public var index: Int32
        public var count: Double
        public init(_ index: Int32, _ count: Double) {
            self.index = index
            self.count = count
        }
    }

    /// What the producer said about counter resets; `gauge` marks a gauge histogram.
    public enum ResetHint: UInt8, Sendable {
        case unknown = 0, reset = 1, notReset = 2, gauge = 3
    }

    public static let customBucketsSchema: Int32 = -53

    public var resetHint: ResetHint
    public var schema: Int32
    public var zeroThreshold: Double
    public var zeroCount: Double
    public var count: Double
    public var sum: Double
    public var positive: [Bucket]
    public var negative: [Bucket]
    public var customValues: [Double]

    public init(resetHint: ResetHint = .unknown, schema: Int32 = 0, zeroThreshold: Double = 0, zeroCount: Double = 0,
                count: Double = 0, sum: Double = 0, positive: [Bucket] = [], negative: [Bucket] = [],
                customValues: [Double] = []) {
        self.resetHint = resetHint
        self.schema = schema
        self.zeroThreshold = zeroThreshold
        self.zeroCount = zeroCount
        self.count = count
        self.sum = sum
        self.positive = positive
        self.negative = negative
        self.customValues = customValues
    }

    public var usesCustomBuckets: Bool { schema == Self.customBucketsSchema }

    // MARK: Bounds

    /// Upper bound of exponential bucket `index` at `schema`, computed exactly for powers of two.
    public static func exponentialBound(_ index: Int32, schema: Int32) -> Double {
        if schema <= 0 {
            let exponent = Int(index) << Int(-schema)
            if exponent >= 1024 { return .infinity }
            if exponent < -1100 { return 0 }
            return Double(sign: .plus, exponent: exponent, significand: 1)
        }
        let perPower = Int32(1) << schema
        let whole = index >> schema  // floor division
        let fraction = index - whole * perPower
        if whole >= 1024 { return .infinity }
        return Double(sign: .plus, exponent: Int(whole), significand: exp2(Double(fraction) / Double(perPower)))
    }

    /// Lower and upper bound of a positive bucket (for negative buckets, negate and swap).
    public func bounds(ofPositive index: Int32) -> (lower: Double, upper: Double) {
        if usesCustomBuckets {
            let i = Int(index)
            let lower = i == 0 ? -Double.infinity : (i - 1 < customValues.count ? customValues[i - 1] : .infinity)
            let upper = i < customValues.count ? customValues[i] : .infinity
            return (lower, upper)
        }
        return (Self.exponentialBound(index - 1, schema: schema), Self.exponentialBound(index, schema: schema))
    }

    // MARK: Scaling

    public mutating func scale(by factor: Double) {
        zeroCount *= factor
        count *= factor
        sum *= factor
        for i in positive.indices { positive[i].count *= factor }
        for i in negative.indices { negative[i].count *= factor }
    }

    /// Division by zero leaves only the zero bucket, holding the infinite (or NaN) result.
    public mutating func divide(by divisor: Double) {
        if divisor == 0 {
            positive = []
            negative = []
        }
        zeroCount /= divisor
        count /= divisor
        sum /= divisor
        for i in positive.indices { positive[i].count /= divisor }
        for i in negative.indices { negative[i].count /= divisor }
    }

    // MARK: Addition

    public enum CombineError: Error, Sendable {
        /// One operand has exponential buckets and the other custom buckets.
        case mixedSchemas
    }

    /// What combining two histograms needed beyond plain addition, for annotations.
    public struct CombineNotes: Sendable {
        public var reconciledCustomBuckets = false
        public var conflictingResetHints = false
        public init() {}
    }

    /// `self + other` (or `self − other`), bringing both to the coarser schema and the wider zero
    /// bucket; custom bounds that differ are reduced to the bounds both share.
    @discardableResult
    public mutating func add(_ other: FloatHistogram, negate: Bool = false) throws(CombineError) -> CombineNotes {
        var notes = CombineNotes()
        if usesCustomBuckets != other.usesCustomBuckets { throw .mixedSchemas }
        var other = other
        if usesCustomBuckets {
            if customValues != other.customValues {
                let shared = Self.sharedBounds(customValues, other.customValues)
                remapCustomBuckets(to: shared)
                other.remapCustomBuckets(to: shared)
                notes.reconciledCustomBuckets = true
            }
        } else {
            if other.schema < schema { reduceResolution(to: other.schema) }
            if other.schema > schema { other.reduceResolution(to: schema) }
            if other.zeroThreshold != zeroThreshold { reconcileZeroBuckets(&other) }
        }
        notes.conflictingResetHints = mergeResetHint(other.resetHint)
        let sign = negate ? -1.0 : 1.0
        zeroCount += sign * other.zeroCount
        count += sign * other.count
        sum += sign * other.sum
        positive = Self.merged(positive, other.positive, sign: sign)
        negative = Self.merged(negative, other.negative, sign: sign)
        return notes
    }

    /// Prometheus's rules for the hint of a sum; returns true for a reset/not-reset collision.
    private mutating func mergeResetHint(_ other: ResetHint) -> Bool {
        switch (resetHint, other) {
        case _ where resetHint == other: return false
        case (.gauge, _): return false
        case (_, .gauge): resetHint = .gauge
        case (.unknown, _): return false
        case (_, .unknown): resetHint = .unknown
        default:
            resetHint = .unknown
            return true
        }
        return false
    }

    /// Sum of two sorted sparse bucket lists; buckets that cancel out stay as explicit zeros only
    /// when they were present on either side, as Prometheus keeps them in the layout.
    static func merged(_ a: [Bucket], _ b: [Bucket], sign: Double) -> [Bucket] {
        if b.isEmpty { return a }
        if a.isEmpty && sign == 1 { return b }
        var out: [Bucket] = []
        out.reserveCapacity(max(a.count, b.count))
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i].index < b[j].index) {
                out.append(a[i]); i += 1
            } else if i == a.count || b[j].index < a[i].index {
                out.append(Bucket(b[j].index, sign * b[j].count)); j += 1
            } else {
                out.append(Bucket(a[i].index, a[i].count + sign * b[j].count)); i += 1; j += 1
            }
        }
        return out
    }

    // MARK: Resolution and zero bucket

    /// Merges buckets into the coarser `target` schema (exponential schemas only).
    public mutating func reduceResolution(to target: Int32) {
        guard target < schema, !usesCustomBuckets else { return }
        let shift = schema - target
        positive = Self.reindexed(positive) { (($0 - 1) >> shift) + 1 }
        negative = Self.reindexed(negative) { (($0 - 1) >> shift) + 1 }
        schema = target
    }

    static func reindexed(_ buckets: [Bucket], _ map: (Int32) -> Int32) -> [Bucket] {
        var out: [Bucket] = []
        out.reserveCapacity(buckets.count)
        for bucket in buckets {
            let index = map(bucket.index)
            if let last = out.last, last.index == index {
                out[out.count - 1].count += bucket.count
            } else {
                out.append(Bucket(index, bucket.count))
            }
        }
        return out
    }

    /// Brings both zero buckets to the wider threshold, moving the buckets it swallows into them.
    private mutating func reconcileZeroBuckets(_ other: inout FloatHistogram) {
        while other.zeroThreshold != zeroThreshold {
            if zeroThreshold > other.zeroThreshold { other.widenZeroBucket(to: zeroThreshold) }
            if other.zeroThreshold > zeroThreshold { widenZeroBucket(to: other.zeroThreshold) }
        }
    }

    /// Widens the zero bucket to at least `threshold`; when that cuts through a populated bucket, up
    /// to that bucket's upper bound. Buckets inside the new zero bucket are merged into it.
    public mutating func widenZeroBucket(to threshold: Double) {
        guard threshold > zeroThreshold else { return }
        var limit = threshold
        var changed = true
        while changed {
            changed = false
            for buckets in [positive, negative] {
                for bucket in buckets {
                    let (lower, upper) = bounds(ofPositive: bucket.index)
                    if lower >= limit { break }
                    if upper > limit {
                        if bucket.count != 0 { limit = upper; changed = true }
                        break
                    }
                }
            }
        }
        var moved = 0.0
        let layout = self
        func keepOutside(_ buckets: [Bucket]) -> [Bucket] {
            buckets.filter { bucket in
                let inside = layout.bounds(ofPositive: bucket.index).lower < limit
                if inside { moved += bucket.count }
                return !inside
            }
        }
        positive = keepOutside(positive)
        negative = keepOutside(negative)
        zeroCount += moved
        zeroThreshold = limit
    }

    // MARK: Custom buckets

    /// The bounds that appear in both sorted lists.
    static func sharedBounds(_ a: [Double], _ b: [Double]) -> [Double] {
        var out: [Double] = []
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] { out.append(a[i]); i += 1; j += 1 } else if a[i] < b[j] { i += 1 } else { j += 1 }
        }
        return out
    }

    /// Moves every bucket into the bucket of `bounds` that contains it (the first bound at or above
    /// its upper bound); `bounds` must be a subset of the current bounds.
    mutating func remapCustomBuckets(to bounds: [Double]) {
        let old = customValues
        positive = Self.reindexed(positive) { index in
            let i = Int(index)
            guard i < old.count else { return Int32(bounds.count) }
            let upper = old[i]
            var low = 0, high = bounds.count
            while low < high {
                let mid = (low + high) / 2
                if bounds[mid] < upper { low = mid + 1 } else { high = mid }
            }
            return Int32(low)
        }
        customValues = bounds
    }

    // MARK: Comparison and resets

    /// Same observations in the same buckets, ignoring the reset hint and empty buckets.
    public func sameValue(as other: FloatHistogram) -> Bool {
        schema == other.schema && zeroThreshold == other.zeroThreshold && zeroCount == other.zeroCount
            && count == other.count && Self.bitEqual(sum, other.sum) && customValues == other.customValues
            && Self.populated(positive) == Self.populated(other.positive)
            && Self.populated(negative) == Self.populated(other.negative)
    }

    private static func bitEqual(_ a: Double, _ b: Double) -> Bool { a == b || (a.isNaN && b.isNaN) }
    private static func populated(_ buckets: [Bucket]) -> [Bucket] { buckets.filter { $0.count != 0 } }

    /// Whether going from `previous` to `self` is a counter reset: the hint says so, or the count,
    /// zero bucket or any bucket went down, or the layout got coarser.
    public func isCounterReset(after previous: FloatHistogram) -> Bool {
        switch resetHint {
        case .reset: return true
        case .notReset: return false
        default: break
        }
        if count < previous.count { return true }
        if usesCustomBuckets != previous.usesCustomBuckets { return true }
        if usesCustomBuckets {
            if customValues != previous.customValues { return true }
        } else {
            if schema > previous.schema { return true }
            if zeroThreshold < previous.zeroThreshold { return true }
        }
        var prior = previous
        if !usesCustomBuckets {
            prior.reduceResolution(to: schema)
            if zeroThreshold > prior.zeroThreshold { prior.widenZeroBucket(to: zeroThreshold) }
        }
        if zeroCount < prior.zeroCount { return true }
        return Self.anyDecrease(from: prior.positive, to: positive) || Self.anyDecrease(from: prior.negative, to: negative)
    }

    private static func anyDecrease(from old: [Bucket], to new: [Bucket]) -> Bool {
        var j = 0
        for bucket in old where bucket.count > 0 {
            while j < new.count && new[j].index < bucket.index { j += 1 }
            let now = j < new.count && new[j].index == bucket.index ? new[j].count : 0
            if now < bucket.count { return true }
        }
        return false
    }

    /// Drops buckets whose count is exactly zero.
    public mutating func dropEmptyBuckets() {
        positive.removeAll { $0.count == 0 }
        negative.removeAll { $0.count == 0 }
    }
}
