import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `deploy/grafana/` and `dashboards/` against a live agent holding what a node gives it: the
/// stand-in kubelet's pages scraped every second, pod logs tailed as the DaemonSet tails them, the
/// ConfigMap's rules with an alert firing and notified, spans turned into span metrics, and the
/// agent's own metrics. Every provisioned data source answers the request Grafana's "Save & test"
/// makes, and every dashboard query runs without error and every panel shows data
/// (`scripts/check-dashboards.py`).
@Suite(.serialized) struct GrafanaProvisioningTests {
    /// CRI log lines written now, as the kubelet writes them.
    static func criLines(_ lines: [(stream: String, text: String)]) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let now = formatter.string(from: Date())
        return lines.map { "\(now) \($0.stream) F \($0.text)\n" }.joined()
    }

    static let containers: [(directory: String, container: String)] = [
        ("shop_web-1_uid-web-1", "web"), ("shop_db-1_uid-db-1", "postgres"), ("kube-system_coredns-5d78c9869d-x2x9q_uid-dns", "coredns"),
    ]

    static func writeLogs(into pods: String, round: Int) throws {
        for (index, (directory, container)) in containers.enumerated() {
            let folder = pods + "/" + directory + "/" + container
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let path = folder + "/0.log"
            if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seekToEnd()
            handle.write(Data(criLines([
                ("stdout", "level=info msg=\"request served\" round=\(round) trace_id=4bf92f3577b34da6a3ce929d0e0e47\(index)\(round % 10)"),
                ("stdout", "level=debug msg=\"cache hit\" key=user:\(round)"),
                ("stderr", "level=warn msg=\"slow query\" took=\(120 + round)ms"),
                ("stderr", "ERROR connection reset by peer (round \(round))"),
            ]).utf8))
            try handle.close()
        }
    }

    static func postSpans(_ base: String, round: Int) async throws {
        let start = UInt64(Date().timeIntervalSince1970 * 1e9)
        var spans: [String] = []
        for index in 0..<6 {
            let status = index == 0 ? #","status":{"code":2}"# : ""
            spans.append("""
                {"traceId":"4bf92f3577b34da6a3ce929d0e0e47\(index)\(round % 10)","spanId":"00f067aa0ba902b\(index)","name":"GET /cart",\
                "kind":2,"startTimeUnixNano":"\(start)","endTimeUnixNano":"\(start + UInt64(20_000_000 * (index + 1)))"\(status)}
                """)
        }
        let body = """
            {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}},\
            {"key":"k8s.namespace.name","value":{"stringValue":"shop"}},{"key":"k8s.pod.name","value":{"stringValue":"web-1"}}]},\
            "scopeSpans":[{"spans":[\(spans.joined(separator: ","))]}]}]}
            """
        let reply = try await http(.POST, base + "/v1/traces", body: body, headers: [("Content-Type", "application/json")])
        #expect(reply.status == 200, "\(reply.body)")
    }

    @Test func provisionedDataSourcesAndEveryDashboardQueryAnswer() async throws {
        let directory = AgentProcess.temporaryDirectory()
        try await DeployTests.mountConfigMap(into: directory)
        try "token\n".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        let (kubelet, kubeletPort) = try await DeployTests.startKubelet(in: directory, tokenFile: directory + "/token", tls: nil)
        defer { kubelet.terminate() }
        let hook = try WebhookRecorder(directory: directory)
        defer { hook.process.terminate() }
        let pods = directory + "/pods"
        try Self.writeLogs(into: pods, round: 0)
        let port = try ScrapeIntegrationTests.freePort()
        let kubeletJob = { (name: String, path: String) in
            """
              - job_name: \(name)
                metrics_path: \(path)
                authorization: {credentials_file: \(directory)/token}
                static_configs: [{targets: ["127.0.0.1:\(kubeletPort)"], labels: {instance: node-a}}]
            """
        }
        try """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            rule_files: [rules.yml, watchdog.yml]
            scrape_configs:
              - job_name: obs-agent
                static_configs: [{targets: ["127.0.0.1:\(port)"]}]
            \(kubeletJob("kubelet", "/metrics"))
            \(kubeletJob("cadvisor", "/metrics/cadvisor"))
            \(kubeletJob("kubelet-probes", "/metrics/probes"))
            logs:
              inputs:
                - name: pods
                  paths: ["\(pods)/*/*/*.log"]
                  format: auto
                  kubernetes_labels: true
                  labels: {job: kubernetes-pods}
            # Forwarded to the agent's own remote-write receiver: every sample arrives again, identical.
            remote_write:
              - url: http://127.0.0.1:\(port)/api/v1/write
                name: self
                queue_config: {batch_send_deadline: 1s}
            alertmanager:
              route: {receiver: node, group_by: [alertname], group_wait: 1s, group_interval: 1s}
              receivers:
                - name: node
                  webhook_configs: [{url: "\(hook.url)/hook"}]
            """.write(toFile: directory + "/grafana-agent.yml", atomically: true, encoding: .utf8)
        try """
            groups:
              - name: watchdog
                rules:
                  - alert: Watchdog
                    expr: vector(1)
                    labels: {severity: none}
                    annotations: {summary: 'Always firing, so that the alerting pipeline is seen to work'}
            """.write(toFile: directory + "/watchdog.yml", atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/grafana-agent.yml", "--web.listen-address=127.0.0.1:\(port)"],
                                     directory: directory)
        try await agent.waitForListening()
        let base = agent.baseURL
        // A silence, so the silences panel has one to count.
        let silence = try await http(.POST, base + "/api/v2/silences", body: """
            {"matchers":[{"name":"alertname","value":"NeverFires","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z",
             "endsAt":"2099-01-01T00:00:00Z","createdBy":"test","comment":"for the dashboard"}
            """, headers: [("Content-Type", "application/json")])
        #expect(silence.status == 200, "\(silence.body)")
        // Span metrics are written every 15 s: three rounds give every rate two points or more.
        for round in 1...4 {
            try await Self.postSpans(base, round: round)
            try Self.writeLogs(into: pods, round: round)
            if round == 2 {
                // One rotation, as the kubelet rotates container logs.
                let current = pods + "/" + Self.containers[0].directory + "/" + Self.containers[0].container + "/0.log"
                try FileManager.default.moveItem(atPath: current, toPath: current + ".20261207-000000")
                try Self.writeLogs(into: pods, round: round)
            }
            try await Task.sleep(for: .seconds(11))
        }

        let provisioning = try await runProcess("/usr/bin/python3", [
            DeployTests.repository + "/scripts/check-grafana-provisioning.py", base,
            DeployTests.repository + "/deploy/grafana/provisioning/datasources/obs-agent.yaml",
            DeployTests.repository + "/deploy/grafana/provisioning/dashboards/obs-agent.yaml",
        ])
        #expect(provisioning.status == 0, "\(provisioning.output)")
        let dashboards = try FileManager.default.contentsOfDirectory(atPath: DeployTests.repository + "/dashboards")
            .filter { $0.hasSuffix(".json") }.sorted().map { DeployTests.repository + "/dashboards/" + $0 }
        #expect(dashboards.count == 5)
        let checked = try await runProcess("/usr/bin/python3", [DeployTests.repository + "/scripts/check-dashboards.py", base] + dashboards)
        #expect(checked.status == 0, "\(checked.output)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}
