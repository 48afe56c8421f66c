import ObsCore

/// Lets at most `limit` queries (PromQL and LogQL) run at once; the rest wait their turn in arrival
/// order, as Prometheus's `--query.max-concurrency` does. Queries hold a blocking-pool thread and
/// memory while they run, so this is what keeps a burst of heavy queries from starving ingest.
actor QueryGate {
    private let limit: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private let queries: Gauge

    init(limit: Int, metrics: MetricsRegistry) {
        self.limit = limit
        queries = metrics.gauge("prometheus_engine_queries", help: "The current number of queries being executed or waiting.").labels()
        metrics.gauge("prometheus_engine_queries_concurrent_max", help: "The max number of concurrent queries.").labels().set(Double(limit))
    }

    /// Runs `body` once a place is free.
    nonisolated func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await enter()
        do {
            let result = try await body()
            await leave()
            return result
        } catch {
            await leave()
            throw error
        }
    }

    private func enter() async {
        queries.add(1)
        if running < limit {
            running += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func leave() {
        queries.add(-1)
        // The place passes straight to the longest waiter.
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
