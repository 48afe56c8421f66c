import Foundation
import NIOHTTP1
import Testing

/// The Prometheus query API over remote-written data: shapes, status codes and error types as
/// Prometheus answers them, Grafana's form-encoded POST, and `obsctl query`.
@Suite(.serialized) struct QueryAPITests {
    @Test func queriesAnswerInPrometheusShapes() async throws {
        let agent = try AgentProcess(arguments: [])
        try await agent.waitForListening()
        let base = agent.baseURL
        // A counter every 15s for 10 minutes, on two instances.
        let samples = (0...40).map { (Int64($0) * 15_000, Double($0) * 30) }
        let written = try await remoteWrite(base, [
            WriteSeries(labels: [("__name__", "requests_total"), ("job", "api"), ("instance", "a")], samples: samples),
            WriteSeries(labels: [("__name__", "requests_total"), ("job", "api"), ("instance", "b")],
                        samples: samples.map { ($0.0, $0.1 * 2) }),
        ])
        #expect(written.status == 204)

        // Grafana's health check: POST, form-encoded.
        let health = try await http(.POST, base + "/api/v1/query", body: "query=1%2B1&time=4",
                                    headers: [("Content-Type", "application/x-www-form-urlencoded")])
        #expect(health.status == 200)
        #expect(health.body == #"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#)

        let instant = try await http(.GET, base + "/api/v1/query?query=sum%20by%20(job)%20(rate(requests_total%5B1m%5D))&time=600")
        let data = instant.json?["data"] as? [String: Any]
        #expect(data?["resultType"] as? String == "vector")
        let result = data?["result"] as? [[String: Any]]
        #expect(result?.first?["metric"] as? [String: String] == ["job": "api"])
        let rate = Double((result?.first?["value"] as? [Any])?.last as? String ?? "") ?? 0
        #expect(abs(rate - 6) < 1e-9)

        let range = try await http(.GET, base + "/api/v1/query_range?query=requests_total%7Binstance%3D%22a%22%7D&start=0&end=60&step=30")
        let matrix = (range.json?["data"] as? [String: Any])?["result"] as? [[String: Any]]
        let values = matrix?.first?["values"] as? [[Any]]
        #expect(values?.map { $0[1] as? String } == ["0", "60", "120"])

        // Errors: parse errors are 400 bad_data, evaluation errors 422 execution.
        let parse = try await http(.GET, base + "/api/v1/query?query=sum(")
        #expect(parse.status == 400)
        #expect(parse.json?["errorType"] as? String == "bad_data")
        #expect(parse.json?["error"] as? String == "invalid parameter \"query\": 1:5: parse error: unexpected end of input")
        let execution = try await http(.GET, base + "/api/v1/query?query=requests_total%20%2B%20on()%20requests_total&time=60")
        #expect(execution.status == 422)
        #expect(execution.json?["errorType"] as? String == "execution")
        let step = try await http(.GET, base + "/api/v1/query_range?query=up&start=0&end=60&step=0")
        #expect(step.status == 400)
        let resolution = try await http(.GET, base + "/api/v1/query_range?query=up&start=0&end=100000&step=1")
        #expect((resolution.json?["error"] as? String)?.hasPrefix("exceeded maximum resolution of 11,000 points") == true)
        let missing = try await http(.GET, base + "/api/v1/query")
        #expect(missing.status == 400)

        // Annotations: rate over a name that does not look like a counter is an info.
        let gauge = try await remoteWrite(base, [WriteSeries(labels: [("__name__", "temperature")], samples: samples)])
        #expect(gauge.status == 204)
        let info = try await http(.GET, base + "/api/v1/query?query=rate(temperature%5B1m%5D)&time=300")
        #expect((info.json?["infos"] as? [String])?.first?.hasPrefix("PromQL info: metric might not be a counter") == true)

        let formatted = try await http(.GET, base + "/api/v1/format_query?query=sum(x)by(job)")
        #expect(formatted.json?["data"] as? String == "sum by (job) (x)")
        let parsed = try await http(.GET, base + "/api/v1/parse_query?query=x%5B5m%5D")
        #expect((parsed.json?["data"] as? [String: Any])?["type"] as? String == "matrixSelector")
        #expect((try await http(.GET, base + "/api/v1/metadata")).status == 200)
        let runtime = (try await http(.GET, base + "/api/v1/status/runtimeinfo")).json?["data"] as? [String: Any]
        #expect(runtime?["reloadConfigSuccess"] as? Bool == true)
        #expect((runtime?["startTime"] as? String)?.hasSuffix("Z") == true)
        #expect(runtime?["storageRetention"] as? String == "15d")
        #expect((try await http(.GET, base + "/api/v1/query_exemplars?query=x&start=0&end=1")).json?["data"] as? [Any] != nil)

        // obsctl: instant as a table, range as JSON and as a chart, errors with exit 1.
        let table = try await runTool("obsctl", ["--url", base, "query", "requests_total", "--time", "600"])
        #expect(table.status == 0)
        #expect(table.output.contains("requests_total{instance=\"a\", job=\"api\"}  1200"))
        let json = try await runTool("obsctl", ["--url", base, "--output", "json", "query", "range", "requests_total",
                                                "--start", "0", "--end", "60", "--step", "30s"])
        #expect(json.output.hasPrefix("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\""))
        let chart = try await runTool("obsctl", ["--url", base, "--output", "chart", "query", "range", "requests_total",
                                                 "--start", "0", "--end", "600"])
        #expect(chart.status == 0)
        #expect(chart.output.contains("*  requests_total{instance=\"a\", job=\"api\"}"))
        // The time axis in readable times, the end as time of day on the same date.
        #expect(chart.output.contains("1970-01-01 00:00:00 UTC") && chart.output.contains("00:10:00 UTC"), "\(chart.output)")
        let failed = try await runTool("obsctl", ["--url", base, "query", "sum("])
        #expect(failed.status == 1)
        #expect(failed.output.contains("bad_data (HTTP 400): invalid parameter \"query\""))
        let usage = try await runTool("obsctl", ["--url", base, "query", "range", "up", "--since", "soon"])
        #expect(usage.status == 64)
    }
}
