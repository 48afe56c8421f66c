import AgentConfiguration
import Logging
import ObsCore
import ObsYAML
import Synchronization

/// What the running daemon shares between its HTTP handlers and services: the current
/// configuration, readiness, self metrics, and the hooks for reload and shutdown.
/// Thread-safe; one instance per process.
final class AgentState: Sendable {
    let loader: ConfigLoader
    let metrics: MetricsRegistry
    let flags: [(String, String)]
    let startTime: Double
    let logger: Logger

    private let current: Mutex<AgentConfig>
    private let readyFlag = Atomic<Bool>(false)
    private let reloadLock = Mutex(())
    private let shutdownHook = Mutex<(@Sendable () async -> Void)?>(nil)
    private let reloadListeners = Mutex<[@Sendable (AgentConfig) -> Void]>([])

    private let readyGauge: Gauge
    private let reloadSuccessful: Gauge
    private let reloadTimestamp: Gauge
    private let reloadsTotal: CounterFamily

    init(config: AgentConfig, loader: ConfigLoader, metrics: MetricsRegistry, flags: [(String, String)],
         startTime: Double, logger: Logger) {
        self.current = Mutex(config)
        self.loader = loader
        self.metrics = metrics
        self.flags = flags
        self.startTime = startTime
        self.logger = logger
        readyGauge = metrics.gauge("obs_agent_ready", help: "Whether the agent has opened its storage and is ready to serve queries.")
            .labels()
        reloadSuccessful = metrics.gauge(
            "obs_config_last_reload_successful", help: "Whether the last configuration reload attempt was successful.").labels()
        reloadTimestamp = metrics.gauge(
            "obs_config_last_reload_success_timestamp_seconds", help: "Timestamp of the last successful configuration reload.")
            .labels()
        reloadsTotal = metrics.counter(
            "obs_config_reloads_total", help: "Configuration reload attempts by result.", labelNames: ["result"])
        reloadSuccessful.set(1)
        reloadTimestamp.set(startTime)
    }

    var config: AgentConfig { current.withLock { $0 } }

    /// Whether the last reload attempt succeeded, and when the configuration in force was loaded.
    var lastReloadSuccessful: Bool { reloadSuccessful.value == 1 }
    var lastConfigTime: Double { reloadTimestamp.value }

    var isReady: Bool { readyFlag.load(ordering: .acquiring) }

    func setReady(_ ready: Bool) {
        readyFlag.store(ready, ordering: .releasing)
        readyGauge.set(ready ? 1 : 0)
    }

    /// Re-reads the configuration. A bad file leaves the running configuration untouched and throws
    /// the error, which callers report (log line for SIGHUP, HTTP 500 body for `/-/reload`).
    func reload() throws(ConfigError) {
        let result: Result<AgentConfig, ConfigError> = reloadLock.withLock { _ in
            do throws(ConfigError) {
                let config = try loader.load()
                current.withLock { $0 = config }
                return .success(config)
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case let .success(config):
            for listener in reloadListeners.withLock({ $0 }) { listener(config) }
            reloadSuccessful.set(1)
            reloadTimestamp.set(WallClock.unixSeconds())
            reloadsTotal.labels("success").inc()
            logger.info("Completed loading of configuration file", metadata: ["file": "\(config.source)"])
        case let .failure(error):
            reloadSuccessful.set(0)
            reloadsTotal.labels("failure").inc()
            logger.error("Error reloading config, keeping the running configuration", metadata: ["err": "\(error)"])
            throw error
        }
    }

    /// Calls `listener` with every configuration a reload puts in force.
    func onReload(_ listener: @escaping @Sendable (AgentConfig) -> Void) {
        reloadListeners.withLock { $0.append(listener) }
    }

    /// The configuration in force now, then each one a reload puts in force (only the newest when
    /// a consumer falls behind). `finish` ends the stream.
    func configurations() -> (stream: AsyncStream<AgentConfig>, finish: @Sendable () -> Void) {
        let (configs, continuation) = AsyncStream<AgentConfig>.makeStream(bufferingPolicy: .bufferingNewest(1))
        continuation.yield(config)
        onReload { continuation.yield($0) }
        return (configs, { continuation.finish() })
    }

    /// Installs the function that starts a graceful shutdown (set once the service group exists).
    func onShutdownRequest(_ hook: @escaping @Sendable () async -> Void) {
        shutdownHook.withLock { $0 = hook }
    }

    func requestShutdown() async {
        await shutdownHook.withLock { $0 }?()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
