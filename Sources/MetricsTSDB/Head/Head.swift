import ObsCore
import Synchronization

/// The in-memory part of the store: every series with its chunks, and an inverted index from
/// label name and value to series. Thread-safe: series lookups are striped by label hash; the
/// index has its own lock, taken on series creation and by queries.
final class Head: Sendable {
    private static let stripeCount = 64

    /// One lock per slice of the label-hash space, so concurrent appends rarely contend.
    final class Stripe: Sendable {
        let table = Mutex<[UInt64: [MemSeries]]>([:])
    }

    private let stripes: [Stripe]
    private let index = Mutex(PostingsIndex())
    /// Series by reference for appends that bring one: an array lookup under its own lock, so the
    /// append path neither hashes nor contends with index users.
    private let byRef = Mutex(RefTable())
    private let nextRef = Atomic<UInt64>(1)
    private let strings = StringInterner()
    /// Samples before this time belong to persisted blocks: appends below it are out of bounds and
    /// queries ignore any that linger in partly truncated chunks.
    private let minValid = Atomic<Int64>(.min)
    /// Newest sample time appended so far, the reference point of the out-of-order window.
    private let maxSeen = Atomic<Int64>(.min)
    /// Oldest sample time appended so far (never raised by truncation): with `maxSeen`, an upper
    /// bound of the head's span that costs nothing to read.
    private let minSeen = Atomic<Int64>(.max)
    /// Out-of-order window in milliseconds; 0 rejects every sample older than its series' newest.
    private let outOfOrderWindow = Atomic<Int64>(0)

    init() {
        stripes = (0..<Self.stripeCount).map { _ in Stripe() }
    }

    /// The series with `labels`, created if new (then `created` is true).
    func getOrCreate(_ labels: Labels) -> (series: MemSeries, created: Bool) {
        insert(labels) { MemSeries(ref: nextRef.wrappingAdd(1, ordering: .relaxed).oldValue, labels: $0) }
    }

    /// Recreates a series read back from the WAL with its original reference.
    func restore(ref: SeriesRef, labels: Labels) -> MemSeries {
        let (series, created) = insert(labels) { MemSeries(ref: ref, labels: $0) }
        if created {
            // Keep new references above every restored one.
            var current = nextRef.load(ordering: .relaxed)
            while current <= ref {
                let (exchanged, original) = nextRef.compareExchange(
                    expected: current, desired: ref + 1, successOrdering: .relaxed, failureOrdering: .relaxed)
                if exchanged { break }
                current = original
            }
        }
        series.logged.store(true, ordering: .relaxed)
        return series
    }

    /// Finds the series with `labels` in its stripe or adds the one `make` builds, indexing it.
    private func insert(_ labels: Labels, make: (Labels) -> MemSeries) -> (series: MemSeries, created: Bool) {
        let hash = labels.stableHash
        let stripe = stripes[Int(hash % UInt64(Self.stripeCount))]
        let (series, created) = stripe.table.withLock { table -> (MemSeries, Bool) in
            if let bucket = table[hash] {
                for existing in bucket where existing.labels == labels { return (existing, false) }
            }
            let series = make(strings.intern(labels))
            table[hash, default: []].append(series)
            return (series, true)
        }
        if created {
            index.withLock { $0.add(series) }
            byRef.withLock { $0[series.ref] = series }
        }
        return (series, created)
    }

    var minValidTime: Int64 { minValid.load(ordering: .acquiring) }

    func setOutOfOrderWindow(_ milliseconds: Int64) {
        outOfOrderWindow.store(max(0, milliseconds), ordering: .relaxed)
    }

    /// The oldest time an out-of-order sample may have now, or `nil` when the window is off.
    /// Never below the head's lower bound: older data lives in blocks.
    var outOfOrderFloor: Int64? {
        let window = outOfOrderWindow.load(ordering: .relaxed)
        guard window > 0 else { return nil }
        let newest = maxSeen.load(ordering: .relaxed)
        return max(minValidTime, newest == .min ? .min : newest &- window)
    }

    func noteSample(at time: Int64) {
        noteSamples(oldest: time, newest: time)
    }

    /// Records the time range of samples just added to the head.
    func noteSamples(oldest: Int64, newest: Int64) {
        var current = maxSeen.load(ordering: .relaxed)
        while newest > current {
            let (exchanged, original) = maxSeen.compareExchange(
                expected: current, desired: newest, successOrdering: .relaxed, failureOrdering: .relaxed)
            if exchanged { break }
            current = original
        }
        current = minSeen.load(ordering: .relaxed)
        while oldest < current {
            let (exchanged, original) = minSeen.compareExchange(
                expected: current, desired: oldest, successOrdering: .relaxed, failureOrdering: .relaxed)
            if exchanged { break }
            current = original
        }
    }

    /// Whether the head may span at least `range` milliseconds. A false answer is certain and
    /// free; a true one is confirmed with `timeBounds()`, which visits every series.
    func maySpan(_ range: Int64) -> Bool {
        let newest = maxSeen.load(ordering: .relaxed), oldest = minSeen.load(ordering: .relaxed)
        guard newest != .min, oldest != .max else { return false }
        // Checked: samples replayed from an older WAL may predate the appender's bounds.
        let (span, overflow) = newest.subtractingReportingOverflow(max(oldest, minValidTime))
        return overflow || span >= range
    }

    func setMinValidTime(_ time: Int64) {
        minValid.store(time, ordering: .releasing)
    }

    /// Every series, for block writing and statistics.
    func allSeries() -> [MemSeries] {
        index.withLock { Array($0.series.values) }
    }

    /// The oldest and newest sample times in memory at or after the valid bound; `nil` when empty.
    func timeBounds() -> (min: Int64, max: Int64)? {
        var low = Int64.max, high = Int64.min
        for series in allSeries() {
            guard let first = series.firstTime else { continue }
            low = min(low, max(first, minValidTime))
            high = max(high, series.lastTime)
        }
        return low <= high ? (low, high) : nil
    }

    /// Drops chunks before `time` and forgets series left without data. Returns the number of
    /// series removed.
    @discardableResult
    func truncate(before time: Int64) -> Int {
        setMinValidTime(max(minValidTime, time))
        var removed = 0
        for series in allSeries() where series.truncate(before: time) {
            let hash = series.labels.stableHash
            stripes[Int(hash % UInt64(Self.stripeCount))].table.withLock { table in
                table[hash]?.removeAll { $0 === series }
                if table[hash]?.isEmpty == true { table[hash] = nil }
            }
            index.withLock { $0.remove(series) }
            byRef.withLock { $0[series.ref] = nil }
            removed += 1
        }
        if removed > 0 { strings.retain(only: allSeries().map(\.labels)) }
        return removed
    }

    func series(ref: SeriesRef) -> MemSeries? {
        byRef.withLock { $0[ref] }
    }

    var seriesCount: Int { index.withLock { $0.series.count } }

    /// Runs `body` with the index locked; for queries, which must not keep references to it.
    func withIndex<T>(_ body: (PostingsIndex) throws -> T) rethrows -> T {
        try index.withLock { try body($0) }
    }
}
