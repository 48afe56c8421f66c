import ObsCore
import QueryEngine
import Testing

/// Queries built to hit numeric edges: each must end in a result or a `PromQLError`, never a trap.
@Suite struct HostileQueryTests {
    static let queries = [
        "up offset 1e30", "up offset -1e30", "up @ 1e300", "up @ -9e15", "up[1e30]", "rate(up[1e-30])",
        "up[1y:1ms]", "sum_over_time(up[5m:1e-9])", "up offset (1/0)", "up[(0/0)]", "topk(1e30, up)",
        "topk(-1e30, up)", "limitk(NaN, up)", "limit_ratio(Inf, up)", "quantile(NaN, up)",
        "histogram_quantile(2, up)", "round(up, 0)", "clamp(up, Inf, -Inf)", "label_replace(up, \"a\", \"$99\", \"instance\", \"(.*)\")",
        "label_replace(up, \"a\", \"x\", \"instance\", \"(\")", "count_values(\"\", up)", "1 % 0", "-(-(-up))",
        "up offset 5m @ end() offset 1m", "vector(1)[5m:1m] @ start()", "max_of(1, (0/0))",
        String(repeating: "(", count: 200) + "1" + String(repeating: ")", count: 200),
    ]

    @Test(arguments: queries)
    func endsInAResultOrAnError(_ query: String) {
        var options = EngineOptions()
        options.maxSamples = 100_000
        let engine = PromQLEngine(options: options)
        let store = EngineLimitTests.store
        do {
            _ = try engine.instantQuery(query, at: 600_000, on: store)
            _ = try engine.rangeQuery(query, start: 0, end: 600_000, step: 60_000, on: store)
        } catch {
            // A clean PromQLError is the expected way to refuse.
            #expect(!"\(error)".isEmpty)
        }
    }
}
