import AgentConfiguration
import Alerting
import ArgumentParser
import ObsCore

/// `obsctl test rules FILE…`: promtool's rule unit tests, run on the project's own engine.
struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test", abstract: "Run unit tests offline.", subcommands: [TestRulesCommand.self])
}

struct TestRulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Run promtool-format rule unit tests (exit 0 when all pass, 1 otherwise).")

    @Option(name: .long, help: "Only run test groups whose names match this regular expression (repeatable).")
    var run: [String] = []

    @Flag(name: .customLong("ignore-unknown-fields"), help: "Ignore unknown keys in rule files.")
    var ignoreUnknownFields = false

    @Argument(help: "Test files.")
    var files: [String]

    func run() async throws {
        var options = RuleTestRunner.Options()
        options.run = run
        options.ignoreUnknownFields = ignoreUnknownFields
        let runner = RuleTestRunner(options: options)
        var passed = true
        for file in files {
            let ok = await runner.test(file: file) { print($0, terminator: "") }
            passed = passed && ok
        }
        if !passed { throw ExitCode(1) }
    }
}

/// `obsctl check rules FILE…`: promtool's `check rules`, offline.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check files offline.", subcommands: [CheckConfigCommand.self, CheckRulesCommand.self])
}

/// promtool's report for each file checked: SUCCESS with a summary, or FAILED with the error;
/// exits 1 when any failed.
enum CheckFiles {
    static func run(_ files: [String], _ check: (String) throws -> [String]) throws {
        var failed = false
        for file in files {
            print("Checking \(file)")
            do {
                let summary = try check(file)
                print("  SUCCESS: " + summary.joined(separator: "\n  ") + "\n")
            } catch {
                print("  FAILED:\n\(error)\n")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check agent configuration files as the agent loads them: every section, the rule files they name and the alertmanager: section.")

    @Argument(help: "Agent configuration files.")
    var files: [String]

    func run() async throws {
        try CheckFiles.run(files) { file in
            let config = try ConfigLoader(path: file, selfTarget: "localhost:9090").load()
            var lines = ["\(config.scrapeConfigs.count) scrape configs, \(config.rules.groups.count) rule groups, \(config.logs.inputs.count) log inputs"]
            if let alertmanager = config.alertmanager {
                lines.append("alertmanager: \(alertmanager.receivers.count) receivers, \(alertmanager.inhibitRules.count) inhibit rules, "
                             + "\(alertmanager.timeIntervals.count) time intervals")
            }
            return lines
        }
    }
}

struct CheckRulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "Check rule files: syntax, names, expressions and templates.")

    @Argument(help: "Rule files.")
    var files: [String]

    func run() async throws {
        try CheckFiles.run(files) { file in
            let ruleFile = try RuleFile.load(file)
            return ["\(ruleFile.groups.reduce(0) { $0 + $1.rules.count }) rules found"]
        }
    }
}

/// `obsctl rules`: rule groups and rules with their state, health and last evaluation.
struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "List rule groups and rules with state, health, last error and last evaluation.")

    @ParentCommand var root: Obsctl
    var options: GlobalOptions { root.options }

    @Option(name: .long, help: "Only alerting (alert) or recording (record) rules.")
    var type: String?

    @Option(name: .long, help: "Only this group (repeatable).")
    var group: [String] = []

    func run() async throws {
        let client = try options.client()
        var parameters: [(String, String)] = group.map { ("rule_group[]", $0) }
        if let type { parameters.append(("type", type)) }
        parameters.append(("exclude_alerts", "true"))
        do {
            let data = try await client.apiData(AgentClient.path("/api/v1/rules", parameters)) as? [String: Any] ?? [:]
            if options.output == .json {
                print(JSONDocument.pretty(data))
                return
            }
            let groups = data["groups"] as? [[String: Any]] ?? []
            let rows = groups.flatMap { group -> [[String]] in
                (group["rules"] as? [[String: Any]] ?? []).map { rule in
                    let seconds = JSONDocument.number(rule["evaluationTime"]) ?? 0
                    return [group["name"] as? String ?? "", rule["name"] as? String ?? "",
                            rule["type"] as? String == "alerting" ? "alert" : "record", rule["state"] as? String ?? "-",
                            rule["health"] as? String ?? "", rule["lastEvaluation"] as? String ?? "",
                            CFormat.double("%.3fs", seconds), rule["lastError"] as? String ?? ""]
                }
            }
            print(rows.isEmpty ? "(no rules)"
                : Render.table(header: ["GROUP", "RULE", "TYPE", "STATE", "HEALTH", "LAST EVALUATION", "DURATION", "ERROR"], rows: rows))
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

/// `obsctl alerts`: pending and firing alerts with their labels and since when.
struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "List alerts: pending and firing ones from the rules, and every alert the Alertmanager holds, with silenced or inhibited state and receivers.")

    @ParentCommand var root: Obsctl
    var options: GlobalOptions { root.options }

    struct Row {
        var labels: [String: String]
        var state: String
        var since: String
        var value = ""
        var silencedBy: [String] = []
        var inhibitedBy: [String] = []
        var receivers: [String] = []
    }

    func run() async throws {
        let client = try options.client()
        do {
            let data = try await client.apiData("/api/v1/alerts") as? [String: Any] ?? [:]
            // The Alertmanager's view, when it is configured (404 otherwise).
            let held = (try? await client.alertmanager(.GET, "/api/v2/alerts")) as? [[String: Any]]
            if options.output == .json {
                print(Render.json(["rules": data["alerts"] ?? [], "alertmanager": held ?? []]))
                return
            }
            var rows = (data["alerts"] as? [[String: Any]] ?? []).map { alert in
                Row(labels: alert["labels"] as? [String: String] ?? [:], state: alert["state"] as? String ?? "",
                    since: alert["activeAt"] as? String ?? "", value: alert["value"] as? String ?? "")
            }
            for alert in held ?? [] {
                let labels = alert["labels"] as? [String: String] ?? [:]
                let status = alert["status"] as? [String: Any] ?? [:]
                // A rule's alert reaches the Alertmanager with the external labels added.
                let index = rows.firstIndex { row in row.labels.allSatisfy { labels[$0.key] == $0.value } }
                var row = index.map { rows[$0] } ?? Row(labels: labels, state: "firing", since: alert["startsAt"] as? String ?? "")
                if status["state"] as? String == "suppressed" { row.state += " (suppressed)" }
                row.silencedBy = status["silencedBy"] as? [String] ?? []
                row.inhibitedBy = status["inhibitedBy"] as? [String] ?? []
                row.receivers = (alert["receivers"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                if let index { rows[index] = row } else { rows.append(row) }
            }
            let table = rows.map { row -> [String] in
                var labels = row.labels
                let name = labels.removeValue(forKey: "alertname") ?? ""
                let rest = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\(Render.quote($0.value))" }.joined(separator: ", ")
                let muted = (row.silencedBy.map { "silence " + $0 } + row.inhibitedBy.map { "inhibited by " + $0 }).joined(separator: ", ")
                return [name, row.state, row.since, row.value, row.receivers.joined(separator: ","), muted, rest]
            }
            print(table.isEmpty ? "(no alerts)"
                : Render.table(header: ["ALERT", "STATE", "ACTIVE SINCE", "VALUE", "RECEIVERS", "MUTED BY", "LABELS"], rows: table))
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
