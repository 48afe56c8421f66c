import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Rules against Debian's Alertmanager 0.25: alerts over remote-written, scraped and tailed data
/// fire and resolve, reach the Alertmanager with their labels, annotations and times, and come
/// out of its webhook; an alert firing before a restart (graceful or `kill -9`) fires again after
/// it without waiting `for` anew, and the Alertmanager never sees it resolved in between.
@Suite(.serialized) struct AlertingIntegrationTests {
    static let alertmanagerBinary = "/usr/bin/prometheus-alertmanager"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: alertmanagerBinary) }

    /// An Alertmanager whose single route sends everything to a webhook that appends each
    /// notification to `hook.jsonl`.
    final class Peer {
        let alertmanager = Process()
        let webhook: WebhookRecorder
        let port: Int

        /// Starts both and waits until they answer.
        static func start(directory: String) async throws -> Peer {
            let peer = try Peer(directory: directory)
            try await peer.webhook.waitUntilUp()
            let up = try await AlertingIntegrationTests.eventually(seconds: 30) {
                (try? await http(.GET, "http://127.0.0.1:\(peer.port)/-/ready"))?.status == 200
            }
            guard up else { throw TestFailure("the Alertmanager did not start") }
            return peer
        }

        private init(directory: String) throws {
            webhook = try WebhookRecorder(directory: directory)
            port = try ScrapeIntegrationTests.freePort()
            try """
            route:
              receiver: hook
              group_by: [alertname]
              group_wait: 1s
              group_interval: 1s
              repeat_interval: 1h
            receivers:
              - name: hook
                webhook_configs:
                  - url: \(webhook.url)/hook
            """.write(toFile: directory + "/am.yml", atomically: true, encoding: .utf8)
            alertmanager.executableURL = URL(fileURLWithPath: alertmanagerBinary)
            alertmanager.arguments = ["--config.file=\(directory)/am.yml", "--web.listen-address=127.0.0.1:\(port)",
                                      "--cluster.listen-address=", "--storage.path=\(directory)/am-data"]
            alertmanager.standardOutput = FileHandle.nullDevice
            alertmanager.standardError = FileHandle.nullDevice
            try alertmanager.run()
        }

        deinit {
            alertmanager.terminate()
        }

        /// The Alertmanager's current alerts.
        func alerts() async throws -> [[String: Any]] {
            let reply = try await http(.GET, "http://127.0.0.1:\(port)/api/v2/alerts")
            return (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [[String: Any]]) ?? []
        }

        /// Every alert of every webhook notification so far, with the notification's status.
        func notifications() -> [[String: Any]] {
            webhook.notifications().flatMap(\.alerts)
        }
    }

    static func eventually(seconds: Double = 20, _ check: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await check() { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return false
    }

    static func labels(_ alert: [String: Any]) -> [String: String] { alert["labels"] as? [String: String] ?? [:] }

    static func write(_ agent: AgentProcess, _ name: String, _ value: Double) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let reply = try await remoteWrite(agent.baseURL, [WriteSeries(labels: [("__name__", name), ("room", "lab")], samples: [(now, value)])])
        guard reply.status == 204 || reply.status == 200 else { throw TestFailure("remote write: \(reply.status) \(reply.body)") }
    }

    @Test(.enabled(if: available, "needs Debian's prometheus-alertmanager"))
    func rulesFireAndResolveThroughTheAlertmanager() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let peer = try await Peer.start(directory: directory)
        let logFile = directory + "/app.log"
        // Read from the beginning when the agent starts.
        try "2026-12-06 level=ERROR disk full\n".write(toFile: logFile, atomically: true, encoding: .utf8)
        try """
        groups:
          - name: metrics
            rules:
              - record: room:temperature:max
                expr: max by (room) (rw_temperature)
              - alert: TooHot
                expr: room:temperature:max > 30
                for: 2s
                labels:
                  severity: '{{ if gt $value 35.0 }}page{{ else }}ticket{{ end }}'
                annotations:
                  summary: '{{ $labels.room }} is at {{ $value | humanize }}°C'
              - alert: AgentScraped
                expr: up{job="self"} == 1
          - name: logs
            type: logql
            rules:
              - alert: ErrorsLogged
                expr: sum by (job) (count_over_time({job="app"} |= "ERROR" [1m])) > 0
                annotations:
                  summary: '{{ $value }} errors in {{ $labels.job }}'
        """.write(toFile: directory + "/rules.yml", atomically: true, encoding: .utf8)
        let config = directory + "/agent.yml"
        let port = try ScrapeIntegrationTests.freePort()
        try """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
          external_labels:
            cluster: it
        rule_files: [rules.yml]
        scrape_configs:
          - job_name: self
            static_configs: [{targets: ["127.0.0.1:\(port)"]}]
        alerting:
          alertmanagers:
            - static_configs: [{targets: ["127.0.0.1:\(peer.port)"]}]
        logs:
          inputs:
            - name: app
              paths: [\(logFile)]
              format: text
              kubernetes_labels: false
              start_at: beginning
              labels: {job: app}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(config)", "--web.listen-address=127.0.0.1:\(port)",
                                                 "--rules.alert.resend-delay=1s"], directory: directory)
        try await agent.waitForListening()

        try await Self.write(agent, "rw_temperature", 37)

        // All three reach the Alertmanager with their labels and annotations.
        var received: [[String: Any]] = []
        let all = try await Self.eventually(seconds: 60) {
            received = try await peer.alerts()
            return Set(received.compactMap { Self.labels($0)["alertname"] }) == ["TooHot", "AgentScraped", "ErrorsLogged"]
        }
        let rulesNow = try await http(.GET, agent.baseURL + "/api/v1/rules")
        #expect(all, "Alertmanager has: \(received)\nrules: \(rulesNow.body)\n\(agent.log)")
        let hot = try #require(received.first { Self.labels($0)["alertname"] == "TooHot" })
        #expect(Self.labels(hot) == ["alertname": "TooHot", "room": "lab", "severity": "page", "cluster": "it"])
        #expect((hot["annotations"] as? [String: String]) == ["summary": "lab is at 37°C"])
        #expect((hot["generatorURL"] as? String)?.contains("/graph?g0.expr=room%3Atemperature%3Amax+%3E+30&g0.tab=1") == true)
        let startsAt = try #require(hot["startsAt"] as? String)
        let endsAt = try #require(hot["endsAt"] as? String)
        #expect(startsAt < endsAt, "a firing alert ends in the future: \(startsAt) … \(endsAt)")
        let errors = try #require(received.first { Self.labels($0)["alertname"] == "ErrorsLogged" })
        #expect((errors["annotations"] as? [String: String]) == ["summary": "1 errors in app"])

        // The webhook gets them (the Alertmanager never reports resolved an alert it did not
        // notify as firing, so the temperature drops only once it did), and TooHot resolved.
        let notified = try await Self.eventually(seconds: 60) {
            peer.notifications().contains { Self.labels($0)["alertname"] == "TooHot" && $0["status"] as? String == "firing" }
        }
        #expect(notified, "webhook got: \(peer.notifications())")
        try await Self.write(agent, "rw_temperature", 20)
        let resolved = try await Self.eventually(seconds: 60) {
            peer.notifications().contains { Self.labels($0)["alertname"] == "TooHot" && $0["status"] as? String == "resolved" }
        }
        #expect(resolved, "webhook got: \(peer.notifications())")
        #expect(peer.notifications().contains { Self.labels($0)["alertname"] == "ErrorsLogged" })

        // The rules API and obsctl show them; the rule's health is good.
        let rules = try await http(.GET, agent.baseURL + "/api/v1/rules?type=alert&rule_name[]=TooHot")
        #expect(rules.body.contains(#""health":"ok""#) && rules.body.contains(#""name":"TooHot""#))
        #expect(!rules.body.contains("room:temperature:max\",\"query"))
        let listed = try await runTool("obsctl", ["alerts", "--url", agent.baseURL])
        #expect(listed.output.contains("AgentScraped") && listed.output.contains("firing"), "\(listed.output)")
        let ruleList = try await runTool("obsctl", ["rules", "--url", agent.baseURL])
        #expect(ruleList.output.contains("room:temperature:max") && ruleList.output.contains("ok"), "\(ruleList.output)")
    }

    @Test(.enabled(if: available, "needs Debian's prometheus-alertmanager"))
    func firingAlertsSurviveRestartsWithoutResolving() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let peer = try await Peer.start(directory: directory)
        try """
        groups:
          - name: restart
            rules:
              - alert: Hot
                expr: rw_heat > 1
                for: 20s
        """.write(toFile: directory + "/rules.yml", atomically: true, encoding: .utf8)
        let config = directory + "/agent.yml"
        try """
        global:
          evaluation_interval: 1s
        rule_files: [rules.yml]
        alerting:
          alertmanagers:
            - static_configs: [{targets: ["127.0.0.1:\(peer.port)"]}]
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let port = try ScrapeIntegrationTests.freePort()
        let arguments = ["--config.file=\(config)", "--web.listen-address=127.0.0.1:\(port)",
                         "--rules.alert.for-grace-period=1s", "--rules.alert.resend-delay=5s", "--query.lookback-delta=10m"]
        var agent = try AgentProcess(arguments: arguments, directory: directory)
        try await agent.waitForListening()
        try await Self.write(agent, "rw_heat", 5)
        func state(_ agent: AgentProcess) async throws -> String? {
            let reply = try await http(.GET, agent.baseURL + "/api/v1/alerts")
            let data = (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])?["data"] as? [String: Any]
            return ((data?["alerts"] as? [[String: Any]])?.first)?["state"] as? String
        }
        #expect(try await Self.eventually(seconds: 40) { try await state(agent) == "firing" })
        #expect(try await Self.eventually(seconds: 10) { !(try await peer.alerts()).isEmpty })

        for (index, signal) in [SIGTERM, SIGKILL].enumerated() {
            agent.signal(signal)
            _ = try await agent.waitForExit()
            let restarted = ContinuousClock.now
            agent = try AgentProcess(arguments: arguments, directory: directory, dataDirectory: agent.directory + "/data")
            try await agent.waitForListening()
            // Firing again well before `for` (20 s) could have passed anew.
            let firing = try await Self.eventually(seconds: 15) { try await state(agent) == "firing" }
            #expect(firing, "restart \(index): \(agent.log)")
            #expect(ContinuousClock.now - restarted < .seconds(15))
        }
        try await Task.sleep(for: .seconds(2))
        #expect(!peer.notifications().contains { $0["status"] as? String == "resolved" }, "\(peer.notifications())")
        #expect(try await peer.alerts().count == 1)
    }

    @Test func aBadRuleFileOnReloadKeepsTheRulesInForce() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let rules = directory + "/rules.yml"
        try "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n"
            .write(toFile: rules, atomically: true, encoding: .utf8)
        try "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n".write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml", "--web.enable-lifecycle"], directory: directory)
        try await agent.waitForListening()

        try "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up\n"
            .write(toFile: rules, atomically: true, encoding: .utf8)
        let refused = try await http(.POST, agent.baseURL + "/-/reload")
        #expect(refused.status == 500)
        #expect(refused.body.contains("rules.yml:5:15: groups[0].rules[0].expr: group \"g\", rule 1, \"job:up:sum\": could not parse expression"),
                "\(refused.body)")
        let kept = try await http(.GET, agent.baseURL + "/api/v1/rules")
        #expect(kept.body.contains(#""name":"job:up:sum""#))
        let metrics = try await http(.GET, agent.baseURL + "/metrics")
        #expect(metrics.body.contains("obs_config_last_reload_successful 0"))

        try "groups:\n  - name: g\n    rules:\n      - record: job:up:count\n        expr: count by (job) (up)\n"
            .write(toFile: rules, atomically: true, encoding: .utf8)
        let accepted = try await http(.POST, agent.baseURL + "/-/reload")
        #expect(accepted.status == 200)
        // The rule manager takes the new rules right after the reload answered.
        let replaced = try await Self.eventually(seconds: 10) {
            let body = try await http(.GET, agent.baseURL + "/api/v1/rules").body
            return body.contains(#""name":"job:up:count""#) && !body.contains("job:up:sum")
        }
        #expect(replaced)
    }
}
