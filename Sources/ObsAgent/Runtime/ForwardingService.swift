import AgentConfiguration
import Forwarding
import Logging
import MetricsTSDB
import ObsCore
import OutboundHTTP
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
    let logger: Logger

    func run() async throws {
        let store: MetricsStore
        while true {
            if let open = try? stores.metrics() {
                store = open
                break
            }
            guard !Task.isShuttingDownGracefully else { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let clients = OutboundClients { $0.timeout.connect = .seconds(10) }
        let metrics = RemoteWriteMetrics(state.metrics)
        let (configs, finish) = state.configurations()
        await cancelWhenGracefulShutdown {
            for await config in configs {
                queues.apply(config, store: store, directory: directory, clients: clients, metrics: metrics, logger: logger)
            }
        }
        finish()
        await queues.stopAll()
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

    func apply(_ config: AgentConfig, store: MetricsStore, directory: String, clients: OutboundClients,
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
                settings.http = remote.http
                settings.capacity = remote.queue.capacity
                settings.minShards = remote.queue.minShards
                settings.maxShards = remote.queue.maxShards
                settings.maxSamplesPerSend = remote.queue.maxSamplesPerSend
                settings.batchSendDeadline = remote.queue.batchSendDeadline.milliseconds
                settings.minBackoff = remote.queue.minBackoff.milliseconds
                settings.maxBackoff = remote.queue.maxBackoff.milliseconds
                settings.retryOnHTTP429 = remote.queue.retryOnHTTP429
                let queue = RemoteWriteQueue(settings: settings, store: store, directory: directory, clients: clients,
                                             metrics: metrics, logger: logger)
                running[name] = Running(config: remote, externalLabels: external, queue: queue, task: Task { await queue.run() })
            }
        }
    }

    func stopAll() async {
        let tasks = running.withLock { running in
            defer { running = [:] }
            return running.values.map(\.task)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Each queue's name, URL and state.
    func statuses() -> [(name: String, url: String, status: RemoteWriteStatus)] {
        running.withLock { running in
            running.values.map { ($0.queue.settings.name, $0.queue.settings.url, $0.queue.currentStatus) }
        }.sorted { $0.name < $1.name }
    }
}
