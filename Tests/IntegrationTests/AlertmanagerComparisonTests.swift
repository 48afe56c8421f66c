import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The embedded Alertmanager against Debian's Alertmanager 0.25, black box: the same
/// configuration, the same alerts, silences and resolves posted to both at the same moments, and
/// the webhook payloads compared; Prometheus 2.42 delivering to the daemon; state that survives
/// `kill -9`; webhooks that fail or hang.
@Suite(.serialized) struct AlertmanagerComparisonTests {
    static var peersAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: AlertingIntegrationTests.alertmanagerBinary)
    }

    static let groupInterval = 4.0

    /// The scenario's configuration; `hook` is the webhook base URL for one of the two servers.
    static func configuration(hook: String) -> String {
        """
        global:
          resolve_timeout: 5m
        route:
          receiver: default
          group_by: [alertname, cluster]
          group_wait: 2s
          group_interval: 4s
          repeat_interval: 13s
          routes:
            - matchers: ['team="db"']
              receiver: db
              continue: true
            - matchers: ['team=~"db|web"']
              receiver: team
              group_by: ['...']
        receivers:
          - name: default
            webhook_configs: [{url: '\(hook)/default'}]
          - name: db
            webhook_configs: [{url: '\(hook)/db', max_alerts: 2}]
          - name: team
            webhook_configs: [{url: '\(hook)/team', send_resolved: false}]
        inhibit_rules:
          - source_matchers: [severity="critical"]
            target_matchers: [severity="warning"]
            equal: [cluster]
        """
    }

    static func alertJSON(_ labels: [String: String], startsAt: Date, endsAt: Date? = nil) -> String {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var object: [String: Any] = ["labels": labels, "annotations": ["summary": "about \(labels["instance"] ?? "")"],
                                     "startsAt": format.string(from: startsAt), "generatorURL": "http://prom/graph"]
        if let endsAt { object["endsAt"] = format.string(from: endsAt) }
        return String(data: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), encoding: .utf8)!
    }

    /// Starts Debian's Alertmanager with `config`.
    static func startAlertmanager(directory: String, config: String) async throws -> (Process, String) {
        let port = try ScrapeIntegrationTests.freePort()
        try config.write(toFile: directory + "/am.yml", atomically: true, encoding: .utf8)
        let process = try startPeer(AlertingIntegrationTests.alertmanagerBinary, [
            "--config.file=\(directory)/am.yml", "--web.listen-address=127.0.0.1:\(port)",
            "--cluster.listen-address=", "--storage.path=\(directory)/am-data"
        ])
        let url = "http://127.0.0.1:\(port)"
        let up = try await AlertingIntegrationTests.eventually(seconds: 30) { (try? await http(.GET, url + "/-/ready"))?.status == 200 }
        guard up else { throw TestFailure("the Alertmanager did not start") }
        return (process, url)
    }

    /// Starts the agent with an `alertmanager:` section holding `config`.
    static func startAgent(directory: String, config: String, extra: [String] = []) async throws -> AgentProcess {
        let indented = config.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
        try "alertmanager:\n\(indented)\n".write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml"] + extra, directory: directory)
        try await agent.waitForListening()
        return agent
    }

    static func post(_ base: String, _ path: String, _ body: String) async throws -> HTTPReply {
        try await http(.POST, base + path, body: body, headers: [("Content-Type", "application/json")])
    }

    @Test(.enabled(if: peersAvailable, "needs Debian's prometheus-alertmanager"))
    func sameNotificationsAsAlertmanager025() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let hook = try WebhookRecorder(directory: directory)
        try await hook.waitUntilUp()
        let (peer, peerURL) = try await Self.startAlertmanager(directory: directory, config: Self.configuration(hook: hook.url + "/am"))
        defer { peer.terminate() }
        let agent = try await Self.startAgent(directory: directory, config: Self.configuration(hook: hook.url + "/agent"))
        let targets = [peerURL, agent.baseURL]
        let start = Date()
        let begin = Date().timeIntervalSince1970
        func both(_ path: String, _ body: String) async throws -> [HTTPReply] {
            var replies: [HTTPReply] = []
            for target in targets { replies.append(try await Self.post(target, path, body)) }
            return replies
        }
        func at(_ second: Double) async throws {
            let wait = begin + second - Date().timeIntervalSince1970
            if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
        }
        // t=0: three database alerts (one route with continue, one grouping by everything), a
        // critical alert that inhibits a warning in its cluster, and one that a silence will hold.
        let disk = (1...3).map { ["alertname": "Disk", "cluster": "c1", "team": "db", "instance": "i\($0)", "severity": "warning"] }
        let alerts = disk + [
            ["alertname": "CPU", "cluster": "c2", "team": "web", "instance": "i1", "severity": "critical"],
            ["alertname": "Mem", "cluster": "c2", "instance": "i9", "severity": "warning"],
            ["alertname": "Net", "cluster": "c3", "instance": "i5"],
        ]
        let body = "[" + alerts.map { Self.alertJSON($0, startsAt: start) }.joined(separator: ",") + "]"
        // t=0: silence Net before its alert arrives (so before its group can flush, however slowly
        // the two servers answer on a loaded machine); expire it half a group interval after the
        // groups' second flush time.
        let format = ISO8601DateFormatter()
        let silence = """
            {"matchers":[{"name":"instance","value":"i5","isRegex":false,"isEqual":true}],"startsAt":"\(format.string(from: Date()))",
             "endsAt":"\(format.string(from: Date().addingTimeInterval(3600)))","createdBy":"test","comment":"maintenance"}
            """
        var ids: [String] = []
        for reply in try await both("/api/v2/silences", silence) {
            #expect(reply.status == 200, "\(reply.body)")
            ids.append(reply.json?["silenceID"] as? String ?? "")
        }
        for reply in try await both("/api/v2/alerts", body) { #expect(reply.status == 200, "\(reply.body)") }
        // The silenced and inhibited states show in both APIs alike.
        try await at(1)
        var states: [[String: String]] = []
        for target in targets {
            let list = try JSONSerialization.jsonObject(with: Data(try await http(.GET, target + "/api/v2/alerts").body.utf8)) as? [[String: Any]] ?? []
            states.append(Dictionary(uniqueKeysWithValues: list.map { alert in
                let labels = alert["labels"] as? [String: String] ?? [:]
                let status = alert["status"] as? [String: Any] ?? [:]
                return ("\(labels["alertname"]!)/\(labels["instance"]!)",
                        "\(status["state"] as? String ?? "")/\((status["silencedBy"] as? [Any])?.count ?? -1)/\((status["inhibitedBy"] as? [Any])?.count ?? -1)")
            }))
        }
        #expect(states[0] == states[1], "alert states differ: Alertmanager \(states[0]) agent \(states[1])")
        #expect(states[1]["Net/i5"] == "suppressed/1/0" && states[1]["Mem/i9"] == "suppressed/0/1")
        // Every group came from the one post above, so each server flushes them all at its first
        // flush time plus whole group intervals. The later steps land half an interval between
        // flushes, on both servers: at fixed times, a step landing on a flush went into it on one
        // server and the next on the other when the machine was loaded.
        var phase = begin + 2
        while true {
            let firsts = ["/am/", "/agent/"].map { hook.notifications(under: $0).first?.time }
            if let am = firsts[0], let agentFirst = firsts[1] {
                phase = max(am, agentFirst) - begin
                break
            }
            guard Date().timeIntervalSince1970 - begin < 15 else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await at(phase + Self.groupInterval + Self.groupInterval / 2)
        for (target, id) in zip(targets, ids) {
            let reply = try await http(.DELETE, target + "/api/v2/silence/\(id)")
            #expect(reply.status == 200, "\(reply.body)")
        }
        // One interval later: Disk i2 resolves.
        try await at(phase + 2 * Self.groupInterval + Self.groupInterval / 2)
        let resolved = Self.alertJSON(disk[1], startsAt: start, endsAt: Date())
        for reply in try await both("/api/v2/alerts", "[" + resolved + "]") { #expect(reply.status == 200) }
        // Long enough for the repeat interval (13 s) to come round once for CPU (flushed first at
        // `phase`, again at the first flush 13 s on), and not for the groups notified later.
        try await at(phase + 4 * Self.groupInterval + 2)

        let peerEvents = hook.notifications(under: "/am/")
        let agentEvents = hook.notifications(under: "/agent/")
        func key(_ event: WebhookRecorder.Notification, prefix: String) -> String {
            String(event.path.dropFirst(prefix.count)) + " " + event.groupKey
        }
        let peerByKey = Dictionary(grouping: peerEvents) { key($0, prefix: "/am/") }
        let agentByKey = Dictionary(grouping: agentEvents) { key($0, prefix: "/agent/") }
        func render(_ events: [WebhookRecorder.Notification]) -> String {
            events.map { String(format: "  t=%.1f %@ %@ truncated=%d", $0.time - begin, $0.status, $0.alertSummary.joined(separator: ","), $0.truncated) }
                .joined(separator: "\n")
        }
        let report = Set(peerByKey.keys).union(agentByKey.keys).sorted().map { key in
            "\(key)\n Alertmanager:\n\(render(peerByKey[key] ?? []))\n agent:\n\(render(agentByKey[key] ?? []))"
        }.joined(separator: "\n")
        #expect(Set(peerByKey.keys) == Set(agentByKey.keys), "groups differ:\n\(report)")
        #expect(peerEvents.count >= 8, "the scenario produced too few notifications:\n\(report)")
        for (key, expected) in peerByKey {
            let got = agentByKey[key] ?? []
            guard got.count == expected.count else {
                Issue.record("\(key): \(expected.count) notifications from Alertmanager, \(got.count) from the agent:\n\(report)")
                continue
            }
            for (a, b) in zip(expected, got) {
                #expect(a.status == b.status && a.alertSummary == b.alertSummary && a.truncated == b.truncated, "\(key) differs:\n\(report)")
                #expect(abs((a.time - begin) - (b.time - begin)) <= Self.groupInterval, "\(key) timing differs:\n\(report)")
                // Every field of payload version 4 but externalURL (each server's own) matches.
                for field in ["receiver", "status", "groupLabels", "commonLabels", "commonAnnotations", "version", "groupKey", "truncatedAlerts"] {
                    #expect(NSDictionary(dictionary: a.body).value(forKey: field) as? NSObject == NSDictionary(dictionary: b.body).value(forKey: field) as? NSObject,
                            "\(key): \(field) differs: \(a.body[field] ?? "nil") vs \(b.body[field] ?? "nil")")
                }
                for (x, y) in zip(a.alerts, b.alerts) {
                    #expect(NSDictionary(dictionary: x).isEqual(to: y), "\(key): alert differs:\n\(x)\n\(y)")
                }
            }
        }
        // The scenario's points all happened: the resolve reached `db` truncated to two alerts,
        // the silenced alert came out after the silence expired, the inhibited one never did.
        let db = agentByKey["db {}/{team=\"db\"}:{alertname=\"Disk\", cluster=\"c1\"}"] ?? []
        #expect(db.contains { $0.truncated == 1 && $0.alertSummary.contains { $0.hasSuffix(":resolved") } }, "\(report)")
        #expect(agentEvents.contains { $0.groupKey.contains("Net") && $0.time - begin > 7 }, "\(report)")
        #expect(!agentEvents.contains { $0.groupKey.contains("Mem") }, "\(report)")
        let cpu = agentEvents.filter { $0.groupKey.contains("CPU") }
        #expect(cpu.count == 2 && cpu[1].time - cpu[0].time >= 13, "the repeat interval did not come round:\n\(report)")
    }
}

extension AlertmanagerComparisonTests {
    static var prometheusAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus") }

    static func quickConfig(hook: String, extraRoutes: String = "", extraReceivers: String = "") -> String {
        """
        route:
          receiver: hook
          group_by: [alertname]
          group_wait: 1s
          group_interval: 2s
          repeat_interval: 1h
        \(extraRoutes)
        receivers:
          - name: hook
            webhook_configs: [{url: '\(hook)/hook'}]
        \(extraReceivers)
        """
    }

    @Test(.enabled(if: prometheusAvailable, "needs Debian's prometheus"))
    func prometheusDeliversItsAlertsToTheDaemon() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let hook = try WebhookRecorder(directory: directory)
        try await hook.waitUntilUp()
        let agent = try await Self.startAgent(directory: directory, config: Self.quickConfig(hook: hook.url))
        let port = try ScrapeIntegrationTests.freePort()
        try """
        groups:
          - name: g
            rules:
              - alert: AlwaysOn
                expr: vector(1)
                labels: {severity: page}
                annotations: {summary: 'from prometheus'}
        """.write(toFile: directory + "/rules.yml", atomically: true, encoding: .utf8)
        try """
        global: {evaluation_interval: 1s}
        rule_files: [rules.yml]
        alerting:
          alertmanagers:
            - api_version: v2
              static_configs: [{targets: ['127.0.0.1:\(agent.port)']}]
        """.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try startPeer("/usr/bin/prometheus", [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/prom",
            "--web.listen-address=127.0.0.1:\(port)", "--rules.alert.resend-delay=1s"
        ])
        defer { prometheus.terminate() }
        let delivered = try await AlertingIntegrationTests.eventually(seconds: 40) {
            hook.notifications().contains { $0.alerts.contains { AlertingIntegrationTests.labels($0)["alertname"] == "AlwaysOn" } }
        }
        #expect(delivered, "webhook got: \(hook.notifications().map(\.body))\n\(agent.log)")
        let alert = try #require(hook.notifications().first?.alerts.first)
        #expect(AlertingIntegrationTests.labels(alert) == ["alertname": "AlwaysOn", "severity": "page"])
        #expect((alert["annotations"] as? [String: String]) == ["summary": "from prometheus"])
        #expect((alert["generatorURL"] as? String)?.contains("/graph?g0.expr=vector%281%29") == true)
        // The daemon's API shows it as Prometheus sent it.
        let listed = try await http(.GET, agent.baseURL + "/api/v2/alerts?filter=alertname%3D%22AlwaysOn%22")
        #expect(listed.body.contains("\"state\":\"active\"") && listed.body.contains("\"receivers\":[{\"name\":\"hook\"}]"), "\(listed.body)")
    }

    /// A silence and the notification log outlive `kill -9`: the silence is there after the
    /// restart, a firing alert already notified is not notified again, and an alert whose end
    /// passed while the daemon was down is notified resolved.
    @Test func silencesAndNotificationLogSurviveKill9() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let hook = try WebhookRecorder(directory: directory)
        try await hook.waitUntilUp()
        let config = Self.quickConfig(hook: hook.url)
        var agent = try await Self.startAgent(directory: directory, config: config)
        let now = Date()
        let body = "[" + Self.alertJSON(["alertname": "Ends", "instance": "a"], startsAt: now, endsAt: now.addingTimeInterval(6)) + ","
            + Self.alertJSON(["alertname": "Stays", "instance": "b"], startsAt: now) + "]"
        #expect(try await Self.post(agent.baseURL, "/api/v2/alerts", body).status == 200)
        let format = ISO8601DateFormatter()
        let silence = try await Self.post(agent.baseURL, "/api/v2/silences", """
            {"matchers":[{"name":"alertname","value":"Later.*","isRegex":true}],"startsAt":"\(format.string(from: now))",
             "endsAt":"\(format.string(from: now.addingTimeInterval(7200)))","createdBy":"ops","comment":"kept across kill -9"}
            """)
        let id = try #require(silence.json?["silenceID"] as? String)
        let notified = try await AlertingIntegrationTests.eventually(seconds: 10) { hook.notifications().count == 2 }
        #expect(notified, "\(hook.notifications().map(\.body))")
        // The log entry is written once the webhook answered; a kill in between is the one window in
        // which a notification can be sent twice (at-least-once, as in Alertmanager).
        try await Task.sleep(for: .seconds(2))

        agent.signal(SIGKILL)
        _ = try await agent.waitForExit()
        // "Ends" stops firing while the daemon is down.
        try await Task.sleep(for: .seconds(7))
        agent = try await Self.startAgent(directory: directory, config: config)
        let kept = try await http(.GET, agent.baseURL + "/api/v2/silence/\(id)")
        #expect(kept.status == 200 && kept.body.contains("kept across kill -9"), "\(kept.body)")
        let resolved = try await AlertingIntegrationTests.eventually(seconds: 10) {
            hook.notifications().contains { $0.status == "resolved" && $0.groupKey.contains("Ends") }
        }
        #expect(resolved, "the resolve due while down was not notified: \(hook.notifications().map(\.body))")
        try await Task.sleep(for: .seconds(4))
        let stays = hook.notifications().filter { $0.groupKey.contains("Stays") }
        #expect(stays.count == 1, "a firing alert already notified was notified again: \(stays.map(\.body))")
    }

    /// A webhook that answers 500 is retried; one that hangs holds up only its own receiver.
    @Test func failingAndHangingWebhooksDoNotBlockOthers() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let hook = try WebhookRecorder(directory: directory)
        try await hook.waitUntilUp()
        let config = Self.quickConfig(
            hook: hook.url,
            extraRoutes: "  routes:\n    - {matchers: [team=slow], receiver: slow}\n    - {matchers: [team=broken], receiver: broken}",
            extraReceivers: "  - {name: slow, webhook_configs: [{url: '\(hook.url)/hang/x'}]}\n  - {name: broken, webhook_configs: [{url: '\(hook.url)/fail/x'}]}")
        let agent = try await Self.startAgent(directory: directory, config: config)
        let now = Date()
        let body = "[" + ["slow", "broken", "fine"].map { Self.alertJSON(["alertname": "A", "team": $0], startsAt: now) }.joined(separator: ",") + "]"
        #expect(try await Self.post(agent.baseURL, "/api/v2/alerts", body).status == 200)
        let fine = try await AlertingIntegrationTests.eventually(seconds: 8) { !hook.notifications(under: "/hook").isEmpty }
        #expect(fine, "the healthy receiver waited on the others")
        let retried = try await AlertingIntegrationTests.eventually(seconds: 10) { hook.notifications(under: "/fail/").count >= 3 }
        #expect(retried, "a 500 was not retried: \(hook.notifications(under: "/fail/").count) attempts")
        let metrics = try await http(.GET, agent.baseURL + "/metrics").body
        #expect(metrics.contains("alertmanager_notification_requests_failed_total{integration=\"webhook\"}"))
    }

    /// Bad alerts, silences and parameters get the status codes Alertmanager 0.25 gives them.
    @Test(.enabled(if: peersAvailable, "needs Debian's prometheus-alertmanager"))
    func badInputGetsAlertmanagersAnswers() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let config = Self.quickConfig(hook: "http://127.0.0.1:9/")
        let (peer, peerURL) = try await Self.startAlertmanager(directory: directory, config: config)
        defer { peer.terminate() }
        let agent = try await Self.startAgent(directory: directory, config: config)
        let format = ISO8601DateFormatter()
        let later = format.string(from: Date().addingTimeInterval(3600)), past = format.string(from: Date().addingTimeInterval(-3600))
        let nowText = format.string(from: Date())
        let cases: [(String, String, String?)] = [
            ("POST", "/api/v2/alerts", #"[{"labels":{}}]"#),
            ("POST", "/api/v2/alerts", #"{"labels":{"a":"b"}}"#),
            ("POST", "/api/v2/alerts", #"[{"annotations":{"a":"b"}}]"#),
            ("POST", "/api/v2/alerts", #"[{"labels":{"0bad":"x"}}]"#),
            ("POST", "/api/v2/alerts", #"[{"labels":{"a":"b"},"startsAt":"2026-01-02T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}]"#),
            ("POST", "/api/v2/alerts", #"[{"labels":{"a":"b"},"startsAt":"yesterday"}]"#),
            ("POST", "/api/v2/alerts", #"[{"labels":{"a":1}}]"#),
            ("POST", "/api/v2/alerts", String(repeating: "[", count: 5000)),
            ("POST", "/api/v2/alerts", #"[{"labels":{"a":"b"}},{"labels":{}}]"#),
            ("POST", "/api/v2/silences", #"{"matchers":[{"name":"a","value":".*","isRegex":true}],"startsAt":"\#(nowText)","endsAt":"\#(later)","createdBy":"x","comment":"y"}"#),
            ("POST", "/api/v2/silences", #"{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"\#(past)","endsAt":"\#(past)","createdBy":"x","comment":"y"}"#),
            ("POST", "/api/v2/silences", #"{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"\#(later)","endsAt":"\#(nowText)","createdBy":"x","comment":"y"}"#),
            ("POST", "/api/v2/silences", #"{"matchers":[{"name":"a","value":"(","isRegex":true}],"startsAt":"\#(nowText)","endsAt":"\#(later)","createdBy":"x","comment":"y"}"#),
            ("POST", "/api/v2/silences", #"{"matchers":[{"name":"a","value":"b"}],"startsAt":"\#(nowText)","endsAt":"\#(later)","createdBy":"x","comment":"y"}"#),
            ("POST", "/api/v2/silences", #"{"id":"0b9d6bd4-6d3e-4c8c-a6b4-97a2e02a6a51","matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"\#(nowText)","endsAt":"\#(later)","createdBy":"x","comment":"y"}"#),
            ("GET", "/api/v2/silence/0b9d6bd4-6d3e-4c8c-a6b4-97a2e02a6a51", nil),
            ("DELETE", "/api/v2/silence/0b9d6bd4-6d3e-4c8c-a6b4-97a2e02a6a51", nil),
            ("GET", "/api/v2/silence/not-a-uuid", nil),
            ("GET", "/api/v2/alerts?filter=%3D%3Dx", nil),
            ("GET", "/api/v2/alerts?active=maybe", nil),
            ("GET", "/api/v2/alerts?receiver=%28", nil),
            ("GET", "/api/v2/silences?filter=a%3D%22b", nil),
            ("GET", "/alertmanager/api/v2/status", nil),
        ]
        var differences: [String] = []
        for (method, path, body) in cases {
            var statuses: [Int] = []
            var bodies: [String] = []
            for target in [peerURL, agent.baseURL] {
                let reply = try await http(method == "POST" ? .POST : method == "DELETE" ? .DELETE : .GET, target + path, body: body,
                                           headers: [("Content-Type", "application/json")])
                statuses.append(reply.status)
                bodies.append(String(reply.body.prefix(160)))
            }
            if statuses[0] != statuses[1] || (statuses[1] == 200 && method == "POST" && !path.contains("silences")) {
                differences.append("\(method) \(path) \(body?.prefix(80) ?? ""): Alertmanager \(statuses[0]) \(bodies[0]) | agent \(statuses[1]) \(bodies[1])")
            }
        }
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
        // Valid alerts in a batch with invalid ones are kept, as in Alertmanager.
        let kept = try await http(.GET, agent.baseURL + "/api/v2/alerts")
        #expect(kept.body.contains("\"a\":\"b\""), "\(kept.body)")
    }
}

extension AlertmanagerComparisonTests {
    /// amtool's workflow through obsctl: add a silence, see it muting an alert, list, expire;
    /// `check config` reads the alertmanager: section.
    @Test func obsctlSilencesAndAlerts() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let agent = try await Self.startAgent(directory: directory, config: Self.quickConfig(hook: "http://127.0.0.1:9"))
        let url = ["--url", agent.baseURL]
        let added = try await runTool("obsctl", ["silence", "add", "alertname=Disk", "instance=~\"db.*\"", "--duration", "2h",
                                                 "--comment", "upgrade", "--author", "ana"] + url)
        let id = added.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(added.status == 0 && UUID(uuidString: id) != nil, "\(added.output)")
        #expect(try await Self.post(agent.baseURL, "/api/v2/alerts", #"[{"labels":{"alertname":"Disk","instance":"db1"}}]"#).status == 200)
        let alerts = try await runTool("obsctl", ["alerts"] + url)
        #expect(alerts.output.contains("firing (suppressed)") && alerts.output.contains("silence \(id)") && alerts.output.contains("hook"),
                "\(alerts.output)")
        let list = try await runTool("obsctl", ["silence", "list"] + url)
        #expect(list.output.contains(id) && list.output.contains("instance=~\"db.*\"") && list.output.contains("active"), "\(list.output)")
        #expect(try await runTool("obsctl", ["silence", "expire", id] + url).status == 0)
        let after = try await runTool("obsctl", ["silence", "list"] + url)
        #expect(!after.output.contains(id), "\(after.output)")
        let again = try await runTool("obsctl", ["silence", "expire", id] + url)
        #expect(again.status != 0 && again.output.contains("already expired"), "\(again.output)")
        let bad = try await runTool("obsctl", ["silence", "add", "alertname=~\".*\"", "--comment", "x"] + url)
        #expect(bad.status != 0 && bad.output.contains("at least one matcher must not match the empty string"), "\(bad.output)")
        let check = try await runTool("obsctl", ["check", "config", directory + "/agent.yml"])
        #expect(check.status == 0 && check.output.contains("alertmanager: 1 receivers"), "\(check.output)")
        try "alertmanager:\n  route: {receiver: nobody}\n".write(toFile: directory + "/bad.yml", atomically: true, encoding: .utf8)
        let failed = try await runTool("obsctl", ["check", "config", directory + "/bad.yml"])
        #expect(failed.status != 0 && failed.output.contains("bad.yml:2:") && failed.output.contains("undefined receiver \"nobody\""), "\(failed.output)")
    }
}

extension AlertmanagerComparisonTests {
    /// The alertmanager: section reloads with the rest of the configuration: a good change is in
    /// force at once, a bad one fails the reload with its location and leaves the old one.
    @Test func reloadAppliesTheAlertmanagerSection() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let hook = try WebhookRecorder(directory: directory)
        try await hook.waitUntilUp()
        let agent = try await Self.startAgent(directory: directory, config: Self.quickConfig(hook: hook.url), extra: ["--web.enable-lifecycle"])
        #expect(try await http(.GET, agent.baseURL + "/api/v2/receivers").body == #"[{"name":"hook"}]"#)
        try """
        alertmanager:
          route: {receiver: team, group_by: [alertname], group_wait: 1s}
          receivers:
            - name: team
              webhook_configs: [{url: '\(hook.url)/renamed'}]
        """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let reloaded = try await http(.POST, agent.baseURL + "/-/reload")
        #expect(reloaded.status == 200, "\(reloaded.body)")
        #expect(try await http(.GET, agent.baseURL + "/api/v2/receivers").body == #"[{"name":"team"}]"#)
        #expect(try await Self.post(agent.baseURL, "/api/v2/alerts", #"[{"labels":{"alertname":"AfterReload"}}]"#).status == 200)
        let routed = try await AlertingIntegrationTests.eventually(seconds: 8) { !hook.notifications(under: "/renamed").isEmpty }
        #expect(routed, "\(hook.notifications().map(\.path))")
        try "alertmanager:\n  route: {receiver: ghost}\n  receivers: [{name: team}]\n".write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let refused = try await http(.POST, agent.baseURL + "/-/reload")
        #expect(refused.status == 500 && refused.body.contains("undefined receiver"), "\(refused.body)")
        #expect(try await http(.GET, agent.baseURL + "/api/v2/receivers").body == #"[{"name":"team"}]"#)
        // Without the section the Alertmanager is off.
        try "global: {scrape_interval: 15s}\n".write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        #expect(try await http(.POST, agent.baseURL + "/-/reload").status == 200)
        #expect(try await http(.GET, agent.baseURL + "/api/v2/status").status == 404)
    }
}

extension AlertmanagerComparisonTests {
    /// A webhook's `http_config` credentials (read from a file at each notification) and
    /// `url_file` reach the receiver.
    @Test func webhookCredentialsAndURLFile() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let hook = try WebhookRecorder(directory: directory)
        try await hook.waitUntilUp()
        try "first-token\n".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        try "\(hook.url)/from-file\n".write(toFile: directory + "/url", atomically: true, encoding: .utf8)
        let config = """
        route: {receiver: r, group_by: [alertname], group_wait: 1s, group_interval: 1s}
        receivers:
          - name: r
            webhook_configs:
              - url: '\(hook.url)/bearer'
                http_config: {authorization: {credentials_file: '\(directory)/token'}}
              - url_file: '\(directory)/url'
                http_config: {basic_auth: {username: am, password: secret}}
        """
        let agent = try await Self.startAgent(directory: directory, config: config)
        #expect(try await Self.post(agent.baseURL, "/api/v2/alerts", #"[{"labels":{"alertname":"One"}}]"#).status == 200)
        let both = try await AlertingIntegrationTests.eventually(seconds: 8) {
            !hook.notifications(under: "/bearer").isEmpty && !hook.notifications(under: "/from-file").isEmpty
        }
        #expect(both, "\(hook.notifications().map(\.path))")
        #expect(hook.notifications(under: "/bearer").first?.authorization == "Bearer first-token")
        #expect(hook.notifications(under: "/from-file").first?.authorization == "Basic " + Data("am:secret".utf8).base64EncodedString())
        // A rotated token is used from the next notification on.
        try "second-token\n".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        #expect(try await Self.post(agent.baseURL, "/api/v2/alerts", #"[{"labels":{"alertname":"Two"}}]"#).status == 200)
        let rotated = try await AlertingIntegrationTests.eventually(seconds: 8) {
            hook.notifications(under: "/bearer").contains { $0.authorization == "Bearer second-token" }
        }
        #expect(rotated)
    }
}

extension AlertmanagerComparisonTests {
    static var vmalertAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/vmalert") }

    /// vmalert, querying the daemon's PromQL API and notifying the daemon's Alertmanager.
    @Test(.enabled(if: vmalertAvailable, "needs Debian's vmalert (victoria-metrics)"))
    func vmalertDeliversItsAlertsToTheDaemon() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let hook = try WebhookRecorder(directory: directory)
        try await hook.waitUntilUp()
        let agent = try await Self.startAgent(directory: directory, config: Self.quickConfig(hook: hook.url))
        try """
        groups:
          - name: g
            interval: 1s
            rules:
              - alert: FromVmalert
                expr: vector(1)
                labels: {severity: ticket}
        """.write(toFile: directory + "/vmalert-rules.yml", atomically: true, encoding: .utf8)
        let port = try ScrapeIntegrationTests.freePort()
        let vmalert = try startPeer("/usr/bin/vmalert", [
            "-rule=\(directory)/vmalert-rules.yml", "-datasource.url=\(agent.baseURL)", "-notifier.url=\(agent.baseURL)",
            "-httpListenAddr=127.0.0.1:\(port)", "-evaluationInterval=1s"
        ])
        defer { vmalert.terminate() }
        let delivered = try await AlertingIntegrationTests.eventually(seconds: 30) {
            hook.notifications().contains { $0.alerts.contains { AlertingIntegrationTests.labels($0)["alertname"] == "FromVmalert" } }
        }
        #expect(delivered, "webhook got: \(hook.notifications().map(\.body))\n\(agent.log)")
    }
}
