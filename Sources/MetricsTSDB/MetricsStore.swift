import Dispatch
import FoundationEssentials
import Logging
import NIOPosix
import ObsCore
import Synchronization

/// The metrics store: the head (recent series and chunks in memory) protected by the WAL.
///
/// Opening replays the WAL, so everything a commit acknowledged before a crash is back. Thread-safe:
/// appenders and queriers may be used from any number of tasks at once.
public final class MetricsStore: MetricsAppendable, MetricsQueryable {
    public struct Options: Sendable {
        /// Largest WAL segment file before a new one is started.
        public var walSegmentSize = 128 << 20
        /// Time span of a block cut from the head, milliseconds. The head is cut once it spans one and
        /// a half of these, so recent data stays appendable in memory.
        public var blockRange: Int64 = 2 * 3_600_000
        /// Blocks whose newest sample is older than this (relative to the newest sample stored) are
        /// deleted. `nil` keeps data forever.
        public var retentionTime: Int64? = 15 * 24 * 3_600_000
        /// Oldest blocks are deleted while blocks and WAL together take more bytes than this.
        public var retentionSize: Int64?
        /// Samples up to this many milliseconds older than the newest sample are accepted out of order
        /// (Prometheus's `out_of_order_time_window`); 0 rejects them.
        public var outOfOrderWindow: Int64 = 0
        /// Where snapshots go; `nil` for `snapshots` inside the store's directory.
        public var snapshotsDirectory: String?
        /// Largest range blocks are merged into; `nil` for a tenth of the retention time, at most 31 days.
        public var maxBlockRange: Int64?

        var effectiveMaxBlockRange: Int64 {
            if let maxBlockRange { return maxBlockRange }
            let tenth = (retentionTime ?? .max) / 10
            return min(tenth, 31 * 24 * 3_600_000)
        }

        /// How much of the WAL is kept for readers (forwarding queues) that are behind: past this
        /// size or this age of their oldest segment, the segments are checkpointed anyway and
        /// the readers skip them (counted).
        public var maxWALBacklogBytes: Int = 2 << 30
        public var maxWALBacklogAge: Int64 = 24 * 3_600_000

        /// `storage.exemplars.max_exemplars`: the size of the exemplar ring; 0 keeps none.
        public var maxExemplars = 100_000

        public init() {}
    }

    let head = Head()
    let exemplars: ExemplarStorage
    let wal: WAL
    /// The first segment each WAL reader still needs, by reader.
    let walReaders = Mutex<[String: Int]>([:])
    let counters: StoreCounters
    let options: Options
    let blocksDirectory: String
    let snapshotsDirectory: String
    let blocks = Mutex<[Block]>([])
    /// Serialises everything that rewrites blocks or the WAL's history: head cuts, merges, retention,
    /// deletions, snapshots.
    let compactionLock = Mutex(())
    /// Closed by `close`, after which commits fail.
    let gate = CommitGate()
    let logger: Logger

    /// Opens (or creates) the store in `directory` and replays its WAL. Blocking.
    public init(directory: String, options: Options = Options(), metrics: MetricsRegistry, logger: Logger) throws {
        self.logger = logger
        self.options = options
        counters = StoreCounters(metrics)
        exemplars = ExemplarStorage(capacity: options.maxExemplars, metrics: metrics)
        blocksDirectory = directory + "/blocks"
        snapshotsDirectory = options.snapshotsDirectory ?? directory + "/snapshots"
        let opened = try Self.openBlocks(blocksDirectory, logger: logger)
        blocks.withLock { $0 = opened }
        // Samples older than the newest block are in blocks already (a crash may have come between
        // writing a block and checkpointing the WAL); replay must not bring them back into the head.
        if let newest = opened.last { head.setMinValidTime(newest.meta.maxTime) }
        head.setOutOfOrderWindow(options.outOfOrderWindow)
        wal = try WAL(directory: directory + "/wal", segmentSize: options.walSegmentSize)
        let clock = ContinuousClock()
        let start = clock.now
        var samples = 0
        var unknown = 0
        // Replay is single-threaded: a local table spares a locked index lookup per sample.
        var byRef = RefTable()
        // Samples are gathered over many records and applied grouped by series: each series is then
        // touched once per group instead of once per sample, which is what makes replay fast. Series
        // records precede their samples in the WAL, so applying them at once is safe; a deletion
        // applies to what came before it, so the gathered samples go first.
        // Decoding and applying overlap: a group is sorted and applied on a second thread while this
        // one decodes the next. The applier gets its own copy of the reference table.
        var gathered: [WALSample] = []
        gathered.reserveCapacity(Self.replayGroupSize)
        let applier = DispatchQueue(label: "metrics-replay")
        let applying = DispatchGroup()
        let totals = Mutex((samples: 0, unknown: 0))
        let head = self.head
        func flush() {
            guard !gathered.isEmpty else { return }
            applying.wait()
            let group = gathered
            let table = byRef
            let floor = head.outOfOrderFloor
            let minValid = head.minValidTime
            applier.async(group: applying) {
                let result = Self.replay(Self.groupedBySeries(group), shard: 0, of: 1, table: table, floor: floor,
                                         minValid: minValid)
                head.noteSamples(oldest: result.oldest, newest: result.newest)
                totals.withLock { $0 = ($0.samples + result.count, $0.unknown + result.unknown) }
            }
            gathered = []
            gathered.reserveCapacity(Self.replayGroupSize)
        }
        let report = try wal.replay { record in
            switch record {
            case let .series(entries):
                for entry in entries where byRef[entry.ref] == nil {
                    byRef[entry.ref] = head.restore(ref: entry.ref, labels: entry.labels)
                }
            case let .samples(batch):
                gathered.append(contentsOf: batch)
                if gathered.count >= Self.replayGroupSize { flush() }
            case let .histograms(batch):
                // Rare next to floats: applied in place, after the floats gathered before them.
                flush()
                applying.wait()
                let minValid = head.minValidTime
                var applied = 0
                for sample in batch where sample.timestamp >= minValid {
                    guard let series = byRef[sample.ref] else { continue }
                    if series.appendHistogramChecked(timestamp: sample.timestamp, histogram: sample.histogram) == .appended {
                        applied += 1
                        head.noteSample(at: sample.timestamp)
                    }
                }
                totals.withLock { $0.samples += applied }
            case let .exemplars(batch):
                // The exemplar ring is independent of the samples: no need to wait for them.
                for entry in batch {
                    if let series = byRef[entry.ref] { exemplars.add(series.labels, entry.exemplar) }
                }
            case let .deletions(entries):
                flush()
                applying.wait()
                for entry in entries { byRef[entry.ref]?.delete(Intervals([(entry.minTime, entry.maxTime)])) }
            case let .headChunks(entries):
                // A snapshot's chunks: taken as they are, in order with the samples around them.
                flush()
                applying.wait()
                let restored = Self.restore(entries, table: byRef, head: head)
                totals.withLock { $0 = ($0.samples + restored.samples, $0.unknown + restored.unknown) }
            }
        }
        flush()
        applying.wait()
        (samples, unknown) = totals.withLock { $0 }
        let elapsed = clock.now - start
        if let damage = report.damage {
            logger.warning("WAL damaged; dropped everything after the last good record", metadata: [
                "file": "\(damage.file)", "offset": "\(damage.offset)", "reason": "\(damage.reason)",
                "dropped_bytes": "\(report.truncatedBytes)",
            ])
        }
        counters.seriesCreated.inc(Double(head.seriesCount))
        logger.info("WAL replay completed", metadata: [
            "segments": "\(report.segments)", "records": "\(report.records)", "series": "\(head.seriesCount)",
            "samples": "\(samples)", "duration": "\(elapsed)",
        ])
        if unknown > 0 {
            logger.warning("WAL samples referenced unknown series and were skipped", metadata: ["count": "\(unknown)"])
        }
    }

    /// Opens the store on a thread that may block, keeping WAL replay off the cooperative pool.
    public static func open(directory: String, options: Options = Options(), metrics: MetricsRegistry,
                            logger: Logger) async throws -> MetricsStore {
        try await NIOThreadPool.singleton.runIfActive {
            try MetricsStore(directory: directory, options: options, metrics: metrics, logger: logger)
        }
    }

    public func appender() -> any MetricsAppender {
        HeadAppender(head: head, wal: wal, exemplars: exemplars, counters: counters, gate: gate)
    }

    public func bufferedAppender() -> any MetricsAppender {
        HeadAppender(head: head, wal: wal, exemplars: exemplars, counters: counters, gate: gate, syncsWAL: false)
    }

    public func querier(minTime: Int64, maxTime: Int64) throws -> any MetricsQuerier {
        var parts: [any MetricsQuerier] = blocks.withLock { $0 }
            .filter { $0.meta.maxTime > minTime && $0.meta.minTime <= maxTime }
            .map { $0.querier(minTime: minTime, maxTime: maxTime) }
        // The head holds nothing older than its lower bound; a range entirely below it is all in blocks.
        if maxTime >= head.minValidTime || parts.isEmpty {
            parts.append(HeadQuerier(head: head, minTime: minTime, maxTime: maxTime))
        }
        return MergedQuerier(parts: parts)
    }

    /// Persisted blocks, oldest first.
    var blockList: [Block] { blocks.withLock { $0 } }

    /// Opens every finished block under `directory`; removes leftovers of interrupted writes.
    private static func openBlocks(_ directory: String, logger: Logger) throws -> [Block] {
        try FileIO.makeDirectories(directory)
        var result: [Block] = []
        for name in try FileIO.listDirectory(directory) where name != "." && name != ".." {
            let path = directory + "/" + name
            if name.hasSuffix(".tmp") {
                try FileIO.removeTree(path)
                continue
            }
            do {
                result.append(try Block(directory: path))
            } catch {
                // A damaged block is set aside, not deleted: it may be recoverable by hand.
                logger.error("Cannot open block; moving it aside", metadata: ["block": "\(path)", "err": "\(error)"])
                _ = rename(path, path + ".broken")
            }
        }
        let superseded = BlockCompactor.superseded(result)
        for stale in superseded {
            logger.info("Removing block already merged into another", metadata: ["ulid": "\(stale.meta.ulid)"])
            try FileIO.removeTree(stale.directory)
        }
        return result.filter { block in !superseded.contains { $0 === block } }.sorted { $0.meta.minTime < $1.meta.minTime }
    }

    /// Changes the out-of-order window (on configuration reload).
    public func setOutOfOrderWindow(_ milliseconds: Int64) {
        head.setOutOfOrderWindow(milliseconds)
    }

    /// Head cardinality, the top `limit` entries of each list.
    public func headStatistics(limit: Int = 10) -> HeadStatistics {
        head.statistics(limit: limit)
    }

    /// Number of series in memory.
    public var seriesCount: Int { head.seriesCount }

    /// The label set of the head series `ref`, as the head holds it (its strings shared with the
    /// series), or nil when the head has no such series.
    public func labels(ofSeries ref: SeriesRef) -> Labels? {
        head.series(ref: ref)?.labels
    }

    /// The exemplars in `[start, end]` of the series any of the matcher sets selects.
    public func exemplars(_ matcherSets: [[LabelMatcher]], start: Int64, end: Int64) -> [(series: Labels, exemplars: [Exemplar])] {
        exemplars.select(matcherSets, start: start, end: end)
    }

    /// Keeps segments from `segment` on out of checkpoints for `reader` (within the backlog limits);
    /// nil releases them.
    public func holdWAL(from segment: Int?, for reader: String) {
        walReaders.withLock { $0[reader] = segment }
    }

    /// Resizes the exemplar ring (a reload changed `max_exemplars`), keeping the newest.
    public func setMaxExemplars(_ count: Int) {
        exemplars.resize(to: count)
    }

    /// Stops taking commits, snapshots the head (unless `snapshot` is false) and closes the WAL.
    /// Commits after this fail. Blocking: call it from a thread that may block.
    public func close(snapshot: Bool = true) {
        let drained = gate.closeAndDrain(timeout: .seconds(10))
        if snapshot && drained {
            do {
                try writeHeadSnapshot()
            } catch {
                logger.error("Head snapshot failed; the next start replays the WAL instead", metadata: ["err": "\(error)"])
            }
        }
        wal.shutdown()
    }
}

/// The store's self metrics.
struct StoreCounters: Sendable {
    let samplesAppended: Counter
    let seriesCreated: Counter
    let outOfOrder: Counter
    let duplicate: Counter
    let tooOld: Counter
    let blocksWritten: Counter
    let blocksDeleted: Counter
    let blocksMerged: Counter
    let walBacklogDropped: Counter

    init(_ metrics: MetricsRegistry) {
        samplesAppended = metrics.counter("obs_tsdb_head_samples_appended_total", help: "Samples appended to the head.").labels()
        seriesCreated = metrics.counter("obs_tsdb_head_series_created_total", help: "Series created in the head.").labels()
        let rejected = metrics.counter(
            "obs_tsdb_samples_rejected_total", help: "Samples rejected on append, by reason.", labelNames: ["reason"])
        outOfOrder = rejected.labels("out_of_order")
        duplicate = rejected.labels("duplicate")
        tooOld = rejected.labels("too_old")
        blocksWritten = metrics.counter("obs_tsdb_blocks_written_total", help: "Blocks cut from the head.").labels()
        blocksDeleted = metrics.counter("obs_tsdb_blocks_deleted_total", help: "Blocks deleted by retention.").labels()
        blocksMerged = metrics.counter("obs_tsdb_compactions_total", help: "Merged blocks written by compaction.").labels()
        walBacklogDropped = metrics.counter("obs_tsdb_wal_backlog_segments_dropped_total",
                                            help: "WAL segments checkpointed before every reader had read them (backlog limits reached).").labels()
    }
}
