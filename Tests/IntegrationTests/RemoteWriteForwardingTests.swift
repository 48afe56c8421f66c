import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `remote_write` against real receivers: Prometheus 2.42 (`--web.enable-remote-write-receiver`) and
/// VictoriaMetrics 1.79. The agent scrapes itself every second and receives pushed series; the
/// receiver goes down for longer than a batch deadline, the agent is restarted and then killed with
/// SIGKILL while it is down, the receiver comes back; then every series and its sample count in a
/// window are the same in the receiver and in the agent's own store: nothing missing, nothing twice.
@Suite(.serialized) struct RemoteWriteForwardingTests {
    static let prometheusBinary = "/usr/bin/prometheus"
    static let victoriaBinary = "/usr/bin/victoria-metrics"

    /// A receiver on a fixed port and data directory, so it can be stopped and started again.
    struct Receiver {
        let executable: String
        let arguments: [String]
        let port: Int

        func start() throws -> Process { try startPeer(executable, arguments) }

        static func prometheus(_ directory: String, port: Int, features: [String] = []) throws -> Receiver {
            try "scrape_configs: []\n".write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
            return Receiver(executable: prometheusBinary, arguments: [
                "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/receiver-data",
                "--web.listen-address=127.0.0.1:\(port)", "--web.enable-remote-write-receiver",
            ] + features.map { "--enable-feature=" + $0 }, port: port)
        }

        static func victoria(_ directory: String, port: Int) -> Receiver {
            Receiver(executable: victoriaBinary, arguments: [
                "-storageDataPath=\(directory)/receiver-data", "-httpListenAddr=127.0.0.1:\(port)", "-retentionPeriod=100y",
                "-search.latencyOffset=0s", "-search.disableCache",
            ], port: port)
        }

        var base: String { "http://127.0.0.1:\(port)" }

        func waitReady() async throws {
            let ready = try await AlertingIntegrationTests.eventually(seconds: 30) {
                (try? await http(.GET, base + "/api/v1/query?query=1"))?.status == 200
            }
            guard ready else { throw TestFailure("the receiver did not start") }
        }
    }

    /// Sample counts per series (labels rendered sorted) of `selector` in the `seconds` before `end`:
    /// the range vector itself, so that series keep their names. NaN values are left out:
    /// VictoriaMetrics 1.79 returns the staleness markers a clean shutdown writes, Prometheus does not.
    static func counts(_ base: String, _ selector: String, end: Double, seconds: Int) async throws -> [String: Int] {
        let query = "\(selector)[\(seconds)s]"
        let reply = try await http(.GET, base + "/api/v1/query?query=\(percent(query))&time=\(end)")
        var result: [String: Int] = [:]
        for entry in ((reply.json?["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? [] {
            let labels = (entry["metric"] as? [String: String] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let values = (entry["values"] as? [[Any]]) ?? []
            result[labels.joined(separator: ",")] = values.filter { ($0.last as? String) != "NaN" }.count
        }
        return result
    }

    /// With `relabel`, write relabeling drops Go's and the process's series (samples are then grouped
    /// by outgoing series); without, each sample goes out on its own.
    func forwardsEverythingOnce(relabel: Bool, _ makeReceiver: (String, Int) throws -> Receiver) async throws {
        let directory = AgentProcess.temporaryDirectory()
        let receiver = try makeReceiver(directory, try ScrapeIntegrationTests.freePort())
        var receiverProcess = try receiver.start()
        defer { receiverProcess.terminate() }
        try await receiver.waitReady()
        let port = try ScrapeIntegrationTests.freePort()
        try """
            global: {scrape_interval: 1s}
            scrape_configs:
              - job_name: agent
                static_configs: [{targets: ["127.0.0.1:\(port)"]}]
            remote_write:
              - url: \(receiver.base)/api/v1/write
                name: receiver
                remote_timeout: 5s
                queue_config: {batch_send_deadline: 1s, min_backoff: 50ms, max_backoff: 1s, max_samples_per_send: 500}
            \(relabel ? "    write_relabel_configs: [{source_labels: [__name__], regex: go_.*|process_.*, action: drop}]" : "")
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let arguments = ["--config.file=\(directory)/agent.yml", "--web.listen-address=127.0.0.1:\(port)"]
        var agent = try AgentProcess(arguments: arguments, directory: directory)
        try await agent.waitForListening()
        let start = Date().timeIntervalSince1970
        var pushed = 0
        func push() async throws {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let reply = try await remoteWrite(agent.baseURL, [WriteSeries(labels: [("__name__", "pushed_total"), ("job", "pushed")],
                                                                        samples: [(now, Double(pushed))])])
            #expect(reply.status == 204, "\(reply.body)")
            pushed += 1
        }
        for _ in 0..<5 {
            try await push()
            try await Task.sleep(for: .seconds(1))
        }
        // The receiver goes away for longer than a batch deadline; the agent restarts meanwhile,
        // once cleanly and once killed.
        receiverProcess.terminate()
        receiverProcess.waitUntilExit()
        for _ in 0..<3 {
            try await push()
            try await Task.sleep(for: .seconds(1))
        }
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
        agent = try AgentProcess(arguments: arguments, directory: directory)
        try await agent.waitForListening()
        for _ in 0..<3 {
            try await push()
            try await Task.sleep(for: .seconds(1))
        }
        agent.signal(SIGKILL)
        _ = try await agent.waitForExit()
        agent = try AgentProcess(arguments: arguments, directory: directory)
        try await agent.waitForListening()
        try await push()
        receiverProcess = try receiver.start()
        try await receiver.waitReady()
        for _ in 0..<3 {
            try await push()
            try await Task.sleep(for: .seconds(1))
        }
        // Everything up to a cut-off has reached the receiver once the queue has sent past it.
        let cut = Date().timeIntervalSince1970
        let caughtUp = try await AlertingIntegrationTests.eventually(seconds: 60) {
            let metrics = try await http(.GET, agent.baseURL + "/metrics").body
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("prometheus_remote_storage_queue_highest_sent_timestamp_seconds{") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 > cut + 1 } ?? false
        }
        #expect(caughtUp, "\(agent.log)")
        try await Task.sleep(for: .seconds(2))
        let end = cut - 1
        let seconds = Int(end - start) + 5
        for selector in ["{job=\"pushed\"}", "{job=\"agent\", __name__=~\"obs_.*|up|scrape_.*\"}"] {
            let local = try await Self.counts(agent.baseURL, selector, end: end, seconds: seconds)
            let remote = try await Self.counts(receiver.base, selector, end: end, seconds: seconds)
            #expect(!local.isEmpty)
            let differing = Set(local.keys).union(remote.keys).filter { local[$0] != remote[$0] }.sorted()
            #expect(differing.isEmpty, "\(selector): \(differing.count) of \(local.count) series differ, e.g. \(differing.prefix(5).map { "\($0): agent \(local[$0] ?? 0), receiver \(remote[$0] ?? 0)" })")
        }
        // Write relabeling dropped what it names.
        let dropped = try await Self.counts(receiver.base, "{__name__=~\"go_.*|process_.*\"}", end: end, seconds: seconds)
        #expect(dropped.isEmpty == relabel)
        let metrics = try await http(.GET, agent.baseURL + "/metrics").body
        #expect(metrics.contains("prometheus_remote_storage_samples_total{remote_name=\"receiver\""))
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: prometheusBinary), "needs Debian's prometheus 2.42"))
    func prometheusReceivesEverythingOnce() async throws {
        try await forwardsEverythingOnce(relabel: false) { try Receiver.prometheus($0, port: $1) }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: victoriaBinary), "needs Debian's victoria-metrics 1.79"))
    func victoriaMetricsReceivesEverythingOnce() async throws {
        try await forwardsEverythingOnce(relabel: true) { Receiver.victoria($0, port: $1) }
    }

    /// A receiver that refuses the first batch with 400 (dropped and counted as failed, as
    /// Prometheus does), hangs on the second (timed out by `remote_timeout` and retried), answers 503
    /// to the third (retried), then accepts: what it refused never comes again, the rest arrives, and
    /// the status API and `obsctl status` tell the story.
    @Test func refusedBatchesAreDroppedHangingAndFailingOnesRetried() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let receiverPort = try ScrapeIntegrationTests.freePort()
        let receiver = try startPython("""
            import http.server, threading, time
            lock = threading.Lock()
            calls = [0]
            class Receiver(http.server.BaseHTTPRequestHandler):
                protocol_version = 'HTTP/1.1'
                def do_POST(self):
                    self.rfile.read(int(self.headers['Content-Length']))
                    with lock:
                        calls[0] += 1
                        call = calls[0]
                    with open('\(directory)/calls.log', 'a') as f:
                        f.write('%d %s %s\\n' % (call, self.headers.get('Content-Encoding'), self.headers.get('X-Prometheus-Remote-Write-Version')))
                    if call == 2:
                        time.sleep(5)
                    status, body = {1: (400, b'out of order sample'), 3: (503, b'busy')}.get(call, (204, b''))
                    self.send_response(status)
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def log_message(self, *args):
                    pass
            http.server.ThreadingHTTPServer(('127.0.0.1', \(receiverPort)), Receiver).serve_forever()
            """, at: directory + "/receiver.py")
        defer { receiver.terminate() }
        let port = try ScrapeIntegrationTests.freePort()
        try """
            global: {scrape_interval: 1s}
            scrape_configs:
              - job_name: agent
                static_configs: [{targets: ["127.0.0.1:\(port)"]}]
            remote_write:
              - url: http://127.0.0.1:\(receiverPort)/receive
                name: flaky
                remote_timeout: 1s
                headers: {X-Scope-OrgID: node-a}
                queue_config: {batch_send_deadline: 1s, min_backoff: 50ms, max_backoff: 200ms}
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml", "--web.listen-address=127.0.0.1:\(port)"],
                                     directory: directory)
        try await agent.waitForListening()
        func metric(_ name: String) async throws -> Double {
            let body = try await http(.GET, agent.baseURL + "/metrics").body
            return body.split(separator: "\n").filter { $0.hasPrefix(name + "{") }
                .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        }
        let delivered = try await AlertingIntegrationTests.eventually(seconds: 30) {
            try await metric("prometheus_remote_storage_samples_total") > 0
        }
        #expect(delivered, "\(agent.log)")
        #expect(try await metric("prometheus_remote_storage_samples_failed_total") > 0)
        #expect(try await metric("prometheus_remote_storage_samples_retried_total") > 0)
        let calls = (try? String(contentsOfFile: directory + "/calls.log", encoding: .utf8)) ?? ""
        #expect(calls.hasPrefix("1 snappy 0.1.0"), "\(calls)")
        let status = try await http(.GET, agent.baseURL + "/api/v1/status/forwarding")
        let queue = ((status.json?["data"] as? [String: Any])?["remoteWrite"] as? [[String: Any]])?.first
        #expect(queue?["name"] as? String == "flaky" && (queue?["failed"] as? Int ?? 0) > 0, "\(status.body)")
        #expect((queue?["lastError"] as? String)?.contains("503") == true || (queue?["lastError"] as? String)?.contains("400") == true
                || (queue?["lastError"] as? String)?.lowercased().contains("deadline") == true, "\(status.body)")
        let obsctl = try await runTool("obsctl", ["--url", agent.baseURL, "status"])
        #expect(obsctl.output.contains("remote_write") && obsctl.output.contains("flaky"), "\(obsctl.output)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    /// `metadata_config`: every `send_interval`, the scraped families' `# TYPE`, `# HELP` and
    /// `# UNIT` go out beside the samples, each entry once, in requests of `max_samples_per_send`,
    /// decoded by a receiver of its own.
    @Test func metadataGoesOutEverySendInterval() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let receiverPort = try ScrapeIntegrationTests.freePort()
        let receiver = try await TelemetryReceiver(port: receiverPort, in: directory)
        let target = try startPython("""
            import http.server
            page = (b'# TYPE shop_orders counter\\n# HELP shop_orders Orders placed.\\nshop_orders_total 7\\n'
                    b'# TYPE shop_queue_depth gauge\\n# HELP shop_queue_depth Orders waiting.\\nshop_queue_depth 3\\n'
                    b'# TYPE shop_latency_seconds histogram\\n# UNIT shop_latency_seconds seconds\\n# HELP shop_latency_seconds Time to serve.\\n'
                    b'shop_latency_seconds_bucket{le="+Inf"} 1\\nshop_latency_seconds_sum 0.2\\nshop_latency_seconds_count 1\\n# EOF\\n')
            class Target(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/openmetrics-text; version=1.0.0')
                    self.send_header('Content-Length', str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                def log_message(self, *args):
                    pass
            server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Target)
            open('\(directory)/target.port', 'w').write(str(server.server_address[1]))
            server.serve_forever()
            """, at: directory + "/target.py")
        defer { target.terminate() }
        guard let targetPort = try await KubernetesDiscoveryTests.readPort(directory + "/target.port") else { throw TestFailure("no target") }
        try """
            global: {scrape_interval: 1s}
            scrape_configs:
              - job_name: shop
                static_configs: [{targets: ["127.0.0.1:\(targetPort)"]}]
            remote_write:
              - url: http://127.0.0.1:\(receiverPort)/api/v1/write
                queue_config: {batch_send_deadline: 1s}
                metadata_config: {send_interval: 1s, max_samples_per_send: 2}
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml"], directory: directory)
        try await agent.waitForListening()
        let wanted = [
            "shop_latency_seconds histogram seconds Time to serve.",
            "shop_orders counter  Orders placed.",
            "shop_queue_depth gauge  Orders waiting.",
        ]
        // Two intervals' worth: each sends the three entries once.
        let sent = try await AlertingIntegrationTests.eventually(seconds: 30) { receiver.received.metadata.count >= 6 }
        let metadata = receiver.received.metadata
        #expect(sent && Set(metadata) == Set(wanted), "\(metadata)")
        #expect(metadata.prefix(3).sorted() == wanted, "\(metadata)")
        #expect(!receiver.received.samples.isEmpty)
        let metrics = try await http(.GET, agent.baseURL + "/metrics").body
        #expect(metrics.contains("prometheus_remote_storage_metadata_total{"), "\(metrics.count)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    /// `send_native_histograms`: native histograms received by the agent reach Prometheus 2.42
    /// (with its native-histograms feature) as integer histograms, and a range query answers the
    /// same there as in the agent's own store, bucket by bucket.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: prometheusBinary), "needs Debian's prometheus 2.42"))
    func nativeHistogramsReachPrometheus() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let receiver = try Receiver.prometheus(directory, port: try ScrapeIntegrationTests.freePort(), features: ["native-histograms"])
        let process = try receiver.start()
        defer { process.terminate() }
        try await receiver.waitReady()
        try """
            remote_write:
              - url: \(receiver.base)/api/v1/write
                send_native_histograms: true
                queue_config: {batch_send_deadline: 500ms}
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml"], directory: directory)
        try await agent.waitForListening()
        let now = Int64(Date().timeIntervalSince1970) * 1000
        var histograms: [WriteHistogram] = []
        for step in Int64(0)..<6 {
            let counts: [Int64] = [step, 2 * step, 1, step % 2]
            histograms.append(WriteHistogram.simple(now - 60_000 + step * 10_000, counts: counts, sum: Double(step) * 1.5))
        }
        let write = try await remoteWrite(agent.baseURL, [
            WriteSeries(labels: [("__name__", "rpc_latency_seconds"), ("service", "shop")], samples: [], histograms: histograms),
            WriteSeries(labels: [("__name__", "rpc_requests_total"), ("service", "shop")], samples: [(now - 30_000, 4), (now, 9)]),
        ])
        #expect(write.status == 204, "\(write.body)")
        let selector = #"{service="shop"}[5m]"#
        let query = "/api/v1/query?query=" + percent(selector) + "&time=\(Double(now) / 1000)"
        func points(_ base: String) async throws -> [String: String] {
            let reply = try await http(.GET, base + query)
            var out: [String: String] = [:]
            for entry in ((reply.json?["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? [] {
                let name = (entry["metric"] as? [String: String])?["__name__"] ?? "?"
                let values = entry["histograms"] ?? entry["values"] ?? []
                out[name] = String(decoding: try JSONSerialization.data(withJSONObject: values, options: [.sortedKeys]), as: UTF8.self)
            }
            return out
        }
        let arrived = try await AlertingIntegrationTests.eventually(seconds: 30) { try await points(receiver.base).count == 2 }
        try await Task.sleep(for: .seconds(1))
        let there = try await points(receiver.base)
        let here = try await points(agent.baseURL)
        #expect(arrived && here.count == 2, "\(there) \(agent.log)")
        #expect(there == here, "Prometheus: \(there)\nagent: \(here)")
        #expect(here["rpc_latency_seconds"]?.contains("buckets") == true, "\(here)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}
