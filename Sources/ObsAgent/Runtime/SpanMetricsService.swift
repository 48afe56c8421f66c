import Logging
import ObsCore
import ServiceLifecycle
import TraceCollector

/// Writes the span RED metrics into the metrics store every `interval`, as a scrape of the trace
/// pipeline would, so PromQL dashboards and alerts work on traces.
struct SpanMetricsService: Service {
    let metrics: SpanMetrics
    let stores: Stores
    let logger: Logger
    var interval: Duration = .seconds(15)

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await write()
        }
    }

    func write() async {
        let samples = metrics.samples()
        guard !samples.isEmpty, let store = try? stores.metrics() else { return }
        let now = WallClock.milliseconds()
        var appender = store.appender()
        do {
            for (labels, value) in samples { try appender.append(labels, ref: nil, timestamp: now, value: value) }
            try await appender.commit()
        } catch {
            appender.rollback()
            logger.error("Writing span metrics failed", metadata: ["err": "\(error)"])
        }
    }
}
