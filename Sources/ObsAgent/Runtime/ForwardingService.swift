import AgentConfiguration
import Forwarding
import Logging
import NIOCore
import MetricsTSDB
import ObsCore
import OutboundHTTP
import Scrape
import ServiceLifecycle
import Synchronization

/// Runs one remote-write queue per `remote_write` entry once the metrics store is open; a reload
/// restarts the queues whose settings changed (they go on from their saved positions) and stops
/// those no longer configured.
struct ForwardingService: Service {
    let stores: Stores
    let state: AgentState
    let directory: String
    let queues: RemoteWriteQueues
    /// The scrape targets' metadata, for the queues' `metadata_config`.
    let metadata: @Sendable () -> [RemoteWriteMetadata]
    let logForwarders: SpoolForwarders
    let traceForwarders: SpoolForwarders
    let logger: Logger

    func run() async throws {
        let store: MetricsStore
        while true {
            if let open = try? stores.metrics() {
                store = open
                break
            }
            guard !Task.isShuttingDownGracefully else {
                await logForwarders.stopAll()
                await traceForwarders.stopAll()
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let clients = OutboundClients { $0.timeout.connect = .seconds(10) }
        let metrics = RemoteWriteMetrics(state.metrics)
        let (configs, finish) = state.configurations()
        await cancelWhenGracefulShutdown {
            for await config in configs {
                queues.apply(config, store: store, metadata: metadata, directory: directory, clients: clients, metrics: metrics, logger: logger)
            }
        }
        finish()
        await queues.stopAll()
        await logForwarders.stopAll()
        await traceForwarders.stopAll()
        await clients.shutdown()
    }
}

/// The running queues, by name; also what the status API reads.
final class RemoteWriteQueues: Sendable {
    private struct Running {
        var config: RemoteWriteConfig
        var externalLabels: [Label]
        var queue: RemoteWriteQueue
        var task: Task<Void, Never>
    }

    private let running = Mutex<[String: Running]>([:])

    func apply(_ config: AgentConfig, store: MetricsStore, metadata: @escaping @Sendable () -> [RemoteWriteMetadata], directory: String,
               clients: OutboundClients,
               metrics: RemoteWriteMetrics, logger: Logger) {
        let external = config.global.externalLabels.pairs.map { Label($0.name, $0.value) }
        running.withLock { running in
            let wanted = Dictionary(config.remoteWrite.map { ($0.queueName, $0) }, uniquingKeysWith: { $1 })
            for (name, queue) in running where wanted[name] != queue.config || queue.externalLabels != external {
                queue.task.cancel()
                store.holdWAL(from: nil, for: "remote-write/" + name)
                running[name] = nil
            }
            for (name, remote) in wanted where running[name] == nil {
                var settings = RemoteWriteSettings(name: name, url: remote.url)
                settings.timeout = remote.remoteTimeout.milliseconds
                settings.headers = remote.headers
                settings.relabel = remote.writeRelabelConfigs.compactMap { try? $0.step() }
                settings.externalLabels = external
                settings.sendExemplars = remote.sendExemplars
                settings.sendNativeHistograms = remote.sendNativeHistograms
                settings.http = remote.http
                settings.capacity = remote.queue.capacity
                settings.minShards = remote.queue.minShards
                settings.maxShards = remote.queue.maxShards
                settings.maxSamplesPerSend = remote.queue.maxSamplesPerSend
                settings.batchSendDeadline = remote.queue.batchSendDeadline.milliseconds
                settings.minBackoff = remote.queue.minBackoff.milliseconds
                settings.maxBackoff = remote.queue.maxBackoff.milliseconds
                settings.retryOnHTTP429 = remote.queue.retryOnHTTP429
                settings.sendMetadata = remote.metadata.send
                settings.metadataInterval = remote.metadata.sendInterval.milliseconds
                settings.metadataMaxPerSend = remote.metadata.maxSamplesPerSend
                let queue = RemoteWriteQueue(settings: settings, store: store, metadata: metadata, directory: directory, clients: clients,
                                             metrics: metrics, logger: logger)
                running[name] = Running(config: remote, externalLabels: external, queue: queue, task: Task { await queue.run() })
            }
        }
    }

    func stopAll() async {
        await cancelAndWait(running.withLock { running in
            defer { running = [:] }
            return running.values.map(\.task)
        })
    }

    /// Each queue's name, URL and state.
    func statuses() -> [(name: String, url: String, status: RemoteWriteStatus)] {
        running.withLock { running in
            running.values.map { ($0.queue.settings.name, $0.queue.settings.url, $0.queue.currentStatus) }
        }.sorted { $0.name < $1.name }
    }
}

/// The log or trace forwarders in force, and their store's one commit observer: each commit goes
/// to every forwarder's spool. Started with the store (before anything arrives), changed on reload.
final class SpoolForwarders: LogCommitObserver, TraceCommitObserver {
    private struct Running {
        var config: ForwardConfig
        var forwarder: SpoolForwarder
        var logs: any LogCommitObserver
        var traces: any TraceCommitObserver
        var task: Task<Void, Never>
    }

    let signal: ForwardConfig.Signal
    private let running = Mutex<[String: Running]>([:])
    /// Between a store's `willCommit` and `didCommit` (its commit gate keeps them paired).
    private let preparing = Mutex<[@Sendable (Bool) -> Void]>([])
    private let clients = OutboundClients { $0.timeout.connect = .seconds(10) }
    private let metrics: LogForwardMetrics
    private let directory: String
    private let logger: Logger

    init(signal: ForwardConfig.Signal, directory: String, metrics: MetricsRegistry, logger: Logger) {
        self.signal = signal
        self.directory = directory
        self.metrics = LogForwardMetrics(metrics, signal: signal == .logs ? "logs" : "traces")
        self.logger = logger
    }

    func willCommit(_ entries: [(stream: Labels, entry: LogEntry)], sync: Bool) throws {
        let observers = running.withLock { $0.values.map(\.logs) }
        try prepareEach(observers, { try $0.willCommit(entries, sync: sync) }, undo: { $0.didCommit(logged: false) })
        preparing.withLock { $0 = observers.map { observer in { observer.didCommit(logged: $0) } } }
    }

    func willCommit(_ requests: [ByteBuffer], spans: Int, sync: Bool) throws {
        let observers = running.withLock { $0.values.map(\.traces) }
        try prepareEach(observers, { try $0.willCommit(requests, spans: spans, sync: sync) }, undo: { $0.didCommit(logged: false) })
        preparing.withLock { $0 = observers.map { observer in { observer.didCommit(logged: $0) } } }
    }

    /// The forwarders that took the commit in `willCommit` hear how it ended, even if a reload
    /// removed them in between.
    func didCommit(logged: Bool) {
        for settle in preparing.withLock({ pending in defer { pending = [] }; return pending }) { settle(logged) }
    }

    func apply(_ config: AgentConfig) {
        let destinations = signal == .logs ? config.logs.forward : config.traces.forward
        running.withLock { running in
            let wanted = Dictionary(destinations.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
            for (name, entry) in running where wanted[name] != entry.config {
                entry.task.cancel()
                running[name] = nil
            }
            for (name, destination) in wanted where running[name] == nil {
                let kind: SpoolForwardSettings.Wire = switch destination.wire {
                case .loki: .loki(tenant: destination.tenantID)
                case .otlpHTTP: .otlpHTTP(gzip: destination.gzip)
                case .otlpGRPC: .otlpGRPC(gzip: destination.gzip, path: signal == .logs ? OTLPPaths.logs : OTLPPaths.traces)
                }
                var settings = SpoolForwardSettings(name: name, url: destination.url, kind: kind)
                settings.headers = destination.headers
                settings.externalLabels = destination.externalLabels.pairs.map { Label($0.name, $0.value) }
                settings.batchWait = destination.batchWait.milliseconds
                settings.batchSize = destination.batchSize
                settings.timeout = destination.timeout.milliseconds
                settings.minBackoff = destination.minBackoff.milliseconds
                settings.maxBackoff = destination.maxBackoff.milliseconds
                settings.maxRetries = destination.maxRetries
                settings.maxSpoolBytes = Int(destination.spoolMaxSize.bytes)
                settings.http = destination.http
                do {
                    let forwarder = try SpoolForwarder(settings: settings, directory: directory + "/" + name, clients: clients,
                                                       metrics: metrics, logger: logger)
                    running[name] = Running(config: destination, forwarder: forwarder, logs: forwarder.logObserver,
                                            traces: forwarder.traceObserver, task: Task { await forwarder.run() })
                } catch {
                    logger.error("Forwarder cannot open its spool; nothing is forwarded to it", metadata: ["forwarder": "\(name)", "err": "\(error)"])
                }
            }
        }
    }

    func stopAll() async {
        await cancelAndWait(running.withLock { running in
            defer { running = [:] }
            return running.values.map(\.task)
        })
        await clients.shutdown()
    }

    func statuses() -> [(name: String, url: String, status: LogForwardStatus)] {
        running.withLock { running in
            running.values.map { ($0.forwarder.settings.name, $0.forwarder.settings.url, $0.forwarder.status) }
        }.sorted { $0.name < $1.name }
    }
}

/// Cancels every task, then waits for all of them to end.
private func cancelAndWait(_ tasks: [Task<Void, Never>]) async {
    for task in tasks { task.cancel() }
    for task in tasks { await task.value }
}

extension ScrapeManager {
    /// Every scrape target's metric family metadata, as remote write sends it.
    func remoteWriteMetadata() -> [RemoteWriteMetadata] {
        metadata().flatMap { target in
            target.families.sorted { $0.key < $1.key }.map { RemoteWriteMetadata(family: $0.key, type: $0.value.type, help: $0.value.help, unit: $0.value.unit) }
        }
    }
}
