import Logging
import ObsCore

/// The head snapshot taken on close (Prometheus's `memory-snapshot-on-shutdown`, always on): a
/// checkpoint holding every series with its chunks as they are in memory, so the next start reads
/// encoded chunks instead of re-encoding the WAL's samples, and the WAL it replaces is gone from the
/// disk. A crash never takes one: `kill -9` leaves the WAL and the replay as they always were.
extension MetricsStore {
    /// Series per record, and the chunk bytes a head-chunks record collects before the next one
    /// starts: records stay far below the WAL's payload limit and are read one at a time.
    static let snapshotSeriesPerRecord = 4096
    static let snapshotRecordBytes = 1 << 20

    /// Writes the snapshot checkpoint over the whole WAL, keeping segments that WAL readers (the
    /// forwarding queues) still need. Commits must be stopped. Blocking.
    func writeHeadSnapshot() throws {
        try withCompactionLock {
            let clock = ContinuousClock()
            let began = clock.now
            let series = head.allSeries().sorted { $0.ref < $1.ref }
            var records: [WALRecord] = []
            var batch: [(ref: SeriesRef, labels: Labels)] = []
            for entry in series {
                batch.append((entry.ref, entry.labels))
                if batch.count == Self.snapshotSeriesPerRecord {
                    records.append(.series(batch))
                    batch = []
                }
            }
            if !batch.isEmpty { records.append(.series(batch)) }
            var chunks: [WALSeriesChunks] = []
            var bytes = 0
            var samples = 0
            for entry in series {
                let state = entry.snapshot()
                let held = state.sampleCount
                guard held > 0 else { continue }
                samples += held
                bytes += state.closed.reduce(0) { $0 + $1.bytes.count } + (state.open?.bits.count ?? 0) + 16 * state.outOfOrder.count
                chunks.append(state)
                if bytes >= Self.snapshotRecordBytes {
                    records.append(.headChunks(chunks))
                    chunks = []
                    bytes = 0
                }
            }
            if !chunks.isEmpty { records.append(.headChunks(chunks)) }
            let minTime = head.minValidTime
            let retained = try walCheckpointLimit().map { $0 + 1 }
            try wal.checkpoint(leading: records, retaining: retained) { record in
                // Only exemplars come from the old records: everything else is in the snapshot.
                guard case let .exemplars(batch) = record else { return nil }
                let kept = batch.filter { $0.exemplar.timestamp >= minTime && head.series(ref: $0.ref) != nil }
                return kept.isEmpty ? nil : .exemplars(kept)
            }
            logger.info("Head snapshot written", metadata: [
                "series": "\(series.count)", "samples": "\(samples)", "duration": "\(clock.now - began)",
            ])
        }
    }

    /// Restores the series of one head-chunks record (WAL replay); returns the samples taken and
    /// those of series the replay does not know.
    static func restore(_ entries: [WALSeriesChunks], table: RefTable, head: Head) -> (samples: Int, unknown: Int) {
        var samples = 0, unknown = 0
        let minValid = head.minValidTime
        for entry in entries {
            guard let series = table[entry.ref] else {
                unknown += entry.sampleCount
                continue
            }
            guard let span = series.restore(entry, minValid: minValid, outOfOrderFloor: head.outOfOrderFloor) else { continue }
            head.noteSamples(oldest: span.oldest, newest: span.newest)
            samples += span.count
        }
        return (samples, unknown)
    }
}
