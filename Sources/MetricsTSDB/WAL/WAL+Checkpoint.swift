import ObsCore

/// The metrics write-ahead log: the shared record log holding `WALRecord`s.
typealias WAL = RecordLog<WALRecord>

extension RecordLog where Record == WALRecord {
    /// Checkpoints what the head still needs: series records for which `keep` is true, their
    /// samples at or after `minTime` and their deletions, in the original order. Blocking.
    func checkpoint(keep: (SeriesRef) -> Bool, minTime: Int64, through limit: Int? = nil) throws {
        var seen = Set<SeriesRef>()
        try checkpoint(through: limit) { record -> WALRecord? in
            switch record {
            case let .series(entries):
                let kept = entries.filter { keep($0.ref) && seen.insert($0.ref).inserted }
                return kept.isEmpty ? nil : .series(kept)
            case let .samples(batch):
                let kept = batch.filter { $0.timestamp >= minTime && keep($0.ref) }
                return kept.isEmpty ? nil : .samples(kept)
            case let .histograms(batch):
                let kept = batch.filter { $0.timestamp >= minTime && keep($0.ref) }
                return kept.isEmpty ? nil : .histograms(kept)
            case let .exemplars(batch):
                let kept = batch.filter { $0.exemplar.timestamp >= minTime && keep($0.ref) }
                return kept.isEmpty ? nil : .exemplars(kept)
            case let .deletions(entries):
                let kept = entries.filter { $0.maxTime >= minTime && keep($0.ref) }
                return kept.isEmpty ? nil : .deletions(kept)
            case let .headChunks(entries):
                let kept = entries.compactMap { keep($0.ref) ? $0.keeping(from: minTime) : nil }
                return kept.isEmpty ? nil : .headChunks(kept)
            }
        }
    }
}
