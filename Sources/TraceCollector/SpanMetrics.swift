import ObsCore
import Synchronization

/// RED metrics from spans, as Tempo's metrics generator names them: per service, span name, kind and
/// status code, `traces_spanmetrics_calls_total` and the `traces_spanmetrics_latency` histogram
/// (seconds; `_bucket`, `_sum`, `_count`). Errors are the calls with
/// `status_code="STATUS_CODE_ERROR"`. Counts are cumulative since the agent started; `samples`
/// gives their current values for writing into the metrics store. Thread-safe.
public final class SpanMetrics: Sendable {
    /// Latency bucket bounds in seconds (Tempo's defaults).
    public static let buckets: [Double] = [0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384]

    struct Key: Hashable {
        var service: String
        var name: String
        var kind: SpanKind
        var status: StatusCode
    }

    struct Counts {
        var calls = 0
        var sum = 0.0
        /// Per bucket, not cumulative.
        var buckets = [Int](repeating: 0, count: SpanMetrics.buckets.count + 1)
    }

    /// Beyond this many series, new label combinations are counted under `span_name=""`.
    let maxSeries: Int
    private let state = Mutex<[Key: Counts]>([:])

    public init(maxSeries: Int = 10_000) {
        self.maxSeries = maxSeries
    }

    public func record(_ spans: [SpanInfo]) {
        state.withLock { state in
            for span in spans {
                var key = Key(service: span.service, name: span.name, kind: span.kind, status: span.status)
                if state[key] == nil && state.count >= maxSeries { key.name = "" }
                let seconds = Double(span.duration) / 1e9
                let bucket = Self.buckets.firstIndex { seconds <= $0 } ?? Self.buckets.count
                state[key, default: Counts()].calls += 1
                state[key]!.sum += seconds
                state[key]!.buckets[bucket] += 1
            }
        }
    }

    /// Every series's current value, as labels and value.
    public func samples() -> [(Labels, Double)] {
        let snapshot = state.withLock { $0 }
        var result: [(Labels, Double)] = []
        for (key, counts) in snapshot {
            let base = [Label("service", key.service), Label("span_name", key.name),
                        Label("span_kind", "SPAN_KIND_" + key.kind.name.uppercased()),
                        Label("status_code", "STATUS_CODE_" + key.status.name.uppercased())]
            func series(_ name: String, _ extra: [Label] = []) -> Labels { Labels([Label("__name__", name)] + base + extra) }
            result.append((series("traces_spanmetrics_calls_total"), Double(counts.calls)))
            result.append((series("traces_spanmetrics_latency_count"), Double(counts.calls)))
            result.append((series("traces_spanmetrics_latency_sum"), counts.sum))
            var cumulative = 0
            for (index, bound) in Self.buckets.enumerated() {
                cumulative += counts.buckets[index]
                result.append((series("traces_spanmetrics_latency_bucket", [Label("le", NumberText.text(bound))]), Double(cumulative)))
            }
            result.append((series("traces_spanmetrics_latency_bucket", [Label("le", "+Inf")]), Double(counts.calls)))
        }
        return result
    }
}
