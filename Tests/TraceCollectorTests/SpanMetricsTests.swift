import ObsCore
import Testing
@testable import TraceCollector

/// RED metrics from spans: calls, errors (by status code) and the latency histogram per service,
/// span name, kind and status.
@Suite struct SpanMetricsTests {
    @Test func callsErrorsAndLatency() {
        let trace = TraceID(high: 1, low: 2)
        func span(_ id: UInt64, _ milliseconds: UInt64, error: Bool = false) -> Span {
            var span = Span(traceID: trace, spanID: id, name: "GET /cart", start: 0, end: milliseconds * 1_000_000)
            span.kind = .server
            if error { span.statusCode = .error }
            return span
        }
        let metrics = SpanMetrics()
        let batch = ResourceSpans(resource: [Attribute("service.name", .string("cart"))],
                                  scopes: [ScopeSpans(scope: InstrumentationScope(), spans: [span(1, 3), span(2, 100), span(3, 5, error: true)])])
        metrics.record(try! OTLPSplitter.split(OTLPEncoder.encode([batch])).spans)
        let samples = Dictionary(metrics.samples().map { ($0.0.description, $0.1) }, uniquingKeysWith: { a, _ in a })
        let ok = #"service="cart", span_kind="SPAN_KIND_SERVER", span_name="GET /cart", status_code="STATUS_CODE_UNSET""#
        let failed = #"service="cart", span_kind="SPAN_KIND_SERVER", span_name="GET /cart", status_code="STATUS_CODE_ERROR""#
        #expect(samples["traces_spanmetrics_calls_total{\(ok)}"] == 2)
        #expect(samples["traces_spanmetrics_calls_total{\(failed)}"] == 1)
        #expect(samples["traces_spanmetrics_latency_bucket{le=\"0.004\", \(ok)}"] == 1)
        #expect(samples["traces_spanmetrics_latency_bucket{le=\"0.128\", \(ok)}"] == 2)
        #expect(samples["traces_spanmetrics_latency_bucket{le=\"+Inf\", \(ok)}"] == 2)
        #expect(abs((samples["traces_spanmetrics_latency_sum{\(ok)}"] ?? 0) - 0.103) < 1e-9)
    }
}
