import AgentConfiguration
import LogIngest
import Logging
import MetricsTSDB
import NIOPosix
import ObsCore
import ServiceLifecycle
import TraceCollector
import UnixSignals

/// Owns the data directory and the stores in it. Marks the agent ready once storage is open, and on
/// graceful shutdown marks it not ready before releasing the directory, so that a load balancer stops
/// sending queries before the stores close.
struct StorageService: Service {
    let directory: DataDirectory
    let options: MetricsStore.Options
    var traceOptions = TraceStoreOptions()
    let stores: Stores
    let state: AgentState
    let logger: Logger
    /// How often the head is checked for a block to cut and retention is applied.
    var compactionInterval: Duration = .seconds(60)
    /// How often the log store checks whether its head is due for a segment.
    var logMaintenanceInterval: Duration = .seconds(5)
    /// Told of every log commit from the store's opening on, before anything is tailed.
    var logForwarders: SpoolForwarders?
    /// Told of every trace commit from the store's opening on.
    var traceForwarders: SpoolForwarders?

    func run() async throws {
        var options = self.options
        options.outOfOrderWindow = state.config.storage.outOfOrderTimeWindow.milliseconds
        options.maxExemplars = state.config.storage.maxExemplars
        let metrics = try await MetricsStore.open(
            directory: try directory.subdirectory("metrics"), options: options, metrics: state.metrics, logger: logger)
        state.onReload { config in
            metrics.setOutOfOrderWindow(config.storage.outOfOrderTimeWindow.milliseconds)
            metrics.setMaxExemplars(config.storage.maxExemplars)
        }
        stores.setMetrics(metrics)
        let logs = try await LogStore.open(directory: try directory.subdirectory("logs"), options: logOptions(),
                                           metrics: state.metrics, logger: Logger(label: "logs"))
        if let logForwarders {
            logForwarders.apply(state.config)
            logs.addCommitObserver(logForwarders)
            state.onReload { logForwarders.apply($0) }
        }
        stores.setLogs(logs)
        let traces = try await NIOThreadPool.singleton.runIfActive { [directory, traceOptions] in
            try TraceStore(directory: try directory.subdirectory("traces"), options: traceOptions, logger: Logger(label: "traces"))
        }
        if let traceForwarders {
            traceForwarders.apply(state.config)
            traces.addCommitObserver(traceForwarders)
            state.onReload { traceForwarders.apply($0) }
        }
        stores.setTraces(traces)
        state.setReady(true)
        logger.info("Storage opened; agent is ready", metadata: ["path": "\(directory.path)"])
        // Maintains the stores until the group shuts down; by then the HTTP server has drained its requests.
        let clock = ContinuousClock()
        var lastCompaction: ContinuousClock.Instant?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if lastCompaction.map({ clock.now - $0 >= compactionInterval }) ?? true {
                lastCompaction = clock.now
                await maintain("Compaction") { _ = try metrics.compact() }
            }
            await maintain("Log store maintenance") { try logs.maintain() }
            await maintain("Trace store maintenance") { try traces.maintain() }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: logMaintenanceInterval) }
        }
        state.setReady(false)
        stores.setTraces(nil)
        stores.setLogs(nil)
        stores.setMetrics(nil)
        try? await NIOThreadPool.singleton.runIfActive { traces.close() }
        try? await NIOThreadPool.singleton.runIfActive { logs.close() }
        // Writes the head snapshot: blocking work, kept off the cooperative pool.
        do { try await NIOThreadPool.singleton.runIfActive { metrics.close() } } catch { metrics.close() }
        logger.info("Storage closed", metadata: ["path": "\(directory.path)"])
    }
}

extension StorageService {
    /// Runs one store's housekeeping on the blocking pool; a failure is logged and retried next round.
    func maintain(_ what: String, _ work: @escaping @Sendable () throws -> Void) async {
        do {
            try await NIOThreadPool.singleton.runIfActive(work)
        } catch {
            logger.error("\(what) failed; will retry", metadata: ["err": "\(error)"])
        }
    }

    /// The log store's options from the configuration the agent started with.
    func logOptions() -> LogStore.Options {
        let settings = state.config.logs.storage.storeOptions
        var options = LogStore.Options()
        options.blockSize = settings.blockSize
        options.flushBytes = settings.flushBytes
        options.flushAge = settings.flushAge
        options.outOfOrderWindow = settings.window
        options.maxLineSize = settings.maxLine
        options.retentionPeriod = settings.retention
        options.retentionBytes = settings.retentionBytes
        return options
    }
}

/// Returns the allocator's free pages to the kernel every `interval` milliseconds (`FreedMemory`):
/// an ingest burst or a large query leaves tens of megabytes free inside the heap, and glibc keeps
/// up to 64 MiB at its top on purpose (see `ObsAgentCommand.run`), so that back-to-back queries do
/// not fault the same pages in again.
struct FreedMemoryService: Service {
    let time: any TimeSource
    var interval: Int64 = 1000

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await time.sleep(until: time.now() + interval) } catch { return }
                // Takes the arenas' locks for a moment: kept off the cooperative pool.
                try? await NIOThreadPool.singleton.runIfActive { FreedMemory.release() }
            }
        }
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

/// Reloads the configuration when the file (or a rule file or Alertmanager file it names) changed,
/// checked every `--config.auto-reload-interval`, as Prometheus 3's `auto-reload-config` does: a
/// ConfigMap mounted as a directory changes under a running pod, and this applies it without a
/// restart. A change that does not load is logged once and the configuration in force stays.
struct ConfigWatchService: Service {
    let state: AgentState
    /// Milliseconds, above zero.
    let interval: Int64
    let time: any TimeSource
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var lastFailure: String?
            while !Task.isCancelled {
                do { try await time.sleep(until: time.now() + interval) } catch { return }
                let fresh: AgentConfig
                do {
                    fresh = try state.loader.load()
                } catch {
                    if lastFailure != "\(error)" {
                        logger.error("Changed configuration does not load; the one in force stays", metadata: ["err": "\(error)"])
                        lastFailure = "\(error)"
                    }
                    continue
                }
                lastFailure = nil
                guard fresh != state.config else { continue }
                logger.info("Configuration file changed; reloading")
                try? state.reload()
            }
        }
    }
}
