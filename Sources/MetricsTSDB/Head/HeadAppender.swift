import NIOPosix
import ObsCore

/// Collects one batch for the head. `commit` logs new series and the samples to the WAL (fsynced,
/// off the cooperative pool), then applies them to the in-memory series. Owned by one request or
/// scrape at a time.
struct HeadAppender: MetricsAppender {
    let head: Head
    let wal: WAL
    let counters: StoreCounters
    private var pending: [(series: MemSeries, timestamp: Int64, value: Double)] = []
    /// Last timestamp and value bits appended per series in this batch, for ordering checks
    /// against samples not yet in the head.
    private var batchLast: [SeriesRef: (timestamp: Int64, bits: UInt64)] = [:]
    /// The series of the previous append: consecutive samples of one series (the common case for
    /// remote write and scrapes) skip the index lookup and its lock.
    private var lastSeries: MemSeries?

    init(head: Head, wal: WAL, counters: StoreCounters) {
        self.head = head
        self.wal = wal
        self.counters = counters
    }

    @discardableResult
    mutating func append(_ labels: Labels, ref: SeriesRef?, timestamp: Int64, value: Double) throws(AppendError) -> SeriesRef {
        let series: MemSeries
        if let ref, let last = lastSeries, last.ref == ref {
            series = last
        } else if let ref, let known = head.series(ref: ref), known.labels == labels {
            series = known
        } else {
            guard !labels.isEmpty else { throw AppendError.invalidLabels(labels: labels, reason: "empty label set") }
            series = head.getOrCreate(labels).series
        }
        if let last = batchLast[series.ref] {
            if timestamp < last.timestamp {
                counters.outOfOrder.inc()
                throw AppendError.outOfOrder(labels: labels, timestamp: timestamp)
            }
            if timestamp == last.timestamp {
                if value.bitPattern == last.bits { return series.ref }
                counters.duplicate.inc()
                throw AppendError.duplicateTimestamp(labels: labels, timestamp: timestamp)
            }
        } else {
            switch series.check(timestamp: timestamp, value: value) {
            case .append: break
            case .duplicateOK: return series.ref
            case .outOfOrder:
                counters.outOfOrder.inc()
                throw AppendError.outOfOrder(labels: labels, timestamp: timestamp)
            case .duplicateConflict:
                counters.duplicate.inc()
                throw AppendError.duplicateTimestamp(labels: labels, timestamp: timestamp)
            }
        }
        batchLast[series.ref] = (timestamp, value.bitPattern)
        pending.append((series, timestamp, value))
        lastSeries = series
        return series.ref
    }

    mutating func commit() async throws {
        guard !pending.isEmpty else { return }
        var newSeries: [(ref: SeriesRef, labels: Labels)] = []
        var seen = Set<SeriesRef>()
        for entry in pending where !entry.series.logged.load(ordering: .acquiring) && seen.insert(entry.series.ref).inserted {
            newSeries.append((entry.series.ref, entry.series.labels))
        }
        var records: [WALRecord] = []
        if !newSeries.isEmpty { records.append(.series(newSeries)) }
        records.append(.samples(pending.map { WALSample(ref: $0.series.ref, timestamp: $0.timestamp, value: $0.value) }))
        let wal = self.wal
        let batch = records
        try await NIOThreadPool.singleton.runIfActive { try wal.log(batch) }
        for entry in pending {
            entry.series.logged.store(true, ordering: .releasing)
        }
        var appended = 0
        for entry in pending where entry.series.append(timestamp: entry.timestamp, value: entry.value) {
            appended += 1
        }
        // A concurrent writer of the same series may have committed a later sample in between.
        if appended < pending.count { counters.outOfOrder.inc(Double(pending.count - appended)) }
        counters.samplesAppended.inc(Double(appended))
        counters.seriesCreated.inc(Double(newSeries.count))
        rollback()
    }

    mutating func rollback() {
        pending.removeAll(keepingCapacity: true)
        batchLast.removeAll(keepingCapacity: true)
        lastSeries = nil
    }
}
