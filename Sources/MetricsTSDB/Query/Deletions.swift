import ObsCore

/// Time intervals whose samples were deleted (`[minTime, maxTime]`, inclusive, as Prometheus's
/// tombstones), kept sorted and merged.
struct Intervals: Sendable, Equatable {
    private(set) var ranges: [(min: Int64, max: Int64)] = []

    init(_ ranges: [(min: Int64, max: Int64)] = []) {
        for range in ranges { add(min: range.min, max: range.max) }
    }

    var isEmpty: Bool { ranges.isEmpty }

    mutating func add(min: Int64, max: Int64) {
        guard min <= max else { return }
        var low = min, high = max
        var kept: [(min: Int64, max: Int64)] = []
        for range in ranges {
            // Overlapping or touching ranges fold into the new one.
            if range.max < low &- 1 || range.min > high &+ 1 {
                kept.append(range)
            } else {
                low = Swift.min(low, range.min)
                high = Swift.max(high, range.max)
            }
        }
        kept.append((low, high))
        ranges = kept.sorted { $0.min < $1.min }
    }

    mutating func add(_ other: Intervals) {
        for range in other.ranges { add(min: range.min, max: range.max) }
    }

    func contains(_ time: Int64) -> Bool {
        ranges.contains { $0.min <= time && time <= $0.max }
    }

    static func == (lhs: Intervals, rhs: Intervals) -> Bool {
        lhs.ranges.elementsEqual(rhs.ranges) { $0.min == $1.min && $0.max == $1.max }
    }
}

/// Skips samples that fall in deleted intervals.
struct DeletionFilterIterator: SampleIterator {
    private var base: any SampleIterator
    let deleted: Intervals

    init(_ base: any SampleIterator, deleted: Intervals) {
        self.base = base
        self.deleted = deleted
    }

    var timestamp: Int64 { base.timestamp }
    var value: Double { base.value }
    var histogram: FloatHistogram? { base.histogram }

    mutating func next() -> Bool {
        while base.next() {
            if !deleted.contains(base.timestamp) { return true }
        }
        return false
    }

    mutating func seek(_ target: Int64) -> Bool {
        guard base.seek(target) else { return false }
        return deleted.contains(base.timestamp) ? next() : true
    }
}

/// A stored series with deleted intervals hidden.
struct FilteredSeries: StoredSeries {
    let base: any StoredSeries
    let deleted: Intervals

    var labels: Labels { base.labels }

    func makeIterator() -> any SampleIterator {
        DeletionFilterIterator(base.makeIterator(), deleted: deleted)
    }

    var hasSamples: Bool {
        var iterator = makeIterator()
        return iterator.next()
    }
}
