import Logging
import NIOPosix
import ObsCore

/// The metrics store: the head (recent series and chunks in memory) protected by the WAL.
///
/// Opening replays the WAL, so everything a commit acknowledged before a crash is back. Thread-safe:
/// appenders and queriers may be used from any number of tasks at once.
public final class MetricsStore: MetricsAppendable, MetricsQueryable {
    public struct Options: Sendable {
        /// Largest WAL segment file before a new one is started.
        public var walSegmentSize = 128 << 20

        public init() {}
    }

    let head = Head()
    let wal: WAL
    let counters: StoreCounters
    private let logger: Logger

    /// Opens (or creates) the store in `directory` and replays its WAL. Blocking.
    public init(directory: String, options: Options = Options(), metrics: MetricsRegistry, logger: Logger) throws {
        self.logger = logger
        counters = StoreCounters(metrics)
        wal = try WAL(directory: directory + "/wal", segmentSize: options.walSegmentSize, logger: logger)
        let clock = ContinuousClock()
        let start = clock.now
        var samples = 0
        var unknown = 0
        // Replay is single-threaded: a local table spares a locked index lookup per sample.
        var byRef: [SeriesRef: MemSeries] = [:]
        let report = try wal.replay { record in
            switch record {
            case let .series(entries):
                for entry in entries where byRef[entry.ref] == nil {
                    byRef[entry.ref] = head.restore(ref: entry.ref, labels: entry.labels)
                }
            case let .samples(batch):
                for sample in batch {
                    guard let series = byRef[sample.ref] else {
                        unknown += 1
                        continue
                    }
                    if series.append(timestamp: sample.timestamp, value: sample.value) { samples += 1 }
                }
            }
        }
        let elapsed = clock.now - start
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
        HeadAppender(head: head, wal: wal, counters: counters)
    }

    public func querier(minTime: Int64, maxTime: Int64) throws -> any MetricsQuerier {
        HeadQuerier(head: head, minTime: minTime, maxTime: maxTime)
    }

    /// Number of series in memory.
    public var seriesCount: Int { head.seriesCount }

    /// Flushes and closes the WAL. Appends after this fail.
    public func close() {
        wal.shutdown()
    }
}

/// The store's self metrics.
struct StoreCounters: Sendable {
    let samplesAppended: Counter
    let seriesCreated: Counter
    let outOfOrder: Counter
    let duplicate: Counter

    init(_ metrics: MetricsRegistry) {
        samplesAppended = metrics.counter("obs_tsdb_head_samples_appended_total", help: "Samples appended to the head.").labels()
        seriesCreated = metrics.counter("obs_tsdb_head_series_created_total", help: "Series created in the head.").labels()
        let rejected = metrics.counter(
            "obs_tsdb_samples_rejected_total", help: "Samples rejected on append, by reason.", labelNames: ["reason"])
        outOfOrder = rejected.labels("out_of_order")
        duplicate = rejected.labels("duplicate")
    }
}
