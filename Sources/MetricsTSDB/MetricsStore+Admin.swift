import NIOPosix
import ObsCore

/// The admin operations of Prometheus's TSDB API: deleting series, cleaning tombstones, snapshots.
extension MetricsStore {
    /// Deletes the samples of matching series in `[minTime, maxTime]`. Head series are rewritten at
    /// once and the deletion is logged to the WAL; blocks get tombstones that hide the samples until
    /// `cleanTombstones` rewrites them.
    public func deleteSeries(_ matchers: [LabelMatcher], minTime: Int64, maxTime: Int64) async throws {
        try await NIOThreadPool.singleton.runIfActive { [self] in
            try withCompactionLock {
                let refs = head.withIndex { $0.select(matchers) }
                let targets = refs.compactMap(head.series(ref:))
                if !targets.isEmpty {
                    try wal.log([.deletions(targets.map { ($0.ref, minTime, maxTime) })])
                    let deleted = Intervals([(minTime, maxTime)])
                    for series in targets { series.delete(deleted) }
                }
                for block in blockList where block.meta.maxTime > minTime && block.meta.minTime <= maxTime {
                    let ordinals = try block.select(matchers)
                    guard !ordinals.isEmpty else { continue }
                    var added: [UInt32: Intervals] = [:]
                    for ordinal in ordinals { added[ordinal] = Intervals([(minTime, maxTime)]) }
                    try block.addTombstones(added)
                }
                logger.info("Series deleted", metadata: [
                    "matchers": "\(matchers)", "mint": "\(minTime)", "maxt": "\(maxTime)", "head_series": "\(targets.count)",
                ])
            }
        }
    }

    /// Rewrites every block that has tombstones without the deleted data. Blocking.
    public func cleanTombstones() throws {
        try withCompactionLock {
            for block in blockList where !block.tombstones.isEmpty {
                let id = BlockID.make(milliseconds: UInt64(max(0, WallClock.milliseconds())))
                let meta = try BlockCompactor.merge([block], into: blocksDirectory, id: id, raiseLevel: false)
                try replace([block], with: meta)
                logger.info("Tombstones cleaned", metadata: ["old": "\(block.meta.ulid)", "new": "\(meta.ulid)"])
            }
        }
    }

    /// Writes a consistent copy of the data into `<data>/snapshots/<name>`: hard links to every block
    /// and, unless `skipHead`, the head written as one more block. Returns the name. Blocking.
    public func snapshot(skipHead: Bool) throws -> String {
        try withCompactionLock {
            let name = BlockID.make(milliseconds: UInt64(max(0, WallClock.milliseconds()))).lowercased()
            let target = snapshotsDirectory + "/" + name
            try FileIO.makeDirectories(target)
            for block in blockList {
                let copy = target + "/" + block.meta.ulid
                try FileIO.makeDirectories(copy)
                for file in try FileIO.listDirectory(block.directory) {
                    try FileIO.link(block.directory + "/" + file, to: copy + "/" + file)
                }
            }
            if !skipHead, let bounds = head.timeBounds() {
                let id = BlockID.make(milliseconds: UInt64(max(0, WallClock.milliseconds())))
                let writer = try BlockWriter(parent: target, minTime: bounds.min, maxTime: bounds.max + 1, level: 1, sources: [], id: id)
                for series in head.allSeries().sorted(by: { $0.labels < $1.labels }) {
                    let (chunks, samples) = series.encodedChunks(minTime: bounds.min, maxTime: bounds.max + 1)
                    try writer.add(series.labels, chunks: chunks, sampleCount: samples)
                }
                if writer.isEmpty { try writer.discard() } else { _ = try writer.finish() }
            }
            try FileIO.syncDirectory(target)
            return name
        }
    }
}
