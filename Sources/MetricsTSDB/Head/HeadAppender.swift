import NIOPosix
import ObsCore

/// Collects one batch for the head. `commit` logs new series and the samples to the WAL (fsynced,
/// off the cooperative pool), then applies them to the in-memory series. Owned by one request or
/// scrape at a time.
struct HeadAppender: MetricsAppender {
    let head: Head
    let wal: WAL
    let exemplars: ExemplarStorage
    let counters: StoreCounters
    let gate: CommitGate
    /// Samples in arrival order; `histogram` is a position in `pendingHistograms`, −1 for a float.
    private var pending: [Pending] = []
    private var pendingHistograms: [FloatHistogram] = []
    private var pendingExemplars: [(series: MemSeries, exemplar: Exemplar)] = []
    /// Newest timestamp and its value bits per series in this batch, for ordering checks against
    /// samples not yet in the head. The series being appended to right now is kept in `current`
    /// instead, so a run of samples of one series (how remote write and scrapes arrive) costs no
    /// dictionary or lock traffic after its first sample.
    /// `inOrder` says the newest sample passed the head's in-order check, so anything newer will too.
    private var batchLast = BatchNewest()
    /// Buffered (scrape) appenders skip `batchLast`: a scrape holds each series once, and a series
    /// repeated in one exposition is still caught when the batch is applied (the later sample is
    /// refused there and counted as out of order), in the same order on replay.
    private var tracksBatch: Bool { syncsWAL }
    private var current: (series: MemSeries, newest: Newest)?

    struct Newest {
        var timestamp: Int64
        var bits: UInt64
        var inOrder: Bool
        var isHistogram = false
    }

    struct Pending {
        var series: MemSeries
        var timestamp: Int64
        var value: Double
        var histogram: Int32 = -1
    }

    /// Whether `commit` waits for the WAL to reach the disk (false for buffered appenders).
    let syncsWAL: Bool

    init(head: Head, wal: WAL, exemplars: ExemplarStorage, counters: StoreCounters, gate: CommitGate, syncsWAL: Bool = true) {
        self.gate = gate
        self.head = head
        self.wal = wal
        self.exemplars = exemplars
        self.counters = counters
        self.syncsWAL = syncsWAL
    }

    @discardableResult
    mutating func append(_ labels: Labels, ref: SeriesRef?, timestamp: Int64, value: Double) throws(AppendError) -> SeriesRef {
        try checkBounds(labels, timestamp)
        // Fast path: the next, newer sample of the series appended just before.
        if let ref, let run = current, run.series.ref == ref, run.newest.inOrder, timestamp > run.newest.timestamp {
            pending.append(Pending(series: run.series, timestamp: timestamp, value: value))
            current = (run.series, Newest(timestamp: timestamp, bits: value.bitPattern, inOrder: true))
            return ref
        }
        let series = try resolve(labels, ref: ref)
        let previous = current.flatMap { $0.series === series ? $0.newest : nil } ?? (tracksBatch ? batchLast[series.ref] : nil)
        let floor = head.outOfOrderFloor
        var inOrder = previous?.inOrder ?? false
        if let previous, timestamp <= previous.timestamp {
            if timestamp == previous.timestamp {
                if value.bitPattern == previous.bits && !previous.isHistogram { return series.ref }
                counters.duplicate.inc()
                throw AppendError.duplicateTimestamp(labels: labels, timestamp: timestamp)
            }
            // Older than a sample of this batch: only an out-of-order window can take it; the series
            // decides at commit.
            guard let floor, timestamp >= floor else {
                counters.outOfOrder.inc()
                throw floor == nil ? AppendError.outOfOrder(labels: labels, timestamp: timestamp)
                    : AppendError.tooOld(labels: labels, timestamp: timestamp)
            }
        } else if !(previous?.inOrder ?? false) {
            // A sample newer than an in-order sample of this batch needs no head check: that one
            // already passed it. Anything else asks the series.
            let verdict = series.check(timestamp: timestamp, value: value, outOfOrderFloor: floor)
            try enforce(verdict, labels, timestamp)
            if verdict == .duplicateOK { return series.ref }
            inOrder = verdict == .append
        }
        pending.append(Pending(series: series, timestamp: timestamp, value: value))
        if tracksBatch, let run = current, run.series !== series { batchLast[run.series.ref] = run.newest }
        let candidate = Newest(timestamp: timestamp, bits: value.bitPattern, inOrder: inOrder)
        let newest = previous.map { timestamp > $0.timestamp ? candidate : $0 } ?? candidate
        current = (series, newest)
        return series.ref
    }

    // `enforce` and `resolve` are mutating only so that they take `self` by address: as plain
    // methods called from the mutating `append`, the compiler copied the whole appender per call.

    /// Refuses samples older than the head takes, and times so far out that block ranges and
    /// compaction arithmetic on them would overflow.
    private func checkBounds(_ labels: Labels, _ timestamp: Int64) throws(AppendError) {
        guard abs(timestamp) <= CheckedTime.maxMilliseconds else {
            counters.tooOld.inc()
            throw AppendError.outOfRange(labels: labels, timestamp: timestamp)
        }
        if timestamp < head.minValidTime {
            counters.tooOld.inc()
            throw AppendError.tooOld(labels: labels, timestamp: timestamp)
        }
    }

    /// Counts and throws the error of a verdict that refuses the sample.
    private mutating func enforce(_ verdict: MemSeries.Verdict, _ labels: Labels, _ timestamp: Int64) throws(AppendError) {
        switch verdict {
        case .append, .appendOutOfOrder, .duplicateOK:
            return
        case .outOfOrder:
            counters.outOfOrder.inc()
            throw AppendError.outOfOrder(labels: labels, timestamp: timestamp)
        case .tooOld:
            counters.tooOld.inc()
            throw AppendError.tooOld(labels: labels, timestamp: timestamp)
        case .duplicateConflict:
            counters.duplicate.inc()
            throw AppendError.duplicateTimestamp(labels: labels, timestamp: timestamp)
        }
    }

    private mutating func resolve(_ labels: Labels, ref: SeriesRef?) throws(AppendError) -> MemSeries {
        if let ref, let run = current, run.series.ref == ref { return run.series }
        // References are never reused, so a known reference is the series it names.
        if let ref, let known = head.series(ref: ref) { return known }
        guard !labels.isEmpty else { throw AppendError.invalidLabels(labels: labels, reason: "empty label set") }
        return head.getOrCreate(labels).series
    }

    @discardableResult
    mutating func appendHistogram(_ labels: Labels, ref: SeriesRef?, timestamp: Int64,
                                  histogram: FloatHistogram) throws(AppendError) -> SeriesRef {
        try checkBounds(labels, timestamp)
        let series = try resolve(labels, ref: ref)
        let previous = current.flatMap { $0.series === series ? $0.newest : nil } ?? (tracksBatch ? batchLast[series.ref] : nil)
        if let previous, timestamp <= previous.timestamp {
            if timestamp == previous.timestamp {
                counters.duplicate.inc()
                throw AppendError.duplicateTimestamp(labels: labels, timestamp: timestamp)
            }
            counters.outOfOrder.inc()
            throw AppendError.outOfOrder(labels: labels, timestamp: timestamp)
        }
        if !(previous?.inOrder ?? false) {
            let verdict = series.checkHistogram(timestamp: timestamp, histogram: histogram, outOfOrderFloor: head.outOfOrderFloor)
            try enforce(verdict, labels, timestamp)
            if verdict == .duplicateOK { return series.ref }
        }
        pending.append(Pending(series: series, timestamp: timestamp, value: 0, histogram: Int32(pendingHistograms.count)))
        pendingHistograms.append(histogram)
        if tracksBatch, let run = current, run.series !== series { batchLast[run.series.ref] = run.newest }
        current = (series, Newest(timestamp: timestamp, bits: 0, inOrder: true, isHistogram: true))
        return series.ref
    }

    mutating func appendExemplar(_ ref: SeriesRef, _ exemplar: Exemplar) throws(AppendError) {
        guard exemplars.capacity > 0 else { return }
        guard let series = current.flatMap({ $0.series.ref == ref ? $0.series : nil }) ?? head.series(ref: ref) else {
            throw AppendError.invalidExemplar(labels: exemplar.labels, reason: "unknown series reference \(ref)")
        }
        guard exemplar.labelSetLength <= Exemplar.maxLabelSetLength else {
            throw AppendError.invalidExemplar(labels: exemplar.labels,
                                              reason: "exemplar label set is longer than \(Exemplar.maxLabelSetLength) characters")
        }
        guard abs(exemplar.timestamp) <= CheckedTime.maxMilliseconds, !exemplar.labels.contains(where: { $0.name.isEmpty }) else {
            throw AppendError.invalidExemplar(labels: exemplar.labels, reason: "timestamp out of range or empty label name")
        }
        pendingExemplars.append((series, exemplar))
    }

    mutating func commit() async throws {
        guard !pending.isEmpty || !pendingExemplars.isEmpty else { return }
        try gate.enter()
        defer { gate.leave() }
        var batch = pending
        var first = true
        var appended = 0
        var lateSeries = 0
        var oldest = Int64.max, newest = Int64.min
        // Usually one pass. A series that head truncation dropped while this batch was being built
        // gets a new series in the head, and its samples are logged again under the new reference
        // before anything is acknowledged.
        while !batch.isEmpty || first {
            let newSeries = try await log(batch, exemplars: first ? pendingExemplars : [])
            first = false
            lateSeries += newSeries
            var retry: [Pending] = []
            let floor = head.outOfOrderFloor
            for entry in batch {
                let result = entry.histogram < 0
                    ? entry.series.appendChecked(timestamp: entry.timestamp, value: entry.value, outOfOrderFloor: floor)
                    : entry.series.appendHistogramChecked(timestamp: entry.timestamp,
                                                          histogram: pendingHistograms[Int(entry.histogram)])
                switch result {
                case .appended:
                    appended += 1
                    oldest = min(oldest, entry.timestamp)
                    newest = max(newest, entry.timestamp)
                case .rejected: counters.outOfOrder.inc()  // a concurrent writer got there first
                case .removed:
                    var moved = entry
                    moved.series = head.getOrCreate(entry.series.labels).series
                    retry.append(moved)
                }
            }
            batch = retry
        }
        if appended > 0 { head.noteSamples(oldest: oldest, newest: newest) }
        for (series, exemplar) in pendingExemplars { exemplars.add(series.labels, exemplar) }
        counters.samplesAppended.inc(Double(appended))
        counters.seriesCreated.inc(Double(lateSeries))
        rollback()
    }

    /// Writes the series records of not-yet-logged series and the samples to the WAL; returns how
    /// many series records were written.
    private func log(_ batch: [Pending], exemplars: [(series: MemSeries, exemplar: Exemplar)]) async throws -> Int {
        var newSeries: [(ref: SeriesRef, labels: Labels)] = []
        var seen = Set<SeriesRef>()
        let referenced = batch.lazy.map(\.series) + exemplars.lazy.map(\.series)
        for series in referenced where !series.logged.load(ordering: .acquiring) && seen.insert(series.ref).inserted {
            newSeries.append((series.ref, series.labels))
        }
        var records: [WALRecord] = []
        if !newSeries.isEmpty { records.append(.series(newSeries)) }
        // Floats and histograms go into separate records, cut where the kind changes so that replay
        // applies them in arrival order.
        var start = 0
        while start < batch.count {
            let isHistogram = batch[start].histogram >= 0
            var end = start + 1
            while end < batch.count && (batch[end].histogram >= 0) == isHistogram { end += 1 }
            let run = batch[start..<end]
            if isHistogram {
                records.append(.histograms(run.map {
                    WALHistogram(ref: $0.series.ref, timestamp: $0.timestamp, histogram: pendingHistograms[Int($0.histogram)])
                }))
            } else {
                records.append(.samples(run.map { WALSample(ref: $0.series.ref, timestamp: $0.timestamp, value: $0.value) }))
            }
            start = end
        }
        // After the samples, so replay finds the series they belong to.
        if !exemplars.isEmpty {
            records.append(.exemplars(exemplars.map { WALExemplar(ref: $0.series.ref, exemplar: $0.exemplar) }))
        }
        let wal = self.wal
        let frozen = records
        if syncsWAL {
            try await NIOThreadPool.singleton.runIfActive { try wal.log(frozen) }
        } else {
            // A write to the page cache: quick enough to stay on this thread.
            try wal.log(frozen, sync: false)
        }
        for series in referenced { series.logged.store(true, ordering: .releasing) }
        return newSeries.count
    }

    mutating func rollback() {
        pending.removeAll(keepingCapacity: true)
        pendingHistograms.removeAll()
        pendingExemplars.removeAll()
        batchLast.removeAll()
        current = nil
    }
}
