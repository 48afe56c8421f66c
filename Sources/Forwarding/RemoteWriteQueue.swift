import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import ObsCore
import OutboundHTTP
import Scrape
import Synchronization

/// One `remote_write` destination's settings, as the queue uses them.
public struct RemoteWriteSettings: Sendable {
    public var name: String
    public var url: String
    public var timeout: Int64 = 30_000
    public var headers: [String: String] = [:]
    public var relabel: [RelabelConfig] = []
    /// Added to every series that does not have the label (`global.external_labels`).
    public var externalLabels: [Label] = []
    public var sendExemplars = false
    public var http = HTTPClientSettings()
    public var capacity = 10_000
    public var minShards = 1
    public var maxShards = 50
    public var maxSamplesPerSend = 2000
    public var batchSendDeadline: Int64 = 5000
    public var minBackoff: Int64 = 30
    public var maxBackoff: Int64 = 5000
    public var retryOnHTTP429 = false
    public var sendNativeHistograms = false
    /// `metadata_config`.
    public var sendMetadata = true
    public var metadataInterval: Int64 = 60_000
    public var metadataMaxPerSend = 500

    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }
}

/// Sends what the metrics WAL holds to one remote-write destination, as Prometheus's queue does,
/// with the WAL as the queue: nothing scraped or received is lost while the destination is down,
/// and the position reached is kept on disk, so a restart or a `kill -9` resumes there.
///
/// A round reads up to `capacity` samples after the position (waiting up to `batch_send_deadline`
/// for `max_samples_per_send` of them), relabels them, spreads their series over shards by hash
/// (as many as measured throughput needs, `ShardTuner`, and no more than there are batches), sends each shard's
/// batches in order with retries, and only then moves the position on disk. So after a crash at
/// most the round in flight is sent again, and while the destination is down nothing moves.
public final class RemoteWriteQueue: Sendable {
    public let settings: RemoteWriteSettings
    private let store: any WALSource
    /// The scrape targets' metadata, for `metadata_config`.
    private let metadataSource: (@Sendable () -> [RemoteWriteMetadata])?
    private let positionFile: String
    private let clients: OutboundClients
    private let metrics: RemoteWriteMetrics
    private let time: any TimeSource
    private let logger: Logger
    /// The same by the store's series reference, for the samples of a round: a reference costs
    /// nothing to hash, a label set costs every name and value.
    private let relabeledByRef = Mutex<[UInt64: Labels?]>([:])
    private let status = Mutex(RemoteWriteStatus())
    private let tuner: Mutex<ShardTuner>
    /// The round in flight: shard-seconds spent in requests, and whether one was retried.
    private let round = Mutex((sendSeconds: 0.0, failing: false))

    public init(settings: RemoteWriteSettings, store: any WALSource, metadata: (@Sendable () -> [RemoteWriteMetadata])? = nil,
                directory: String, clients: OutboundClients, metrics: RemoteWriteMetrics, time: any TimeSource = SystemTimeSource(),
                logger: Logger) {
        self.settings = settings
        self.store = store
        metadataSource = metadata
        positionFile = directory + "/" + settings.name + ".position"
        self.clients = clients
        self.metrics = metrics
        self.time = time
        self.logger = logger
        tuner = Mutex(ShardTuner(minShards: settings.minShards, maxShards: settings.maxShards))
    }

    public var currentStatus: RemoteWriteStatus { status.withLock { $0 } }

    /// Runs until cancelled: the samples, and the metadata beside them.
    public func run() async {
        await withDiscardingTaskGroup { group in
            if settings.sendMetadata, let metadataSource {
                group.addTask { await self.sendMetadata(from: metadataSource) }
            }
            await sendSamples()
            group.cancelAll()
        }
    }

    /// Every `send_interval`, the metadata of every scraped metric family (each distinct entry
    /// once), in requests of `max_samples_per_send` entries, with the samples' retries and backoff.
    /// Like Prometheus, not kept on disk: the next interval sends it all again.
    private func sendMetadata(from source: @Sendable () -> [RemoteWriteMetadata]) async {
        while !Task.isCancelled {
            do {
                try await time.sleep(until: time.now() + settings.metadataInterval)
                var seen = Set<RemoteWriteMetadata>()
                let entries = source().filter { seen.insert($0).inserted }
                var start = 0
                while start < entries.count {
                    let end = min(entries.count, start + settings.metadataMaxPerSend)
                    try await deliver(RemoteWriteMetadata.encoded(entries[start..<end]), .metadata(end - start))
                    start = end
                }
            } catch {
                break
            }
        }
    }

    private func sendSamples() async {
        let labels = [settings.name, settings.url]
        metrics.minShards.labels(labels[0], labels[1]).set(Double(settings.minShards))
        metrics.shards.labels(labels[0], labels[1]).set(Double(tuner.withLock { $0.shards }))
        metrics.maxShards.labels(labels[0], labels[1]).set(Double(settings.maxShards))
        let follower: any WALReader
        let positions: PositionFile
        do {
            positions = try await blocking { [positionFile] in try PositionFile(path: positionFile) }
            let saved: WALPosition?
            switch positions.read() {
            case .none:
                saved = nil
            case let .position(position):
                saved = position
            case .unreadable:
                saved = try await blocking { [store] in try store.oldestPosition() }
                logger.warning("Remote write position unreadable; starting from the oldest WAL segment kept",
                               metadata: ["queue": "\(settings.name)", "file": "\(positionFile)"])
            }
            follower = try await blocking { [store] in try store.follow(from: saved) }
            if saved == nil { try await persist(follower.position, to: positions) }
        } catch {
            logger.error("Remote write queue cannot read the WAL; nothing is forwarded", metadata: ["queue": "\(settings.name)", "err": "\(error)"])
            return
        }
        store.holdWAL(from: follower.position.segment, for: "remote-write/" + settings.name)
        logger.info("Remote write queue started", metadata: ["queue": "\(settings.name)", "url": "\(settings.url)", "position": "\(follower.position)"])
        var roundStart = time.now()
        while !Task.isCancelled {
            do {
                let chunk = try await collect(follower)
                if chunk.isEmpty && chunk.end == (currentStatus.position ?? chunk.end) && chunk.lostSegments == 0 {
                    continue
                }
                try await send(chunk)
                retune(since: roundStart, read: chunk.samples.count)
                roundStart = time.now()
                try await persist(chunk.end, to: positions)
                store.holdWAL(from: chunk.end.segment, for: "remote-write/" + settings.name)
            } catch is CancellationError {
                break
            } catch {
                logger.warning("Remote write round failed; retrying", metadata: ["queue": "\(settings.name)", "err": "\(error)"])
                try? await time.sleep(until: time.now() + settings.maxBackoff)
            }
        }
    }

    /// Reads until `max_samples_per_send` samples are in or `batch_send_deadline` has passed since
    /// the first one, whichever comes first (at most `capacity`).
    private func collect(_ follower: any WALReader) async throws -> WALChunk {
        var chunk = try await blocking { [settings] in try follower.read(maxSamples: settings.capacity) }
        let deadline = time.now() + settings.batchSendDeadline
        while chunk.samples.count < settings.maxSamplesPerSend && time.now() < deadline {
            try await time.sleep(until: min(deadline, time.now() + 100))
            let room = settings.capacity - chunk.samples.count
            chunk.append(try await blocking { try follower.read(maxSamples: room) })
        }
        return chunk
    }

    /// The labels a series is sent with: write relabeling, then the external labels it lacks.
    /// Computed once per series reference (`relabeledByRef`); exemplars, which are few, each time.
    private func outgoing(_ labels: Labels) -> Labels? {
        guard let kept = Relabeler.apply(settings.relabel, to: labels) else { return nil }
        let missing = settings.externalLabels.filter { kept[$0.name] == nil }
        return missing.isEmpty ? kept : Labels(Array(kept) + missing)
    }

    /// The shards the tuner runs, but no more than `samples` fill batches for.
    private func shardCount(_ samples: Int) -> Int {
        max(1, min(tuner.withLock { $0.shards }, (samples + settings.maxSamplesPerSend - 1) / settings.maxSamplesPerSend))
    }

    /// Feeds the round's figures to the tuner. A round that read all `capacity` allows is behind:
    /// at least that much more waits in the WAL.
    private func retune(since start: Int64, read: Int) {
        let (sendSeconds, failing) = round.withLock { figures in
            defer { figures = (0, false) }
            return figures
        }
        let names = (settings.name, settings.url)
        let (shards, desired) = tuner.withLock { tuner in
            tuner.observe(seconds: Double(time.now() - start) / 1000, read: read, sent: read, sendSeconds: sendSeconds,
                          pending: read >= settings.capacity ? settings.capacity : 0, failing: failing)
            return (tuner.shards, tuner.desired)
        }
        metrics.shards.labels(names.0, names.1).set(Double(shards))
        metrics.desiredShards.labels(names.0, names.1).set(desired)
    }

    private func send(_ chunk: WALChunk) async throws {
        let names = (settings.name, settings.url)
        if chunk.lostSegments > 0 {
            metrics.lostSegments.labels(names.0, names.1).inc(Double(chunk.lostSegments))
            logger.warning("WAL segments were removed before this queue sent them", metadata: [
                "queue": "\(settings.name)", "segments": "\(chunk.lostSegments)",
            ])
        }
        var dropped = chunk.unknownSeries + (settings.sendNativeHistograms ? 0 : chunk.histograms.count)
        var highest = Int64.min
        // Taken out of the lock (not copied), so adding to it does not copy the whole table.
        var known = relabeledByRef.withLock { cache in
            defer { cache = [:] }
            return cache
        }
        if known.count > 200_000 { known.removeAll() }
        /// The labels a stored series goes out with, by reference (nil: relabeling dropped it).
        func labels(of series: UInt64, _ stored: Labels) -> Labels? {
            if let cached = known[series] { return cached }
            let target = outgoing(stored)
            known[series] = .some(target)
            return target
        }
        var plan: ShardPlan
        var total: Int
        // Only relabeling can make two stored series one (and exemplars come by labels): without
        // either, each sample goes out on its own, routed by its series reference, as Prometheus's
        // queue sends them, with no grouping and no label hashing.
        if settings.relabel.isEmpty && !settings.sendExemplars {
            var outgoingSamples: [(series: UInt64, labels: Labels, timestamp: Int64, value: Double)] = []
            outgoingSamples.reserveCapacity(chunk.samples.count)
            for sample in chunk.samples {
                highest = max(highest, sample.timestamp)
                guard let target = labels(of: sample.series, sample.labels) else {
                    dropped += 1
                    continue
                }
                outgoingSamples.append((sample.series, target, sample.timestamp, sample.value))
            }
            total = outgoingSamples.count
            plan = ShardPlan(singles: outgoingSamples, shards: shardCount(total), maxSamples: settings.maxSamplesPerSend)
        } else {
            var bySeries: [Labels: Int] = [:]
            var byRef: [UInt64: Int] = [:]
            var grouped: [ShardPlan.Series] = []
            for sample in chunk.samples {
                highest = max(highest, sample.timestamp)
                if let index = byRef[sample.series] {
                    grouped[index].samples.append((sample.timestamp, sample.value))
                    continue
                }
                guard let target = labels(of: sample.series, sample.labels) else {
                    dropped += 1
                    continue
                }
                // Two series that relabeling makes one go out as one.
                if let index = bySeries[target] {
                    byRef[sample.series] = index
                    grouped[index].samples.append((sample.timestamp, sample.value))
                } else {
                    bySeries[target] = grouped.count
                    byRef[sample.series] = grouped.count
                    grouped.append(ShardPlan.Series(key: sample.series, labels: target, samples: [(sample.timestamp, sample.value)]))
                }
            }
            if settings.sendExemplars {
                for (series, exemplar) in chunk.exemplars {
                    guard let target = outgoing(series) else { continue }
                    if let index = bySeries[target] {
                        grouped[index].exemplars.append(exemplar)
                    } else {
                        bySeries[target] = grouped.count
                        grouped.append(ShardPlan.Series(key: target.stableHash, labels: target, samples: [], exemplars: [exemplar]))
                    }
                }
            }
            total = grouped.reduce(0) { $0 + $1.samples.count }
            plan = ShardPlan(series: grouped, shards: shardCount(total), maxSamples: settings.maxSamplesPerSend)
        }
        if settings.sendNativeHistograms {
            for sample in chunk.histograms {
                highest = max(highest, sample.timestamp)
                guard let target = labels(of: sample.series, sample.labels) else {
                    dropped += 1
                    continue
                }
                plan.add(histogram: sample.histogram, at: sample.timestamp, labels: target, key: sample.series,
                         maxSamples: settings.maxSamplesPerSend)
                total += 1
            }
        }
        relabeledByRef.withLock { $0 = known }
        metrics.samplesDropped.labels(names.0, names.1).inc(Double(dropped))
        if highest > .min { metrics.highestTimestamp.labels(names.0, names.1).set(Double(highest) / 1000) }
        metrics.pending.labels(names.0, names.1).set(Double(total))
        status.withLock { status in
            status.pending = total
            if highest > .min { status.highestRead = max(status.highestRead ?? .min, highest) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batches in plan.shards where !batches.isEmpty {
                group.addTask {
                    for batch in batches { try await self.deliver(batch) }
                }
            }
            try await group.waitForAll()
        }
        metrics.pending.labels(names.0, names.1).set(0)
        status.withLock { status in
            status.pending = 0
            status.position = chunk.end
            status.lastRound = time.now()
        }
    }

    /// What a request carries, for the counters.
    private enum Payload {
        case samples(RemoteWriteBatch)
        case metadata(Int)
    }

    private func deliver(_ batch: RemoteWriteBatch) async throws {
        try await deliver(batch.encoded(), .samples(batch))
    }

    /// Sends one request until it is accepted, refused for good (4xx other than a retried 429), or
    /// the queue stops; backs off from `min_backoff` to `max_backoff` between attempts.
    private func deliver(_ body: ByteBuffer, _ payload: Payload) async throws {
        var backoff = settings.minBackoff
        while true {
            try Task.checkCancellation()
            let attempt = try await self.attempt(body)
            let done = switch payload {
            case let .samples(batch): account(attempt, samples: batch, bytes: body.readableBytes)
            case let .metadata(count): account(attempt, metadata: count, bytes: body.readableBytes)
            }
            if done { return }
            try await time.sleep(until: time.now() + backoff)
            backoff = min(backoff * 2, settings.maxBackoff)
        }
    }

    private struct Attempt {
        var accepted: Bool
        var retry: Bool
        var message: String
        var seconds: Double
    }

    private func attempt(_ body: ByteBuffer) async throws -> Attempt {
        let started = ContinuousClock.now
        let outcome: (status: Int?, message: String)
        do {
            outcome = try await post(body)
        } catch let error as HTTPClientSettings.Failure {
            outcome = (nil, error.description)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            outcome = (nil, "\(error)")
        }
        let elapsed = ContinuousClock.now - started
        let accepted = outcome.status.map { (200..<300).contains($0) } ?? false
        return Attempt(accepted: accepted,
                       retry: !accepted && (outcome.status.map { $0 >= 500 || ($0 == 429 && settings.retryOnHTTP429) } ?? true),
                       message: outcome.status.map { "server returned HTTP status \($0): \(outcome.message)" } ?? outcome.message,
                       seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Counts a samples request's attempt; true when the batch is done with (sent or dropped).
    private func account(_ attempt: Attempt, samples batch: RemoteWriteBatch, bytes: Int) -> Bool {
        let names = (settings.name, settings.url)
        metrics.batchDuration.labels(names.0, names.1).observe(attempt.seconds)
        round.withLock { $0.sendSeconds += attempt.seconds }
        if attempt.accepted {
            metrics.samplesSent.labels(names.0, names.1).inc(Double(batch.sampleCount))
            metrics.exemplarsSent.labels(names.0, names.1).inc(Double(batch.exemplarCount))
            metrics.bytesSent.labels(names.0, names.1).inc(Double(bytes))
            if batch.highestTimestamp > .min {
                metrics.highestSentTimestamp.labels(names.0, names.1).set(Double(batch.highestTimestamp) / 1000)
            }
            status.withLock { status in
                status.sent += batch.sampleCount
                status.pending -= batch.sampleCount
                if batch.highestTimestamp > .min { status.highestSent = max(status.highestSent ?? .min, batch.highestTimestamp) }
            }
            return true
        }
        status.withLock { $0.lastError = attempt.message; $0.lastErrorTime = time.now() }
        if !attempt.retry {
            metrics.samplesFailed.labels(names.0, names.1).inc(Double(batch.sampleCount))
            status.withLock { status in
                status.failed += batch.sampleCount
                status.pending -= batch.sampleCount
            }
            logger.error("Remote write batch refused; dropped", metadata: [
                "queue": "\(settings.name)", "samples": "\(batch.sampleCount)", "err": "\(attempt.message)",
            ])
            return true
        }
        metrics.samplesRetried.labels(names.0, names.1).inc(Double(batch.sampleCount))
        round.withLock { $0.failing = true }
        logger.debug("Remote write failed; retrying", metadata: ["queue": "\(settings.name)", "err": "\(attempt.message)"])
        return false
    }

    /// Counts a metadata request's attempt; true when it is done with.
    private func account(_ attempt: Attempt, metadata count: Int, bytes: Int) -> Bool {
        let names = (settings.name, settings.url)
        if attempt.accepted {
            metrics.metadataSent.labels(names.0, names.1).inc(Double(count))
            metrics.metadataBytes.labels(names.0, names.1).inc(Double(bytes))
            return true
        }
        status.withLock { $0.lastError = "metadata: " + attempt.message; $0.lastErrorTime = time.now() }
        if !attempt.retry {
            metrics.metadataFailed.labels(names.0, names.1).inc(Double(count))
            return true
        }
        metrics.metadataRetried.labels(names.0, names.1).inc(Double(count))
        return false
    }

    private func post(_ body: ByteBuffer) async throws -> (status: Int?, message: String) {
        try await ForwardingHTTP.post(body, to: settings.url, headers: [
            ("Content-Encoding", "snappy"), ("Content-Type", "application/x-protobuf"), ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ], extraHeaders: settings.headers, settings: settings.http, clients: clients, timeout: settings.timeout)
    }

    private func persist(_ position: WALPosition, to file: PositionFile) async throws {
        try await blocking { try file.write(position) }
    }

    private func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await ForwardingHTTP.blocking(work)
    }
}

/// A queue's state for the status API and `obsctl status`.
public struct RemoteWriteStatus: Sendable {
    public var position: WALPosition?
    public var sent = 0
    public var failed = 0
    /// Samples read and not yet accepted or dropped.
    public var pending = 0
    /// Milliseconds: the newest sample read from the WAL, and the newest accepted by the destination.
    public var highestRead: Int64?
    public var highestSent: Int64?
    public var lastError: String?
    public var lastErrorTime: Int64?
    public var lastRound: Int64?
}

/// The queues' self-metrics, in Prometheus's names and labels (`remote_name`, `url`).
public struct RemoteWriteMetrics: Sendable {
    let samplesSent: CounterFamily
    let samplesFailed: CounterFamily
    let samplesRetried: CounterFamily
    let samplesDropped: CounterFamily
    let exemplarsSent: CounterFamily
    let bytesSent: CounterFamily
    let lostSegments: CounterFamily
    let pending: GaugeFamily
    let shards: GaugeFamily
    let desiredShards: GaugeFamily
    let minShards: GaugeFamily
    let maxShards: GaugeFamily
    let highestTimestamp: GaugeFamily
    let highestSentTimestamp: GaugeFamily
    let batchDuration: HistogramFamily
    let metadataSent: CounterFamily
    let metadataFailed: CounterFamily
    let metadataRetried: CounterFamily
    let metadataBytes: CounterFamily

    public init(_ registry: MetricsRegistry) {
        let names = ["remote_name", "url"]
        samplesSent = registry.counter("prometheus_remote_storage_samples_total", help: "Total number of samples sent to remote storage.", labelNames: names)
        samplesFailed = registry.counter("prometheus_remote_storage_samples_failed_total",
                                         help: "Total number of samples which failed on send to remote storage, non-recoverable errors.", labelNames: names)
        samplesRetried = registry.counter("prometheus_remote_storage_samples_retried_total",
                                          help: "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
                                          labelNames: names)
        samplesDropped = registry.counter("prometheus_remote_storage_samples_dropped_total",
                                          help: "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling or unintentionally because of an unknown reference ID.",
                                          labelNames: names)
        exemplarsSent = registry.counter("prometheus_remote_storage_exemplars_total", help: "Total number of exemplars sent to remote storage.", labelNames: names)
        bytesSent = registry.counter("prometheus_remote_storage_bytes_total",
                                     help: "The total number of bytes of data (not metadata) sent by the queue after compression.", labelNames: names)
        lostSegments = registry.counter("obs_remote_write_wal_segments_lost_total",
                                        help: "WAL segments removed (backlog limit) before this queue sent them.", labelNames: names)
        pending = registry.gauge("prometheus_remote_storage_samples_pending", help: "The number of samples pending in the queues shards to be sent to the remote storage.",
                                 labelNames: names)
        shards = registry.gauge("prometheus_remote_storage_shards", help: "The number of shards used for parallel sending to the remote storage.", labelNames: names)
        desiredShards = registry.gauge("prometheus_remote_storage_shards_desired",
                                       help: "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.",
                                       labelNames: names)
        minShards = registry.gauge("prometheus_remote_storage_shards_min", help: "The minimum number of shards that the queue is allowed to run.", labelNames: names)
        maxShards = registry.gauge("prometheus_remote_storage_shards_max", help: "The maximum number of shards that the queue is allowed to run.", labelNames: names)
        highestTimestamp = registry.gauge("prometheus_remote_storage_highest_timestamp_in_seconds",
                                          help: "Highest timestamp read from the WAL by this queue, in seconds.", labelNames: names)
        highestSentTimestamp = registry.gauge("prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
                                              help: "Timestamp from a WAL sample, the highest successfully sent by this queue, in seconds since epoch.",
                                              labelNames: names)
        metadataSent = registry.counter("prometheus_remote_storage_metadata_total", help: "Total number of metadata entries sent to remote storage.",
                                        labelNames: names)
        metadataFailed = registry.counter("prometheus_remote_storage_metadata_failed_total",
                                          help: "Total number of metadata entries which failed on send to remote storage, non-recoverable errors.",
                                          labelNames: names)
        metadataRetried = registry.counter("prometheus_remote_storage_metadata_retried_total",
                                           help: "Total number of metadata entries which failed on send to remote storage but were retried because the send error was recoverable.",
                                           labelNames: names)
        metadataBytes = registry.counter("prometheus_remote_storage_metadata_bytes_total",
                                         help: "The total number of bytes of metadata sent by the queue after compression.", labelNames: names)
        batchDuration = registry.histogram("prometheus_remote_storage_sent_batch_duration_seconds",
                                           help: "Duration of send calls to the remote storage.", labelNames: names,
                                           buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300])
    }
}
