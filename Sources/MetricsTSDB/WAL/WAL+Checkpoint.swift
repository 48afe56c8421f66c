import ObsCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension WAL {
    /// Replaces every closed segment (and the previous checkpoint) with one checkpoint holding only
    /// what the head still needs: series records for which `keep` is true, their samples at or after
    /// `minTime` and their deletions, in the original order. Appends continue meanwhile in a fresh
    /// segment. Records stream from the sources to the checkpoint file, so memory stays at one record
    /// whatever the size of the WAL. Blocking.
    func checkpoint(keep: (SeriesRef) -> Bool, minTime: Int64) throws {
        let current = writer.withLock { $0.segment }
        try openSegment(number: current + 1)
        let previous = try checkpoints().last
        var sources: [String] = previous.map { [path(ofCheckpoint: $0)] } ?? []
        let closed = try segments().filter { $0 <= current && $0 > (previous ?? 0) }
        sources += closed.map(path(ofSegment:))

        let checkpoint = try AtomicFileWriter(path: path(ofCheckpoint: current))
        try checkpoint.write(Self.magic)
        var seen = Set<SeriesRef>()
        for source in sources {
            // Closed segments were replayed (and cut if damaged) before; keep what reads cleanly.
            _ = try Self.read(source) { record in
                switch record {
                case let .series(entries):
                    let kept = entries.filter { keep($0.ref) && seen.insert($0.ref).inserted }
                    if !kept.isEmpty { try checkpoint.write(Self.frame(.series(kept))) }
                case let .samples(batch):
                    let kept = batch.filter { $0.timestamp >= minTime && keep($0.ref) }
                    if !kept.isEmpty { try checkpoint.write(Self.frame(.samples(kept))) }
                case let .histograms(batch):
                    let kept = batch.filter { $0.timestamp >= minTime && keep($0.ref) }
                    if !kept.isEmpty { try checkpoint.write(Self.frame(.histograms(kept))) }
                case let .deletions(entries):
                    let kept = entries.filter { $0.maxTime >= minTime && keep($0.ref) }
                    if !kept.isEmpty { try checkpoint.write(Self.frame(.deletions(kept))) }
                }
            }
        }
        try checkpoint.commit()
        for number in closed { unlink(path(ofSegment: number)) }
        if let previous { unlink(path(ofCheckpoint: previous)) }
        try FileIO.syncDirectory(directory)
    }
}
