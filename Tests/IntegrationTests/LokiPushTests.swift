import AsyncHTTPClient
import Foundation
import LogIngest
import Logging
import NIOCore
import NIOHTTP1
import ObsCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Loki push over HTTP: the encodings Loki clients send, the status codes they expect, and that a
/// partly refused push keeps its good entries.
@Suite(.serialized) struct LokiPushTests {
    func post(_ url: String, _ body: ByteBuffer, _ headers: [(String, String)]) async throws -> HTTPReply {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(body)
        let response = try await testClient.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return HTTPReply(status: Int(response.status.code), headers: [], body: String(buffer: bytes))
    }

    @Test func encodingsStatusesAndPartialRefusals() async throws {
        let agent = try AgentProcess(arguments: [])
        try await agent.waitForListening()
        let url = agent.baseURL + "/loki/api/v1/push"
        let now = WallClock.milliseconds() * 1_000_000

        // Snappy-compressed protobuf, as Promtail and Grafana Alloy send it.
        var writer = ProtobufWriter()
        writer.writeMessage(field: 1) { stream in
            stream.writeString(field: 1, #"{app="proto"}"#)
            stream.writeMessage(field: 2) { entry in
                entry.writeMessage(field: 1) { time in time.writeVarint(field: 1, UInt64(now / 1_000_000_000)) }
                entry.writeString(field: 2, "from protobuf")
                entry.writeMessage(field: 3) { pair in
                    pair.writeString(field: 1, "trace_id")
                    pair.writeString(field: 2, "t1")
                }
            }
        }
        let proto = try await post(url, Snappy.compress(writer.buffer), [("Content-Type", "application/x-protobuf")])
        #expect(proto.status == 204)

        // Gzip-encoded JSON.
        let json = #"{"streams":[{"stream":{"app":"gzip"},"values":[["\#(now)","from gzip"]]}]}"#
        let deflater = Deflater(format: .gzip)
        var gzipped = ByteBuffer()
        deflater.deflate(ByteBuffer(string: json), into: &gzipped)
        deflater.finish(into: &gzipped)
        let gzip = try await post(url, gzipped, [("Content-Type", "application/json"), ("Content-Encoding", "gzip")])
        #expect(gzip.status == 204)

        // One entry far behind its stream's newest is refused alone; the other is stored.
        let partial = try await http(.POST, url, body: #"{"streams":[{"stream":{"app":"gzip"},"values":[["1000","ancient"],["\#(now + 1)","fresh"]]}]}"#,
                                     headers: [("Content-Type", "application/json")])
        #expect(partial.status == 400)
        #expect(partial.body.contains("entry too far behind") && partial.body.contains("total ignored: 1 out of 2"))

        let broken = try await http(.POST, url, body: #"{"streams":[{"stream":{"app":"x"},"values":[["1","x"]"#,
                                    headers: [("Content-Type", "application/json")])
        #expect(broken.status == 400 && broken.body.contains("invalid JSON"))
        let unsupported = try await http(.POST, url, body: "x", headers: [("Content-Type", "text/plain")])
        #expect(unsupported.status == 415)
        let badSnappy = try await http(.POST, url, body: "not snappy", headers: [("Content-Type", "application/x-protobuf")])
        #expect(badSnappy.status == 400)

        let series = try await http(.GET, agent.baseURL + "/loki/api/v1/series")
        #expect(series.body.contains(#"{"app":"gzip"}"#) && series.body.contains(#"{"app":"proto"}"#))

        // Queries over what was pushed: pipeline, direction, limit, a metric query.
        let range = "&start=\(now - 60_000_000_000)&end=\(now + 60_000_000_000)"
        let fresh = try await http(.GET, agent.baseURL + "/loki/api/v1/query_range?query=" + percent(#"{app="gzip"} |= "fresh""#) + range)
        #expect(fresh.status == 200)
        let result = ((fresh.json?["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? []
        #expect(result.count == 1)
        #expect((result.first?["values"] as? [[String]])?.map { $0[1] } == ["fresh"])
        let newest = try await http(.GET, agent.baseURL + "/loki/api/v1/query_range?limit=1&query=" + percent(#"{app=~"gzip|proto"}"#) + range)
        let newestValues = (((newest.json?["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? []).flatMap { ($0["values"] as? [[String]]) ?? [] }
        #expect(newestValues.map { $0[1] } == ["fresh"])
        let metric = try await http(.GET, agent.baseURL + "/loki/api/v1/query?query=" + percent(#"sum(count_over_time({app="gzip"}[5m]))"#)
                                    + "&time=\(now + 60_000_000_000)")
        let sample = (((metric.json?["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first?["value"] as? [Any])?.last as? String
        #expect(metric.status == 200 && sample == "2")
        let categorized = try await http(.GET, agent.baseURL + "/loki/api/v1/query_range?query=" + percent(#"{app="proto"}"#) + range,
                                         headers: [("X-Loki-Response-Encoding-Flags", "categorize-labels")])
        #expect(categorized.body.contains(#""structuredMetadata":{"trace_id":"t1"}"#) && categorized.body.contains(#""encodingFlags":["categorize-labels"]"#))
        let wrong = try await http(.GET, agent.baseURL + "/loki/api/v1/query_range?query=" + percent(#"{app="gzip"} |= "#) + range)
        #expect(wrong.status == 400 && wrong.body.contains("parse error"))

        let formatted = try await http(.GET, agent.baseURL + "/loki/api/v1/format_query?query=" + percent(#"{app="gzip"}|="x""#))
        #expect(formatted.body == #"{"status":"success","data":"{app=\"gzip\"} |= \"x\""}"#)
        let thinned = try await http(.GET, agent.baseURL + "/loki/api/v1/query_range?interval=1h&query=" + percent(#"{app="gzip"}"#) + range)
        #expect(((((thinned.json?["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first?["values"]) as? [[String]])?.count == 1)

        // obsctl logs: lines oldest first with their labels, a metric query as a table, errors exit 1.
        let window = ["--start", String(now / 1_000_000_000 - 60), "--end", String(now / 1_000_000_000 + 60)]
        let lines = try await runTool("obsctl", ["logs", "--url", agent.baseURL, #"{app=~"gzip|proto"}"#] + window)
        #expect(lines.status == 0)
        #expect(lines.output.contains(#"{app="gzip"} from gzip"#) && lines.output.contains(#"{app="gzip"} fresh"#))
        let counted = try await runTool("obsctl", ["logs", "--url", agent.baseURL, #"sum(count_over_time({app="gzip"}[5m]))"#,
                                                   "--step", "1m"] + window)
        #expect(counted.status == 0 && counted.output.contains("SERIES") && counted.output.contains("2.0"))
        let refused = try await runTool("obsctl", ["logs", "--url", agent.baseURL, #"{app="gzip""#])
        #expect(refused.status == 1 && refused.output.contains("parse error"))

        agent.signal(SIGTERM)
        _ = try await agent.waitForExit()
        let store = try LogStore(directory: agent.directory + "/data/logs", metrics: MetricsRegistry(), logger: Logger(label: "verify"))
        defer { store.close() }
        let stored = try store.select([], start: 0, end: .max, direction: .forward, limit: 100, filter: nil)
        #expect(stored.flatMap { $0.entries.map(\.line) }.sorted() == ["fresh", "from gzip", "from protobuf"])
        #expect(stored.first { $0.labels["app"] == "proto" }?.entries.first?.metadata == Labels(["trace_id": "t1"]))
    }
}
