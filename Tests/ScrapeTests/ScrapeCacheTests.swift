import ObsCore
@testable import Scrape
import Testing

/// An appender that records what it is given and hands out one reference per label set.
struct RecordingAppender: MetricsAppender {
    struct Sample: Equatable {
        var labels: Labels
        var timestamp: Int64
        var value: Double
        var ref: SeriesRef?
    }

    var samples: [Sample] = []
    var refs: [Labels: SeriesRef] = [:]
    var exemplars: [(ref: SeriesRef, exemplar: Exemplar)] = []

    mutating func append(_ labels: Labels, ref: SeriesRef?, timestamp: Int64, value: Double) throws(AppendError) -> SeriesRef {
        let assigned = refs[labels] ?? SeriesRef(refs.count + 1)
        refs[labels] = assigned
        samples.append(Sample(labels: labels, timestamp: timestamp, value: value, ref: ref))
        return assigned
    }

    mutating func appendHistogram(_ labels: Labels, ref: SeriesRef?, timestamp: Int64, histogram: FloatHistogram) throws(AppendError) -> SeriesRef {
        try append(labels, ref: ref, timestamp: timestamp, value: histogram.sum)
    }

    mutating func appendExemplar(_ ref: SeriesRef, _ exemplar: Exemplar) throws(AppendError) {
        exemplars.append((ref, exemplar))
    }

    mutating func commit() async throws {}
    mutating func rollback() { samples = [] }
}

/// The scrape cache across scrapes: series remembered by their bytes, staleness, churn.
@Suite struct ScrapeCacheTests {
    let job = ScrapeJob(name: "job", interval: 15_000, timeout: 10_000)
    let target = ScrapeTarget.build(["__address__": "host:9100"], group: TargetGroup(targets: [], source: "test"),
                                    job: ScrapeJob(name: "job", interval: 15_000, timeout: 10_000)).target!

    func scrape(_ cache: ScrapeCache, _ text: String, at timestamp: Int64, format: ExpositionFormat = .prometheusText,
                into appender: inout RecordingAppender) -> ScrapeCache.Outcome {
        appender.samples = []
        return Array(text.utf8).withUnsafeBytes { cache.append($0, format: format, timestamp: timestamp, target: target, job: job, into: &appender) }
    }

    /// OpenMetrics exemplars go to the store with the reference of their sample; one without a
    /// timestamp takes the sample's. The exemplar's labels are a set apart from the series'.
    @Test func exemplarsFollowTheirSamples() {
        let cache = ScrapeCache()
        var appender = RecordingAppender()
        let text = """
            # TYPE rpc_duration_seconds histogram
            rpc_duration_seconds_bucket{le="0.1",trace_id="series-label"} 3 # {trace_id="4bf92f3577b34da6"} 0.067 1700000000.123
            rpc_duration_seconds_bucket{le="+Inf",trace_id="series-label"} 5 # {trace_id="00f067aa0ba902b7",span_id="b7ad6b71"} 0.5
            rpc_duration_seconds_count{trace_id="series-label"} 5
            # EOF

            """
        let outcome = scrape(cache, text, at: 1_700_000_005_000, format: .openMetrics, into: &appender)
        #expect(outcome.problem == nil)
        #expect(appender.exemplars.count == 2)
        let first = appender.exemplars.first
        #expect(first?.exemplar.labels == Labels(["trace_id": "4bf92f3577b34da6"]))
        #expect(first?.exemplar.value == 0.067 && first?.exemplar.timestamp == 1_700_000_000_123)
        #expect(first?.ref == appender.refs[appender.samples[0].labels])
        let second = appender.exemplars.last
        #expect(second?.exemplar.labels == Labels(["trace_id": "00f067aa0ba902b7", "span_id": "b7ad6b71"]))
        #expect(second?.exemplar.timestamp == 1_700_000_005_000)
        // A broken exemplar is a broken exposition, as in Prometheus.
        let broken = scrape(cache, "a_total 1 # {trace_id=\"x\"} 1 2 3\n# EOF\n", at: 1_700_000_010_000, format: .openMetrics, into: &appender)
        #expect(broken.problem?.contains("after the exemplar") == true, "\(String(describing: broken.problem))")
    }

    static func exposition(_ range: Range<Int>, reversed: Bool = false) -> String {
        let lines = range.map { "requests_total{path=\"/p\($0)\"} \($0)\n" }
        return (reversed ? lines.reversed() : lines).joined()
    }

    @Test func aKnownSeriesIsNotAddedAgainWhateverTheOrder() {
        let cache = ScrapeCache()
        var appender = RecordingAppender()
        #expect(scrape(cache, Self.exposition(0..<50), at: 1000, into: &appender).seriesAdded == 50)
        #expect(appender.samples.allSatisfy { $0.ref == nil })
        let again = scrape(cache, Self.exposition(0..<50, reversed: true), at: 2000, into: &appender)
        #expect(again.seriesAdded == 0 && again.scraped == 50)
        // Every sample of the second scrape carries the reference the first one was given.
        #expect(appender.samples.allSatisfy { $0.ref != nil && $0.ref == appender.refs[$0.labels] })
        #expect(appender.samples.first?.labels["path"] == "/p49")
        #expect(appender.samples.first?.labels["instance"] == "host:9100")
    }

    @Test func vanishedSeriesGetOneStalenessMarker() {
        let cache = ScrapeCache()
        var appender = RecordingAppender()
        _ = scrape(cache, Self.exposition(0..<3), at: 1000, into: &appender)
        _ = scrape(cache, Self.exposition(0..<2), at: 2000, into: &appender)
        let stale = appender.samples.filter { $0.value.bitPattern == staleMarker.bitPattern }
        #expect(stale.map { $0.labels["path"] } == ["/p2"])
        #expect(stale.first?.timestamp == 2000)
        _ = scrape(cache, Self.exposition(0..<2), at: 3000, into: &appender)
        #expect(!appender.samples.contains { $0.value.bitPattern == staleMarker.bitPattern })
    }

    @Test func churnIsForgottenAndSurvivorsStayKnown() {
        let cache = ScrapeCache()
        var appender = RecordingAppender()
        // 1,200 series once, then only the first 100 for a dozen scrapes: the rest are dropped
        // from the cache, and the survivors are still recognised afterwards.
        _ = scrape(cache, Self.exposition(0..<1200), at: 1000, into: &appender)
        for step in 1...12 {
            let outcome = scrape(cache, Self.exposition(0..<100), at: 1000 + Int64(step) * 1000, into: &appender)
            #expect(outcome.seriesAdded == 0)
        }
        #expect(scrape(cache, Self.exposition(0..<100, reversed: true), at: 20_000, into: &appender).seriesAdded == 0)
        #expect(scrape(cache, Self.exposition(0..<150), at: 21_000, into: &appender).seriesAdded == 50)
    }

    @Test func metadataFollowsTheExposition() {
        let cache = ScrapeCache()
        var appender = RecordingAppender()
        _ = scrape(cache, "# HELP a_total First.\n# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 2\n", at: 1000, into: &appender)
        #expect(cache.takeMetadataChange())
        #expect(cache.metadata["a_total"] == MetricMetadata(type: "counter", help: "First.", unit: ""))
        #expect(cache.metadata["b"]?.type == "gauge")
        _ = scrape(cache, "# HELP a_total First.\n# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 2\n", at: 2000, into: &appender)
        #expect(!cache.takeMetadataChange())
        // The family `b` is gone from the target: so is its metadata.
        _ = scrape(cache, "# HELP a_total First.\n# TYPE a_total counter\na_total 1\n", at: 3000, into: &appender)
        #expect(cache.takeMetadataChange())
        #expect(cache.metadata["b"] == nil && cache.metadata["a_total"] != nil)
    }

    @Test func aSeriesRepeatedInOneScrapeIsOneEntry() {
        let cache = ScrapeCache()
        var appender = RecordingAppender()
        let outcome = scrape(cache, "a 1\nb 2\na 3\n", at: 1000, into: &appender)
        #expect(outcome.seriesAdded == 2 && outcome.scraped == 3)
        #expect(appender.samples.map(\.value) == [1, 2, 3])
    }
}
