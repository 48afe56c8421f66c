import Foundation
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Scraping real exporters: the daemon's own `/metrics` and Debian's `prometheus-node-exporter`,
/// found through a `file_sd_configs` file. Checks `up`, node metrics, relabeling of targets and
/// samples, the targets API and `obsctl targets`, and staleness when a target leaves the file.
@Suite(.serialized) struct ScrapeIntegrationTests {
    static let nodeExporter = "/usr/bin/prometheus-node-exporter"

    /// A loopback port nobody listens on right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func query(_ base: String, _ expr: String) async throws -> [[String: Any]] {
        let encoded = expr.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let reply = try await http(.GET, base + "/api/v1/query?query=" + encoded)
        let object = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any]
        return (object?["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
    }

    /// Polls `expr` until `done` holds for its result, for up to `seconds`.
    func eventually(_ base: String, _ expr: String, seconds: Double = 15,
                    _ done: ([[String: Any]]) -> Bool) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        var last: [[String: Any]] = []
        while ContinuousClock.now < deadline {
            last = try await query(base, expr)
            if done(last) { return last }
            try await Task.sleep(for: .milliseconds(200))
        }
        return last
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: nodeExporter)))
    func scrapesItselfAndNodeExporter() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let nodePort = try Self.freePort()
        let exporter = Process()
        exporter.executableURL = URL(fileURLWithPath: Self.nodeExporter)
        exporter.arguments = ["--web.listen-address=127.0.0.1:\(nodePort)"]
        exporter.standardOutput = FileHandle.nullDevice
        exporter.standardError = FileHandle.nullDevice
        try exporter.run()
        defer { exporter.terminate() }

        let targets = directory + "/targets.json"
        let config = directory + "/agent.yml"
        try """
        global:
          scrape_interval: 1s
        scrape_configs:
          - job_name: files
            file_sd_configs:
              - files: [\(targets)]
            relabel_configs:
              - source_labels: [role]
                target_label: job
              - action: labeldrop
                regex: role
            metric_relabel_configs:
              - source_labels: [__name__]
                regex: go_.*
                action: drop
        """.write(toFile: config, atomically: true, encoding: .utf8)
        try "[]".write(toFile: targets, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(config)"], directory: directory)
        try await agent.waitForListening()
        let base = agent.baseURL
        try """
        [
          {"targets": ["127.0.0.1:\(agent.port)"], "labels": {"role": "agent"}},
          {"targets": ["127.0.0.1:\(nodePort)"], "labels": {"role": "node"}}
        ]
        """.write(toFile: targets, atomically: true, encoding: .utf8)

        let up = try await eventually(base, "up == 1") { $0.count == 2 }
        let jobs = Set(up.compactMap { ($0["metric"] as? [String: String])?["job"] })
        #expect(jobs == ["agent", "node"], "up: \(up)")
        #expect(up.allSatisfy { ($0["metric"] as? [String: String])?["role"] == nil })
        let load = try await eventually(base, "node_load1{job=\"node\"}") { !$0.isEmpty }
        #expect(load.count == 1)
        #expect(try await query(base, "count(node_cpu_seconds_total)").count == 1)
        // Dropped by metric_relabel_configs.
        #expect(try await query(base, "go_goroutines").isEmpty)
        let agentSeries = try await eventually(base, "obs_agent_ready{job=\"agent\"}") { !$0.isEmpty }
        #expect(agentSeries.count == 1)
        let samples = try await query(base, "scrape_samples_post_metric_relabeling{job=\"node\"} < scrape_samples_scraped{job=\"node\"}")
        #expect(samples.count == 1)

        let api = try await http(.GET, base + "/api/v1/targets")
        #expect(api.body.contains(#""health":"up""#))
        #expect(api.body.contains(#""scrapeUrl":"http://127.0.0.1:\#(nodePort)/metrics""#))
        let listed = try await runTool("obsctl", ["targets", "--url", base])
        #expect(listed.output.contains("127.0.0.1:\(nodePort)"))
        #expect(listed.output.contains("up"))
        let metadata = try await http(.GET, base + "/api/v1/metadata?metric=node_load1")
        #expect(metadata.body.contains(#""type":"gauge""#))

        // The node exporter leaves the file: its series go stale at once instead of lingering for
        // the 5-minute lookback.
        try """
        [{"targets": ["127.0.0.1:\(agent.port)"], "labels": {"role": "agent"}}]
        """.write(toFile: targets, atomically: true, encoding: .utf8)
        let gone = try await eventually(base, "up{job=\"node\"}") { $0.isEmpty }
        #expect(gone.isEmpty)
        #expect(try await eventually(base, "node_load1") { $0.isEmpty }.isEmpty)
        #expect(try await query(base, "up{job=\"agent\"}").count == 1)

        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    /// A target that answers with a malformed exposition is down, with the parser's error, and
    /// keeps its `up` series at 0.
    @Test func badExpositionMarksTheTargetDown() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let config = directory + "/agent.yml"
        // The agent's own query API answers JSON, which is not an exposition.
        let targets = directory + "/targets.yml"
        try """
        global:
          scrape_interval: 1s
        scrape_configs:
          - job_name: broken
            metrics_path: /api/v1/status/buildinfo
            file_sd_configs:
              - files: [\(targets)]
        """.write(toFile: config, atomically: true, encoding: .utf8)
        try "[]\n".write(toFile: targets, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(config)"], directory: directory)
        try await agent.waitForListening()
        try "- targets: ['127.0.0.1:\(agent.port)']\n".write(toFile: targets, atomically: true, encoding: .utf8)
        let up = try await eventually(agent.baseURL, "up{job=\"broken\"}") { !$0.isEmpty }
        #expect((up.first?["value"] as? [Any])?.last as? String == "0")
        let api = try await http(.GET, agent.baseURL + "/api/v1/targets")
        #expect(api.body.contains(#""health":"down""#))
        #expect(api.body.contains(#""lastError":"line 1: "#))
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    /// A reload applies every changed scrape setting (here the timeout and a sample limit, with the
    /// same targets), without ending the series in between; a reload that fails changes nothing.
    @Test func aReloadAppliesEveryChangedScrapeSetting() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let config = directory + "/agent.yml"
        func write(timeout: String, limit: Int) throws {
            try """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: self
                scrape_timeout: \(timeout)
                sample_limit: \(limit)
                static_configs:
                  - targets: ['127.0.0.1:PORT']
            """.replacingOccurrences(of: "PORT", with: "\(port)").write(toFile: config, atomically: true, encoding: .utf8)
        }
        var port = 0
        try "scrape_configs: []\n".write(toFile: config, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(config)", "--web.enable-lifecycle"], directory: directory)
        try await agent.waitForListening()
        port = agent.port
        try write(timeout: "900ms", limit: 0)
        #expect(try await http(.POST, agent.baseURL + "/-/reload").status == 200)
        _ = try await eventually(agent.baseURL, "up{job=\"self\"}") { ($0.first?["value"] as? [Any])?.last as? String == "1" }
        #expect(try await http(.GET, agent.baseURL + "/api/v1/targets").body.contains(#""scrapeTimeout":"900ms""#))

        // Only the timeout and the sample limit change: the loop starts anew with them.
        try write(timeout: "500ms", limit: 1)
        #expect(try await http(.POST, agent.baseURL + "/-/reload").status == 200)
        let up = try await eventually(agent.baseURL, "up{job=\"self\"}") { ($0.first?["value"] as? [Any])?.last as? String == "0" }
        #expect((up.first?["value"] as? [Any])?.last as? String == "0", "a sample limit of 1 fails the scrape")
        let targets = try await http(.GET, agent.baseURL + "/api/v1/targets").body
        #expect(targets.contains(#""scrapeTimeout":"500ms""#))
        #expect(targets.contains("sample limit"))

        // A broken file changes nothing.
        try "scrape_configs:\n  - job_name: self\n    relabel_configs:\n      - regex: '('\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try await http(.POST, agent.baseURL + "/-/reload").status == 500)
        #expect(try await http(.GET, agent.baseURL + "/api/v1/targets").body.contains(#""scrapeTimeout":"500ms""#))
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}
