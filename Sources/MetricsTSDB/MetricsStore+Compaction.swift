import Logging
import ObsCore
import Synchronization

/// Cutting the head into blocks, merging blocks, retention.
extension MetricsStore {
    /// Cuts the head into blocks while it spans more than one and a half block ranges, checkpoints the
    /// WAL, and applies retention. Blocking; safe to call concurrently with appends and queries.
    /// Returns the number of blocks written.
    @discardableResult
    public func compact() throws -> Int {
        // Buffered (scrape) commits reach the disk at least this often.
        try wal.syncBuffered()
        return try withCompactionLock {
            var written = 0
            while head.maySpan(options.blockRange * 3 / 2), let bounds = head.timeBounds(),
                  bounds.max - bounds.min >= options.blockRange * 3 / 2 {
                let start = Self.floor(bounds.min, options.blockRange)
                let end = start + options.blockRange
                try persistHead(from: start, to: end)
                written += 1
            }
            if written > 0 {
                let removed = head.truncate(before: head.minValidTime)
                try wal.checkpoint(keep: { head.series(ref: $0) != nil }, minTime: head.minValidTime, through: try walCheckpointLimit())
                logger.info("Head compacted", metadata: [
                    "blocks": "\(written)", "series_removed": "\(removed)", "head_series": "\(head.seriesCount)",
                ])
            }
            written += try mergeBlocks()
            try applyRetention()
            return written
        }
    }

    /// The last segment a checkpoint may take: the one before the oldest a WAL reader still needs,
    /// unless the segments kept for readers are over the backlog limits (then all, counted).
    func walCheckpointLimit() throws -> Int? {
        guard let floor = walReaders.withLock({ $0.values.min() }) else { return nil }
        let segments = try wal.segments()
        let held = segments.filter { $0 >= floor }
        guard !held.isEmpty else { return nil }
        let bytes = held.reduce(0) { $0 + FileIO.fileSize(wal.path(ofSegment: $1)) }
        let age = FileIO.modificationTime(wal.path(ofSegment: held[0])).map { WallClock.milliseconds() - $0 } ?? 0
        if bytes > options.maxWALBacklogBytes || age > options.maxWALBacklogAge {
            let dropped = segments.filter { $0 >= floor && $0 < wal.currentSegment }.count
            counters.walBacklogDropped.inc(Double(dropped))
            logger.warning("WAL kept for forwarding is over its limit; unsent samples are dropped", metadata: [
                "bytes": "\(bytes)", "age_ms": "\(age)", "segments": "\(dropped)",
            ])
            return nil
        }
        return floor - 1
    }

    /// Merges blocks while a plan exists; returns the number of merged blocks written.
    func mergeBlocks() throws -> Int {
        let ranges = BlockCompactor.ranges(base: options.blockRange, maximum: options.effectiveMaxBlockRange)
        var written = 0
        while let group = BlockCompactor.plan(blocks.withLock { $0 }, ranges: ranges, before: head.minValidTime) {
            let id = BlockID.make(milliseconds: UInt64(max(0, WallClock.milliseconds())))
            let meta = try BlockCompactor.merge(group, into: blocksDirectory, id: id)
            try replace(group, with: meta)
            counters.blocksMerged.inc()
            logger.info("Blocks merged", metadata: [
                "ulid": "\(meta.ulid)", "sources": "\(group.count)", "level": "\(meta.compaction.level)",
                "mint": "\(meta.minTime)", "maxt": "\(meta.maxTime)",
            ])
            written += 1
        }
        return written
    }

    /// Writes the head's samples in `[start, end)` as a block and moves the head's lower bound to `end`.
    func persistHead(from start: Int64, to end: Int64) throws {
        let clock = ContinuousClock()
        let began = clock.now
        let id = BlockID.make(milliseconds: UInt64(max(0, WallClock.milliseconds())))
        let writer = try BlockWriter(parent: blocksDirectory, minTime: start, maxTime: end, level: 1, sources: [], id: id)
        for series in head.allSeries().sorted(by: { $0.labels < $1.labels }) {
            let (chunks, samples) = series.encodedChunks(minTime: start, maxTime: end)
            try writer.add(series.labels, chunks: chunks, sampleCount: samples)
        }
        if writer.isEmpty {
            try writer.discard()
        } else {
            let meta = try writer.finish()
            let block = try Block(directory: blocksDirectory + "/" + meta.ulid)
            blocks.withLock { $0.append(block); $0.sort { $0.meta.minTime < $1.meta.minTime } }
            counters.blocksWritten.inc()
            logger.info("Block written", metadata: [
                "ulid": "\(meta.ulid)", "mint": "\(start)", "maxt": "\(end)", "series": "\(meta.stats.numSeries)",
                "samples": "\(meta.stats.numSamples)", "duration": "\(clock.now - began)",
            ])
        }
        head.setMinValidTime(end)
    }

    func withCompactionLock<T>(_ body: () throws -> T) throws -> T {
        try compactionLock.withLock { _ in try body() }
    }

    /// Swaps `old` blocks for the freshly written block `meta`, then deletes the old directories;
    /// the new block is in place first, so a crash in between loses nothing.
    func replace(_ old: [Block], with meta: BlockMeta) throws {
        let fresh = try Block(directory: blocksDirectory + "/" + meta.ulid)
        let replaced = Set(old.map(\.meta.ulid))
        blocks.withLock { list in
            list.removeAll { replaced.contains($0.meta.ulid) }
            list.append(fresh)
            list.sort { $0.meta.minTime < $1.meta.minTime }
        }
        for block in old { try FileIO.removeTree(block.directory) }
    }

    /// Deletes whole blocks past the retention time or beyond the retention size, oldest first.
    func applyRetention() throws {
        let current = blocks.withLock { $0 }
        guard !current.isEmpty else { return }
        var doomed = Set<String>()
        if let retention = options.retentionTime {
            let newest = max(current.last!.meta.maxTime, head.timeBounds()?.max ?? .min)
            for block in current where block.meta.maxTime <= newest - retention { doomed.insert(block.meta.ulid) }
        }
        if let limit = options.retentionSize {
            var total = Int64(current.reduce(0) { $0 + $1.sizeInBytes }) + Int64(wal.sizeInBytes())
            for block in current where total > limit {
                doomed.insert(block.meta.ulid)
                total -= Int64(block.sizeInBytes)
            }
        }
        guard !doomed.isEmpty else { return }
        blocks.withLock { $0.removeAll { doomed.contains($0.meta.ulid) } }
        for block in current where doomed.contains(block.meta.ulid) {
            // Queries still holding the block keep their memory maps; the files go with the last one.
            try FileIO.removeTree(block.directory)
            counters.blocksDeleted.inc()
            logger.info("Block deleted by retention", metadata: ["ulid": "\(block.meta.ulid)"])
        }
    }

    static func floor(_ value: Int64, _ step: Int64) -> Int64 {
        let quotient = value / step
        return (value % step != 0 && value < 0 ? quotient - 1 : quotient) * step
    }
}
