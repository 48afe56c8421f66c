import Foundation
import NIOCore
import NIOHTTP1
import ObsCore
import Testing

/// Remote write into the real daemon, and the series, labels and label-values APIs over what it stored.
@Suite(.serialized) struct RemoteWriteTests {
    static func names(_ reply: HTTPReply) -> [String] { reply.json?["data"] as? [String] ?? [] }

    @Test func writeThenReadBackThroughTheMetadataAPIs() async throws {
        // No scrape jobs: the embedded default's self-scrape would add series of its own.
        let directory = AgentProcess.temporaryDirectory()
        try "scrape_configs: []\n".write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml"], directory: directory)
        try await agent.waitForListening()
        let base = agent.baseURL
        let written = try await remoteWrite(base, [
            WriteSeries(labels: [("__name__", "up"), ("job", "node"), ("instance", "a:9100")], samples: [(1000, 1), (16000, 1)]),
            WriteSeries(labels: [("__name__", "up"), ("job", "node"), ("instance", "b:9100")], samples: [(1000, 0)]),
            WriteSeries(labels: [("__name__", "http_requests_total"), ("job", "api"), ("code", "200")], samples: [(5000, 42)]),
        ])
        #expect(written.status == 204)

        let series = try await http(.GET, base + "/api/v1/series?match[]=up&start=0&end=100")
        #expect(series.status == 200)
        let data = series.json?["data"] as? [[String: String]]
        #expect(data?.count == 2)
        #expect(data?.first == ["__name__": "up", "job": "node", "instance": "a:9100"])

        // Grafana's form-encoded POST, with several selectors and `+` for spaces.
        let posted = try await http(.POST, base + "/api/v1/series",
                                    body: "match%5B%5D=up%7Binstance%3D%22b%3A9100%22%7D&match[]=%7Bjob%3D~%22a.%2B%22%7D",
                                    headers: [("Content-Type", "application/x-www-form-urlencoded")])
        #expect((posted.json?["data"] as? [[String: String]])?.map { $0["instance"] ?? $0["code"] ?? "" } == ["200", "b:9100"])

        #expect(Self.names(try await http(.GET, base + "/api/v1/labels")) == ["__name__", "code", "instance", "job"])
        #expect(Self.names(try await http(.GET, base + "/api/v1/label/__name__/values")) == ["http_requests_total", "up"])
        // (Brackets are escaped too: a raw `[` makes the client re-escape the whole query.)
        let values = try await http(.GET, base + "/api/v1/label/instance/values?match%5B%5D=up%7Bjob%3D%22node%22%7D")
        #expect(Self.names(values) == ["a:9100", "b:9100"])
        let limited = try await http(.GET, base + "/api/v1/label/instance/values?limit=1")
        #expect(Self.names(limited) == ["a:9100"])
        #expect((limited.json?["warnings"] as? [String])?.first == "results truncated due to limit")
        // Outside the time range nothing matches.
        #expect((try await http(.GET, base + "/api/v1/series?match[]=up&start=100&end=200").json?["data"] as? [Any])?.isEmpty == true)

        // Bad parameters: Prometheus's 400 bad_data.
        let noMatch = try await http(.GET, base + "/api/v1/series")
        #expect(noMatch.status == 400)
        #expect(noMatch.json?["errorType"] as? String == "bad_data")
        #expect(noMatch.json?["error"] as? String == "no match[] parameter provided")
        let badSelector = try await http(.GET, base + "/api/v1/series?match%5B%5D=up%7Bjob%3D%7D")
        #expect(badSelector.status == 400)
        #expect((badSelector.json?["error"] as? String)?.contains("parse error") == true)
        let badTime = try await http(.GET, base + "/api/v1/labels?start=yesterday")
        #expect(badTime.json?["error"] as? String == "invalid parameter \"start\": cannot parse \"yesterday\" to a valid timestamp")

        // Head cardinality, as Prometheus reports it.
        let tsdb = try await http(.GET, base + "/api/v1/status/tsdb")
        let stats = tsdb.json?["data"] as? [String: Any]
        let head = stats?["headStats"] as? [String: Any]
        #expect(head?["numSeries"] as? Int == 3)
        #expect(head?["minTime"] as? Int == 1000)
        #expect(head?["maxTime"] as? Int == 16000)
        let byName = stats?["seriesCountByMetricName"] as? [[String: Any]]
        #expect(byName?.first?["name"] as? String == "up")
        #expect(byName?.first?["value"] as? Int == 2)
        let pairs = stats?["seriesCountByLabelValuePair"] as? [[String: Any]]
        #expect(pairs?.prefix(2).compactMap { $0["name"] as? String } == ["__name__=up", "job=node"])

        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    @Test func rejectedSamplesGet400AndTheRestOfTheBatchIsStored() async throws {
        let agent = try AgentProcess(arguments: ["--web.max-request-body-size=64KB", "--web.max-decoded-body-size=128KB"])
        try await agent.waitForListening()
        let base = agent.baseURL
        #expect(try await remoteWrite(base, [WriteSeries(labels: [("__name__", "m")], samples: [(10_000, 1)])]).status == 204)

        // Out of order for one series, new series alongside: 400 naming the problem, the new one stored.
        let mixed = try await remoteWrite(base, [
            WriteSeries(labels: [("__name__", "m")], samples: [(5_000, 2)]),
            WriteSeries(labels: [("__name__", "fresh")], samples: [(5_000, 2)]),
        ])
        #expect(mixed.status == 400)
        #expect(mixed.body.contains("out of order sample"))
        #expect(Self.names(try await http(.GET, base + "/api/v1/label/__name__/values")) == ["fresh", "m"])

        // Duplicate timestamp: same value accepted, different value rejected.
        #expect(try await remoteWrite(base, [WriteSeries(labels: [("__name__", "m")], samples: [(10_000, 1)])]).status == 204)
        let duplicate = try await remoteWrite(base, [WriteSeries(labels: [("__name__", "m")], samples: [(10_000, 9)])])
        #expect(duplicate.status == 400)
        #expect(duplicate.body.contains("duplicate sample for timestamp"))

        // Invalid label sets.
        let unnamed = try await remoteWrite(base, [WriteSeries(labels: [("job", "x")], samples: [(1, 1)])])
        #expect(unnamed.status == 400)
        #expect(unnamed.body.contains("missing metric name"))
        let twice = try await remoteWrite(base, [WriteSeries(labels: [("__name__", "a"), ("x", "1"), ("x", "2")], samples: [(1, 1)])])
        #expect(twice.body.contains("duplicate label name \"x\""))

        // Native histograms are stored and read back; an inconsistent one is refused with a reason
        // while the rest of its request is stored.
        let stored = try await remoteWrite(base, [
            WriteSeries(labels: [("__name__", "h")], samples: [], histograms: [.simple(1000, counts: [1, 2], sum: 4.5)]),
        ])
        #expect(stored.status == 204)
        let read = try await http(.GET, base + "/api/v1/query?query=h&time=2")
        #expect(read.body.contains(#""histogram":[2,{"count":"3","sum":"4.5","buckets":[[0,"0.5","1","1"],[0,"1","2","2"]]}]"#))
        let shown = try await runTool("obsctl", ["query", "h", "--url", base, "--time", "2"])
        #expect(shown.output.contains("count=3 sum=4.5 (0.5,1]:1 (1,2]:2"))
        var broken = WriteHistogram.simple(2000, counts: [1, 2], sum: 1)
        broken.spans = [(0, 3)]
        let histogram = try await remoteWrite(base, [
            WriteSeries(labels: [("__name__", "h")], samples: [], histograms: [broken]),
            WriteSeries(labels: [("__name__", "with_floats")], samples: [(1, 1)]),
        ])
        #expect(histogram.status == 400)
        #expect(histogram.body.contains("invalid native histogram: positive spans describe 3 buckets but 2 counts were sent"))
        #expect(Self.names(try await http(.GET, base + "/api/v1/label/__name__/values")).contains("with_floats"))

        // Malformed bodies.
        let notSnappy = try await remoteWrite(base, body: ByteBuffer(string: "definitely not snappy"))
        #expect(notSnappy.status == 400)
        #expect(notSnappy.body.contains("snappy"))
        var garbage = ByteBuffer()
        garbage.writeBytes([0x0A, 0xFF, 0x01, 0x02])
        let badProtobuf = try await remoteWrite(base, body: Snappy.compress(garbage))
        #expect(badProtobuf.status == 400)
        #expect(badProtobuf.body.contains("remote write: corrupt input"))
        // A small body that claims a huge decoded size is refused before decoding.
        var bomb = ByteBuffer()
        bomb.writeVarint(UInt64(1 << 30))
        bomb.writeBytes([UInt8](repeating: 0, count: 1000))
        let refused = try await remoteWrite(base, body: bomb)
        #expect(refused.status == 400)
        #expect(refused.body.contains("exceeds the limit of 131072 bytes"))
        let tooBig = try await remoteWrite(base, body: ByteBuffer(repeating: 1, count: 100_000))
        #expect(tooBig.status == 413)

        // The daemon is still healthy and kept what it accepted.
        #expect(try await http(.GET, base + "/-/ready").status == 200)
        let metrics = try await http(.GET, base + "/metrics")
        #expect(metrics.body.contains("obs_remote_write_samples_total{result=\"stored\"}"))
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    @Test func adminAPI() async throws {
        let disabled = try AgentProcess(arguments: [])
        try await disabled.waitForListening()
        let refused = try await http(.POST, disabled.baseURL + "/api/v1/admin/tsdb/snapshot")
        #expect(refused.status == 503)
        #expect(refused.json?["error"] as? String == "admin APIs disabled")
        disabled.signal(SIGTERM)
        _ = try await disabled.waitForExit()

        let agent = try AgentProcess(arguments: ["--web.enable-admin-api"])
        try await agent.waitForListening()
        let base = agent.baseURL
        #expect(try await remoteWrite(base, [
            WriteSeries(labels: [("__name__", "keep")], samples: [(1000, 1), (2000, 2)]),
            WriteSeries(labels: [("__name__", "drop")], samples: [(1000, 1), (2000, 2)]),
        ]).status == 204)
        let deleted = try await http(.POST, base + "/api/v1/admin/tsdb/delete_series",
                                     body: "match%5B%5D=drop", headers: [("Content-Type", "application/x-www-form-urlencoded")])
        #expect(deleted.status == 204)
        #expect(Self.names(try await http(.GET, base + "/api/v1/label/__name__/values")) == ["keep"])
        #expect(try await http(.POST, base + "/api/v1/admin/tsdb/clean_tombstones").status == 204)
        #expect(try await http(.POST, base + "/api/v1/admin/tsdb/delete_series").status == 400)

        let snapshot = try await http(.POST, base + "/api/v1/admin/tsdb/snapshot")
        #expect(snapshot.status == 200)
        let name = (snapshot.json?["data"] as? [String: Any])?["name"] as? String ?? ""
        #expect(!name.isEmpty)
        let contents = try FileManager.default.contentsOfDirectory(atPath: agent.directory + "/data/snapshots/" + name)
        #expect(contents.count == 1)  // the head, written as a block
        #expect(try await http(.POST, base + "/api/v1/admin/tsdb/snapshot?skip_head=maybe").status == 400)

        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    @Test func outOfOrderWindowFollowsConfigReload() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let config = directory + "/obs-agent.yml"
        try "global:\n  scrape_interval: 15s\n".write(toFile: config, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(config)", "--web.enable-lifecycle"], directory: directory)
        try await agent.waitForListening()
        let base = agent.baseURL
        #expect(try await remoteWrite(base, [WriteSeries(labels: [("__name__", "m")], samples: [(50_000, 1)])]).status == 204)
        let rejected = try await remoteWrite(base, [WriteSeries(labels: [("__name__", "m")], samples: [(45_000, 1)])])
        #expect(rejected.status == 400)
        #expect(rejected.body.contains("out of order sample"))

        try "storage:\n  tsdb:\n    out_of_order_time_window: 10s\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try await http(.POST, base + "/-/reload").status == 200)
        #expect(try await remoteWrite(base, [WriteSeries(labels: [("__name__", "m")], samples: [(45_000, 1)])]).status == 204)
        let tooOld = try await remoteWrite(base, [WriteSeries(labels: [("__name__", "m")], samples: [(30_000, 1)])])
        #expect(tooOld.status == 400)
        #expect(tooOld.body.contains("too old"))
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}
