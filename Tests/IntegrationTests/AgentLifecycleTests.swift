import Foundation
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real daemon, started as a process on an ephemeral port: endpoints, reload by SIGHUP and by
/// HTTP with good and bad files, body limits, the data-dir lock, obsctl, and a clean SIGTERM exit.
@Suite(.serialized) struct AgentLifecycleTests {
    static let configA = """
        global:
          scrape_interval: 15s
        scrape_configs:
          - job_name: alpha
            static_configs:
              - targets: ["localhost:9100"]
        """
    static let configB = configA.replacingOccurrences(of: "alpha", with: "beta")
    static let badConfig = """
        global:
          scrape_interval: 15s
          scrape_timeoutt: 5s
        """

    @Test func fullLifecycle() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let configPath = directory + "/obs-agent.yml"
        try Self.configA.write(toFile: configPath, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(
            arguments: ["--config.file=\(configPath)", "--web.enable-lifecycle", "--web.max-request-body-size=1KB"],
            directory: directory)
        try await agent.waitForListening()
        let base = agent.baseURL

        // Health and readiness.
        let healthy = try await http(.GET, base + "/-/healthy")
        #expect(healthy.status == 200)
        let ready = try await http(.GET, base + "/-/ready")
        #expect(ready.status == 200)
        #expect(try await http(.HEAD, base + "/-/ready").status == 200)

        // Build info in Prometheus's shape, without `features` (which would make Grafana assume Mimir).
        let build = try await http(.GET, base + "/api/v1/status/buildinfo")
        #expect(build.status == 200)
        #expect(build.header("Content-Type") == "application/json")
        let buildData = build.json?["data"] as? [String: Any]
        #expect(build.json?["status"] as? String == "success")
        for key in ["version", "revision", "branch", "buildUser", "buildDate", "goVersion"] {
            #expect(buildData?[key] is String, "buildinfo lacks \(key)")
        }
        #expect(buildData?["features"] == nil)

        // Unknown paths: 404 with the Prometheus error JSON.
        let missing = try await http(.GET, base + "/api/v1/nope")
        #expect(missing.status == 404)
        #expect(missing.json?["status"] as? String == "error")
        #expect(missing.json?["errorType"] as? String == "not_found")

        // Bodies over --web.max-request-body-size are refused before the handler runs.
        let tooLarge = try await http(.POST, base + "/-/reload", body: String(repeating: "x", count: 2048))
        #expect(tooLarge.status == 413)
        #expect(tooLarge.json?["errorType"] as? String == "too_large")

        // Self metrics: process, build and per-handler HTTP series.
        let metrics = try await http(.GET, base + "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        for series in [
            "process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ", "process_max_fds ",
            "obs_agent_build_info{version=", "obs_agent_ready 1",
            "obs_http_requests_total{handler=\"/-/ready\",code=\"200\"} ",
            "obs_http_requests_total{handler=\"NotFound\",code=\"404\"} 1",
            "obs_http_request_duration_seconds_bucket{handler=\"/-/healthy\",le=\"+Inf\"} 1",
            "obs_config_last_reload_successful 1",
        ] {
            #expect(metrics.body.contains(series), "missing \(series)")
        }

        // SIGHUP with a good file: the new configuration is live.
        try Self.configB.write(toFile: configPath, atomically: true, encoding: .utf8)
        agent.signal(SIGHUP)
        try await agent.waitForLog { $0.contains("Completed loading of configuration file") }
        let afterGood = try await http(.GET, base + "/api/v1/status/config")
        #expect((afterGood.json?["data"] as? [String: Any])?["yaml"] as? String == Self.configB)

        // SIGHUP with a bad file: rejected with file, line and key; the old configuration keeps running.
        try Self.badConfig.write(toFile: configPath, atomically: true, encoding: .utf8)
        agent.signal(SIGHUP)
        try await agent.waitForLog { $0.contains("Error reloading config") }
        #expect(agent.log.contains("\(configPath):3:3: global.scrape_timeoutt: unknown key"))
        let afterBad = try await http(.GET, base + "/api/v1/status/config")
        #expect((afterBad.json?["data"] as? [String: Any])?["yaml"] as? String == Self.configB)
        let failedMetrics = try await http(.GET, base + "/metrics")
        #expect(failedMetrics.body.contains("obs_config_last_reload_successful 0"))
        #expect(failedMetrics.body.contains("obs_config_reloads_total{result=\"failure\"} 1"))

        // The same over HTTP: 500 with the reason.
        let httpReload = try await http(.POST, base + "/-/reload")
        #expect(httpReload.status == 500)
        #expect(httpReload.body.contains("failed to reload config: \(configPath):3:3"))

        // And a good file over HTTP.
        try Self.configA.write(toFile: configPath, atomically: true, encoding: .utf8)
        #expect(try await http(.POST, base + "/-/reload").status == 200)
        let restored = try await http(.GET, base + "/api/v1/status/config")
        #expect((restored.json?["data"] as? [String: Any])?["yaml"] as? String == Self.configA)

        // A second agent on the same data directory is refused.
        let intruder = try AgentProcess(arguments: [], directory: directory, dataDirectory: directory + "/data")
        #expect(try await intruder.waitForExit() == 1)
        #expect(intruder.log.contains("is in use by another process"))

        // obsctl against the running agent.
        let status = try await runTool("obsctl", ["--url", base, "status", "--output", "json"])
        #expect(status.status == 0)
        let statusJSON = (try? JSONSerialization.jsonObject(with: Data(status.output.utf8))) as? [String: Any]
        #expect(statusJSON?["ready"] as? Bool == true)
        #expect(statusJSON?["version"] as? String == buildData?["version"] as? String)
        let table = try await runTool("obsctl", ["status", "--url", base])
        #expect(table.output.contains("ready     yes"))

        // SIGTERM: graceful shutdown and exit 0.
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
        #expect(agent.log.contains("See you next time!"))
        #expect(agent.log.contains("Storage closed"))
    }

    @Test func badConfigAtStartupExitsNonZeroWithLocation() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let configPath = directory + "/bad.yml"
        try Self.badConfig.write(toFile: configPath, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(configPath)"], directory: directory)
        #expect(try await agent.waitForExit() == 1)
        #expect(agent.log.contains("\(configPath):3:3: global.scrape_timeoutt: unknown key \\\"scrape_timeoutt\\\""))
    }

    @Test func invalidFlagsAreUsageErrors() async throws {
        let result = try await runTool("obs-agent", ["--log.format=xml"])
        #expect(result.status == 64)
        #expect(result.output.contains("--log.format: unknown format \"xml\""))
    }

    @Test func sigintAndQuitAlsoShutDownCleanly() async throws {
        let first = try AgentProcess(arguments: [])
        try await first.waitForListening()
        first.signal(SIGINT)
        #expect(try await first.waitForExit() == 0)

        let second = try AgentProcess(arguments: ["--web.enable-lifecycle", "--log.format=json"])
        try await second.waitForListening(timeout: .seconds(20)).self
        #expect(try await http(.POST, second.baseURL + "/-/quit").status == 200)
        #expect(try await second.waitForExit() == 0)
    }

    /// On its embedded default, started where `examples/` is (as the README's first command does),
    /// the agent shows the sample pod logs as lines of the last ten minutes at once, and new lines
    /// keep coming: `obsctl logs` over its default range finds them.
    @Test func theEmbeddedDefaultShowsLiveSampleLogs() async throws {
        let directory = AgentProcess.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory + "/examples/logs", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: DeployTests.repository + "/examples/logs/pods", toPath: directory + "/examples/logs/pods")
        let agent = try AgentProcess(arguments: [], directory: directory)
        try await agent.waitForListening()
        func lines() async throws -> Int {
            let result = try await runTool("obsctl", ["--url", agent.baseURL, "logs", "{job=\"sample-pods\"}", "--limit", "5000"])
            return result.output.split(separator: "\n").count
        }
        var first = 0
        for _ in 0..<100 where first == 0 {
            first = try await lines()
            if first == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(first > 0)
        let more = try await AlertingIntegrationTests.eventually(seconds: 20) { try await lines() > first }
        #expect(more, "\(agent.log)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    @Test func lifecycleEndpointsNeedTheFlag() async throws {
        let agent = try AgentProcess(arguments: [])
        try await agent.waitForListening()
        #expect(try await http(.POST, agent.baseURL + "/-/reload").status == 403)
        #expect(try await http(.POST, agent.baseURL + "/-/quit").status == 403)
        let status = try await runTool("obsctl", ["--url", "http://127.0.0.1:1", "status"])
        #expect(status.status == 1)
        #expect(status.output.contains("connection refused"))
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    /// With `--config.auto-reload-interval`, a configuration swapped in the way Kubernetes updates a
    /// mounted ConfigMap (a new directory behind a symlink) is applied without a signal; a broken
    /// one is logged once and changes nothing.
    @Test func configurationSwappedUnderTheAgentIsApplied() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let manager = FileManager.default
        func publish(_ text: String, _ version: Int) throws {
            let folder = directory + "/..v\(version)"
            try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try text.write(toFile: folder + "/agent.yml", atomically: true, encoding: .utf8)
            try? manager.removeItem(atPath: directory + "/..data.tmp")
            try manager.createSymbolicLink(atPath: directory + "/..data.tmp", withDestinationPath: folder)
            guard rename(directory + "/..data.tmp", directory + "/..data") == 0 else { throw TestFailure("rename failed") }
        }
        try publish("alertmanager:\n  route: {receiver: first}\n  receivers: [{name: first}]\n", 1)
        try manager.createSymbolicLink(atPath: directory + "/agent.yml", withDestinationPath: "..data/agent.yml")
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml", "--config.auto-reload-interval=500ms"],
                                     directory: directory)
        try await agent.waitForListening()
        #expect(try await http(.GET, agent.baseURL + "/api/v2/receivers").body == #"[{"name":"first"}]"#)
        try publish("alertmanager:\n  route: {receiver: second}\n  receivers: [{name: second}]\n", 2)
        let applied = try await AlertingIntegrationTests.eventually(seconds: 10) {
            try await http(.GET, agent.baseURL + "/api/v2/receivers").body == #"[{"name":"second"}]"#
        }
        #expect(applied, "\(agent.log)")
        try publish("alertmanager:\n  route: {receiver: ghost}\n  receivers: [{name: second}]\n", 3)
        try await Task.sleep(for: .seconds(2))
        #expect(try await http(.GET, agent.baseURL + "/api/v2/receivers").body == #"[{"name":"second"}]"#)
        #expect(agent.log.components(separatedBy: "Changed configuration does not load").count == 2, "\(agent.log)")
    }
}
