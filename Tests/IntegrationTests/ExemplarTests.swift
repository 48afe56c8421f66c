import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Exemplars end to end: from an OpenMetrics scrape and from remote write into the store, out of
/// `/api/v1/query_exemplars` in Prometheus's shape (what Grafana's exemplar toggle reads), and
/// still there after a `kill -9`.
@Suite(.serialized) struct ExemplarTests {
    static func exemplars(_ base: String, _ query: String, start: String = "0", end: String = "9999999999") async throws -> [[String: Any]] {
        let reply = try await http(.POST, base + "/api/v1/query_exemplars", body: "query=\(percent(query))&start=\(start)&end=\(end)",
                                   headers: [("Content-Type", "application/x-www-form-urlencoded")])
        return (reply.json?["data"] as? [[String: Any]]) ?? []
    }

    static func traces(_ found: [[String: Any]]) -> [String] {
        found.flatMap { ($0["exemplars"] as? [[String: Any]] ?? []).compactMap { ($0["labels"] as? [String: String])?["trace_id"] } }
    }

    @Test func scrapedAndWrittenExemplarsAreServedAndSurviveKill9() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let port = try ScrapeIntegrationTests.freePort()
        let server = try startPython("""
            import http.server
            body = (b'# TYPE rpc_requests counter\\n'
                    b'rpc_requests_total{method="get"} 17 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 1 1700000000.5\\n'
                    b'# EOF\\n')
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/openmetrics-text; version=1.0.0; charset=utf-8')
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def log_message(self, *args):
                    pass
            http.server.ThreadingHTTPServer(('127.0.0.1', \(port)), Handler).serve_forever()
            """, at: directory + "/openmetrics.py")
        defer { server.terminate() }
        try """
            global: {scrape_interval: 1s}
            scrape_configs:
              - job_name: rpc
                static_configs: [{targets: ["127.0.0.1:\(port)"]}]
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        var agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml"], directory: directory)
        try await agent.waitForListening()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let written = try await remoteWrite(agent.baseURL, [WriteSeries(
            labels: [("__name__", "checkout_latency_seconds_bucket"), ("le", "0.5"), ("job", "shop")],
            samples: [(now - 1000, 3), (now, 4)],
            exemplars: [([("trace_id", "00f067aa0ba902b7")], 0.42, now)])])
        #expect(written.status == 204, "\(written.body)")
        var scraped: [[String: Any]] = []
        for _ in 0..<100 {
            scraped = try await Self.exemplars(agent.baseURL, "rate(rpc_requests_total[5m])")
            if !scraped.isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        // The series as stored (target labels added) and the exemplar as exposed: seconds, value as a string.
        let entry = try #require(scraped.first)
        let series = entry["seriesLabels"] as? [String: String] ?? [:]
        #expect(series["__name__"] == "rpc_requests_total" && series["job"] == "rpc" && series["method"] == "get")
        let first = (entry["exemplars"] as? [[String: Any]])?.first
        #expect((first?["labels"] as? [String: String]) == ["trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"])
        #expect(first?["value"] as? String == "1")
        #expect((first?["timestamp"] as? Double) == 1_700_000_000.5)
        // The same exemplar on every scrape is stored once.
        try await Task.sleep(for: .seconds(2))
        #expect(Self.traces(try await Self.exemplars(agent.baseURL, "rpc_requests_total")).count == 1)
        // Written ones, selected by any selector of the query; the time range applies.
        let both = try await Self.exemplars(agent.baseURL, "checkout_latency_seconds_bucket{job=\"shop\"} / on() group_left rpc_requests_total")
        #expect(Set(Self.traces(both)) == ["00f067aa0ba902b7", "4bf92f3577b34da6a3ce929d0e0e4736"])
        #expect(try await Self.exemplars(agent.baseURL, "rpc_requests_total", start: "1700000001", end: "1700000002").isEmpty)
        let bad = try await http(.GET, agent.baseURL + "/api/v1/query_exemplars?query=sum(")
        #expect(bad.status == 400 && bad.json?["errorType"] as? String == "bad_data")

        agent.signal(SIGKILL)
        _ = try await agent.waitForExit()
        agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml"], directory: directory)
        try await agent.waitForListening()
        let after = try await Self.exemplars(agent.baseURL, "{job=~\"rpc|shop\"}")
        #expect(Set(Self.traces(after)) == ["00f067aa0ba902b7", "4bf92f3577b34da6a3ce929d0e0e4736"], "\(after)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}
