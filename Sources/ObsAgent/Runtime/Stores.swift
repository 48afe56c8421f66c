import LogIngest
import MetricsTSDB
import ObsCore
import Synchronization
import TraceCollector

/// The stores, once `StorageService` has opened them. Routes ask for a store per request; before the
/// store is open (or after it closed) they get a 503 `unavailable` error, which clients retry.
/// Thread-safe.
final class Stores: Sendable {
    private let metricsStore = Mutex<MetricsStore?>(nil)
    private let logStore = Mutex<LogStore?>(nil)
    private let traceStore = Mutex<TraceStore?>(nil)

    func setTraces(_ store: TraceStore?) {
        traceStore.withLock { $0 = store }
    }

    func traces() throws -> TraceStore {
        guard let store = traceStore.withLock({ $0 }) else {
            throw APIError(.unavailable, "trace storage is not ready")
        }
        return store
    }

    func setLogs(_ store: LogStore?) {
        logStore.withLock { $0 = store }
    }

    func logs() throws -> LogStore {
        guard let store = logStore.withLock({ $0 }) else {
            throw APIError(.unavailable, "log storage is not ready")
        }
        return store
    }

    func setMetrics(_ store: MetricsStore?) {
        metricsStore.withLock { $0 = store }
    }

    func metrics() throws -> MetricsStore {
        guard let store = metricsStore.withLock({ $0 }) else {
            throw APIError(.unavailable, "storage is not ready")
        }
        return store
    }
}
