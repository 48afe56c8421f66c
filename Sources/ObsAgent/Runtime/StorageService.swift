import Logging
import MetricsTSDB
import NIOPosix
import ObsCore
import ServiceLifecycle
import UnixSignals

/// Owns the data directory and the stores in it. Marks the agent ready once storage is open, and on
/// graceful shutdown marks it not ready before releasing the directory, so that a load balancer stops
/// sending queries before the stores close.
struct StorageService: Service {
    let directory: DataDirectory
    let options: MetricsStore.Options
    let stores: Stores
    let state: AgentState
    let logger: Logger
    /// How often the head is checked for a block to cut and retention is applied.
    var compactionInterval: Duration = .seconds(60)

    func run() async throws {
        var options = self.options
        options.outOfOrderWindow = state.config.storage.outOfOrderTimeWindow.milliseconds
        let metrics = try await MetricsStore.open(
            directory: try directory.subdirectory("metrics"), options: options, metrics: state.metrics, logger: logger)
        state.onReload { metrics.setOutOfOrderWindow($0.storage.outOfOrderTimeWindow.milliseconds) }
        stores.setMetrics(metrics)
        state.setReady(true)
        logger.info("Storage opened; agent is ready", metadata: ["path": "\(directory.path)"])
        // Compacts until the group shuts down; by then the HTTP server has drained its requests.
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                _ = try await NIOThreadPool.singleton.runIfActive { try metrics.compact() }
            } catch {
                logger.error("Compaction failed; will retry", metadata: ["err": "\(error)"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: compactionInterval) }
        }
        state.setReady(false)
        stores.setMetrics(nil)
        metrics.close()
        logger.info("Storage closed", metadata: ["path": "\(directory.path)"])
    }
}

/// Reloads the configuration on SIGHUP, as Prometheus does. A bad file is logged and ignored.
struct ReloadSignalService: Service {
    let state: AgentState

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            try? state.reload()
        }
    }
}
