import ObsCore

/// Follows the metrics WAL as it is written, the way Prometheus's remote-write queue reads its WAL:
/// series records build a reference-to-labels table, sample and exemplar records after the
/// position come out in chunks. Used by one task at a time; file reads block.
public final class WALFollower: WALReader, @unchecked Sendable {
    private let wal: WAL
    private var series: [SeriesRef: Labels] = [:]
    public private(set) var position: WALPosition

    /// Starts at `position`, or at the start of the segment being written (the data logged since
    /// this start of the store) when there is none. Reads the series of the checkpoint and of every
    /// segment up to the position first. Blocking.
    public init(store: MetricsStore, from start: WALPosition?) throws {
        wal = store.wal
        position = start ?? WALPosition(segment: store.wal.currentSegment, offset: 0)
        if let checkpoint = try wal.checkpoints().last {
            _ = try WAL.read(wal.path(ofCheckpoint: checkpoint)) { self.learn($0) }
        }
        for segment in try wal.segments() where segment <= position.segment {
            _ = try WAL.read(wal.path(ofSegment: segment), from: 0) { record, end in
                if segment < self.position.segment || end <= self.position.offset { self.learn(record) }
            }
        }
    }

    private func learn(_ record: WALRecord) {
        if case let .series(entries) = record {
            for entry in entries where series[entry.ref] == nil { series[entry.ref] = entry.labels }
        }
    }

    private struct Full: Error {}

    /// The records after the position, whole records until at least `maxSamples` samples are
    /// in (or the end of what is written); moves the position past them. Blocking.
    public func read(maxSamples: Int) throws -> WALChunk {
        var chunk = WALChunk(end: position)
        var count = 0
        while count < maxSamples {
            let segments = try wal.segments()
            guard let first = segments.first else { break }
            if position.segment < first {
                // Removed by the store's backlog limit before this reader reached it.
                chunk.lostSegments += first - position.segment
                position = WALPosition(segment: first, offset: 0)
            }
            guard segments.contains(position.segment) else {
                // A segment number the store skipped: go on with the next one that exists.
                guard let next = segments.first(where: { $0 > position.segment }) else { break }
                position = WALPosition(segment: next, offset: 0)
                continue
            }
            let path = wal.path(ofSegment: position.segment)
            var reached = position.offset
            let stop: (offset: Int, reason: String)?
            do {
                stop = try WAL.read(path, from: position.offset) { record, end in
                    switch record {
                    case .series:
                        self.learn(record)
                    case let .samples(batch):
                        for sample in batch {
                            guard let labels = self.series[sample.ref] else {
                                chunk.unknownSeries += 1
                                continue
                            }
                            chunk.samples.append((sample.ref, labels, sample.timestamp, sample.value))
                        }
                        count += batch.count
                    case let .histograms(batch):
                        for sample in batch {
                            guard let labels = self.series[sample.ref] else {
                                chunk.unknownSeries += 1
                                continue
                            }
                            chunk.histograms.append((sample.ref, labels, sample.timestamp, sample.histogram))
                        }
                        count += batch.count
                    case let .exemplars(batch):
                        for entry in batch {
                            if let labels = self.series[entry.ref] { chunk.exemplars.append((labels, entry.exemplar)) }
                        }
                    case .deletions, .headChunks:
                        // Snapshots hold samples already read from the segments they replaced.
                        break
                    }
                    reached = end
                    if count >= maxSamples { throw Full() }
                }
            } catch is Full {
                position.offset = reached
                break
            }
            position.offset = reached
            let newer = segments.contains { $0 > position.segment }
            if let stop, stop.reason != "torn record" || newer {
                // Damage in a closed segment: what follows it there is lost, as on replay.
                if newer {
                    chunk.damagedBytes += max(0, FileIO.fileSize(path) - stop.offset)
                } else {
                    break
                }
            } else if stop != nil {
                // The end of the segment being written: the rest is still on its way.
                break
            }
            guard newer else { break }
            position = WALPosition(segment: segments.first { $0 > position.segment }!, offset: 0)
        }
        chunk.end = position
        return chunk
    }
}

extension MetricsStore: WALSource {
    public func follow(from position: WALPosition?) throws -> any WALReader {
        try WALFollower(store: self, from: position)
    }

    public func oldestPosition() throws -> WALPosition {
        WALPosition(segment: try wal.segments().first ?? wal.currentSegment, offset: 0)
    }
}
