import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import ObsCore
import OutboundHTTP
import Synchronization

/// One forwarding destination's settings (`logs.forward` with promtail's client keys and
/// defaults; `traces.forward` with the OTLP exporter's).
public struct SpoolForwardSettings: Sendable, Equatable {
    /// What the destination speaks.
    public enum Wire: Sendable, Equatable {
        /// Loki's push API: snappy protobuf, `X-Scope-OrgID` from the tenant.
        case loki(tenant: String?)
        /// OTLP/HTTP: protobuf, gzip-compressed when asked.
        case otlpHTTP(gzip: Bool)
        /// OTLP/gRPC: the signal's `Export` method at `path`, the message gzip-compressed when asked.
        case otlpGRPC(gzip: Bool, path: String)
    }

    public var name: String
    public var url: String
    public var kind: Wire
    public var headers: [String: String] = [:]
    public var externalLabels: [Label] = []
    public var batchWait: Int64 = 1000
    public var batchSize = 1 << 20
    public var timeout: Int64 = 10_000
    public var minBackoff: Int64 = 500
    public var maxBackoff: Int64 = 300_000
    /// 0: retry until the destination takes the batch (promtail gives up after 10).
    public var maxRetries = 0
    /// Most bytes the spool keeps while the destination is behind.
    public var maxSpoolBytes = 1 << 30
    public var http = HTTPClientSettings()

    public init(name: String, url: String, kind: Wire) {
        self.name = name
        self.url = url
        self.kind = kind
    }
}

/// Sends a spool of committed batches to a Loki push or OTLP/HTTP endpoint: batches of up to
/// `batchsize` bytes, or what `batchwait` gathered; retries with backoff on 429, 5xx (OTLP: 429, 502,
/// 503, 504) and network errors; drops (and counts) what the destination refuses otherwise. The
/// position reached is kept on disk after each delivered batch, so a restart or a `kill -9` sends
/// nothing twice except the batch in flight.
public final class SpoolForwarder: Sendable {
    public let settings: SpoolForwardSettings
    let spool: Spool
    private let positions: PositionFile
    private let clients: OutboundClients
    /// The connection of an OTLP/gRPC destination.
    private let grpc: OTLPGRPCExporter?
    private let metrics: LogForwardMetrics
    private let time: any TimeSource
    private let logger: Logger
    private let state = Mutex(LogForwardStatus())

    /// Opens (or creates) the spool in `directory`; register the result with the log store before
    /// the first commit that should be forwarded.
    public init(settings: SpoolForwardSettings, directory: String, clients: OutboundClients, metrics: LogForwardMetrics,
                time: any TimeSource = SystemTimeSource(), logger: Logger) throws {
        self.settings = settings
        spool = try Spool(directory: directory + "/spool", maxBytes: settings.maxSpoolBytes,
                          dropped: metrics.spoolDropped.labels(settings.name), refused: metrics.spoolRefused.labels(settings.name),
                          logger: logger)
        positions = try PositionFile(path: directory + "/position")
        self.clients = clients
        if case let .otlpGRPC(gzip, path) = settings.kind {
            grpc = try OTLPGRPCExporter(url: settings.url, path: path, settings: settings.http, headers: settings.headers, gzip: gzip)
        } else {
            grpc = nil
        }
        self.metrics = metrics
        self.time = time
        self.logger = logger
    }

    /// What the log store tells of its commits: spooled as Loki push requests, or as OTLP export
    /// requests for OTLP destinations.
    public var logObserver: any LogCommitObserver {
        if case .loki = settings.kind { return LogSpooler(spool: spool, externalLabels: settings.externalLabels, encoding: .loki) }
        return LogSpooler(spool: spool, externalLabels: settings.externalLabels, encoding: .otlp)
    }

    /// What the trace store tells of its commits (OTLP destinations).
    public var traceObserver: any TraceCommitObserver { TraceSpooler(spool: spool) }

    public var status: LogForwardStatus { state.withLock { $0 } }

    /// Runs until cancelled.
    public func run() async {
        let saved: WALPosition? = if case let .position(position) = positions.read() { position } else { nil }
        var position = saved ?? WALPosition(segment: (try? spool.log.segments().first) ?? 1, offset: 0)
        while !Task.isCancelled {
            do {
                let start = position
                let (batch, entries, end) = try await blocking { [spool, settings] in
                    try Self.gather(spool.log, from: start, upTo: spool.committedEnd, maxBytes: settings.batchSize)
                }
                state.withLock { $0.position = end }
                if entries == 0 {
                    if end != position {
                        position = end
                        try await persist(position, spool: spool)
                    }
                    try await time.sleep(until: time.now() + settings.batchWait)
                    continue
                }
                if batch.readableBytes < settings.batchSize {
                    // A partial batch waits up to `batchwait` for more.
                    try await time.sleep(until: time.now() + settings.batchWait)
                    let (fuller, more, further) = try await blocking { [spool, settings] in
                        try Self.gather(spool.log, from: start, upTo: spool.committedEnd, maxBytes: settings.batchSize)
                    }
                    try await deliver(fuller, entries: more)
                    position = further
                } else {
                    try await deliver(batch, entries: entries)
                    position = end
                }
                try await persist(position, spool: spool)
            } catch is CancellationError {
                break
            } catch {
                logger.warning("Forwarding round failed; retrying", metadata: ["forwarder": "\(settings.name)", "err": "\(error)"])
                try? await time.sleep(until: time.now() + settings.minBackoff)
            }
        }
        grpc?.close()
    }

    /// Whole records from `position` until `maxBytes` of push payload (at least one record) or
    /// `limit` (the end of what the store committed), the entries they hold, and where they end.
    /// Records of segments removed meanwhile are skipped.
    static func gather(_ log: RecordLog<SpoolRecord>, from start: WALPosition, upTo limit: WALPosition,
                       maxBytes: Int) throws -> (ByteBuffer, Int, WALPosition) {
        var position = start
        var batch = ByteBuffer()
        var entries = 0
        struct Stop: Error {}
        while batch.readableBytes < maxBytes {
            let segments = try log.segments()
            guard let current = segments.first(where: { $0 >= position.segment }), current <= limit.segment else { break }
            if current != position.segment { position = WALPosition(segment: current, offset: 0) }
            var reached = position.offset
            do {
                _ = try RecordLog<SpoolRecord>.read(log.path(ofSegment: current), from: position.offset) { record, end in
                    if current == limit.segment && end > limit.offset { throw Stop() }
                    batch.writeImmutableBuffer(record.push)
                    entries += record.entries
                    reached = end
                    if batch.readableBytes >= maxBytes { throw Stop() }
                }
            } catch is Stop {
                position.offset = reached
                break
            }
            position.offset = reached
            guard let next = segments.first(where: { $0 > current }), current < limit.segment else { break }
            position = WALPosition(segment: next, offset: 0)
        }
        return (batch, entries, position)
    }

    private func deliver(_ batch: ByteBuffer, entries: Int) async throws {
        let body: ByteBuffer
        switch settings.kind {
        case .loki: body = Snappy.compress(batch)
        case let .otlpHTTP(gzip), let .otlpGRPC(gzip, _): body = gzip ? Zlib.compress(batch, format: .gzip) : batch
        }
        var backoff = settings.minBackoff
        var attempts = 0
        while true {
            try Task.checkCancellation()
            attempts += 1
            let (accepted, retry, message) = try await attempt(body)
            if accepted {
                metrics.entriesSent.labels(settings.name).inc(Double(entries))
                metrics.bytesSent.labels(settings.name).inc(Double(body.readableBytes))
                state.withLock { $0.sent += entries; $0.lastSent = time.now() }
                return
            }
            state.withLock { $0.lastError = message; $0.lastErrorTime = time.now() }
            if !retry || (settings.maxRetries > 0 && attempts > settings.maxRetries) {
                metrics.entriesFailed.labels(settings.name).inc(Double(entries))
                state.withLock { $0.failed += entries }
                logger.error("Batch refused; dropped", metadata: ["forwarder": "\(settings.name)", "entries": "\(entries)", "err": "\(message)"])
                return
            }
            metrics.retries.labels(settings.name).inc()
            try await time.sleep(until: time.now() + backoff)
            backoff = min(backoff * 2, settings.maxBackoff)
        }
    }

    /// One delivery attempt: whether the destination took the batch, and if not whether to retry.
    private func attempt(_ body: ByteBuffer) async throws -> (accepted: Bool, retry: Bool, message: String) {
        if let grpc {
            do {
                let outcome = try await grpc.export(body, timeout: settings.timeout)
                return (outcome.code == 0, outcome.retryable, "gRPC status \(outcome.code): \(outcome.message)")
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                return (false, true, "\(error)")
            }
        }
        let outcome: (status: Int?, message: String)
        do {
            outcome = try await post(body)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            outcome = (nil, "\(error)")
        }
        guard let code = outcome.status else { return (false, true, outcome.message) }
        if (200..<300).contains(code) { return (true, false, "") }
        let retry = switch settings.kind {
        case .loki: code == 429 || code >= 500
        // OTLP/HTTP's retryable codes.
        case .otlpHTTP, .otlpGRPC: [429, 502, 503, 504].contains(code)
        }
        return (false, retry, "server returned HTTP status \(code): \(outcome.message)")
    }

    private func post(_ body: ByteBuffer) async throws -> (status: Int?, message: String) {
        var headers = [("Content-Type", "application/x-protobuf")]
        switch settings.kind {
        case let .loki(tenant):
            if let tenant { headers.append(("X-Scope-OrgID", tenant)) }
        case let .otlpHTTP(gzip), let .otlpGRPC(gzip, _):
            if gzip { headers.append(("Content-Encoding", "gzip")) }
        }
        return try await ForwardingHTTP.post(body, to: settings.url, headers: headers, extraHeaders: settings.headers,
                                             settings: settings.http, clients: clients, timeout: settings.timeout)
    }

    /// Writes the position and removes the spool segments wholly behind it.
    private func persist(_ position: WALPosition, spool: Spool) async throws {
        try await blocking { [positions] in
            try positions.write(position)
            if position.segment > 1 { try spool.log.removeSegments(through: position.segment - 1) }
        }
    }

    private func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await ForwardingHTTP.blocking(work)
    }
}

/// A log forwarder's state for the status API and `obsctl status`.
public struct LogForwardStatus: Sendable {
    public var position: WALPosition?
    public var sent = 0
    public var failed = 0
    public var lastSent: Int64?
    public var lastError: String?
    public var lastErrorTime: Int64?
}

/// Forwarders' self-metrics (label `forwarder`), under `obs_logs_forward_` or `obs_traces_forward_`.
public struct LogForwardMetrics: Sendable {
    let entriesSent: CounterFamily
    let entriesFailed: CounterFamily
    let bytesSent: CounterFamily
    let retries: CounterFamily
    let spoolDropped: CounterFamily
    let spoolRefused: CounterFamily

    /// `signal` is `logs` (entries) or `traces` (spans).
    public init(_ registry: MetricsRegistry, signal: String = "logs") {
        let prefix = "obs_\(signal)_forward_", unit = signal == "logs" ? "entries" : "spans"
        entriesSent = registry.counter(prefix + unit + "_sent_total", help: "\(unit.capitalized) the destination accepted.", labelNames: ["forwarder"])
        entriesFailed = registry.counter(prefix + unit + "_failed_total", help: "\(unit.capitalized) the destination refused for good (dropped).",
                                         labelNames: ["forwarder"])
        bytesSent = registry.counter(prefix + "bytes_total", help: "Bytes of requests accepted, as sent.", labelNames: ["forwarder"])
        retries = registry.counter(prefix + "retries_total", help: "Requests retried after a recoverable error.", labelNames: ["forwarder"])
        spoolDropped = registry.counter(prefix + "spool_segments_dropped_total",
                                        help: "Spool segments dropped unsent because the spool was over its size limit.", labelNames: ["forwarder"])
        spoolRefused = registry.counter(prefix + "spool_refused_total",
                                        help: "\(unit.capitalized) refused at intake because the spool could not keep them (a full disk).",
                                        labelNames: ["forwarder"])
    }
}
