import Alerting
import ArgumentParser
import Foundation

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
            let ok = await runner.test(file: file) { FileHandle.standardOutput.write(Data($0.utf8)) }
            passed = passed && ok
        }
        if !passed { throw ExitCode(1) }
    }
}

/// `obsctl check rules FILE…`: promtool's `check rules`, offline.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check files offline.", subcommands: [CheckRulesCommand.self])
}

struct CheckRulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "Check rule files: syntax, names, expressions and templates.")

    @Argument(help: "Rule files.")
    var files: [String]

    func run() async throws {
        var failed = false
        for file in files {
            print("Checking \(file)")
            do {
                let ruleFile = try RuleFile.load(file)
                let count = ruleFile.groups.reduce(0) { $0 + $1.rules.count }
                print("  SUCCESS: \(count) rules found\n")
            } catch {
                print("  FAILED:\n\(error)\n")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
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
                let text = try JSONSerialization.data(withJSONObject: data, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: text, as: UTF8.self))
                return
            }
            let groups = data["groups"] as? [[String: Any]] ?? []
            let rows = groups.flatMap { group -> [[String]] in
                (group["rules"] as? [[String: Any]] ?? []).map { rule in
                    let seconds = (rule["evaluationTime"] as? NSNumber)?.doubleValue ?? 0
                    return [group["name"] as? String ?? "", rule["name"] as? String ?? "",
                            rule["type"] as? String == "alerting" ? "alert" : "record", rule["state"] as? String ?? "-",
                            rule["health"] as? String ?? "", rule["lastEvaluation"] as? String ?? "",
                            String(format: "%.3fs", seconds), rule["lastError"] as? String ?? ""]
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
        commandName: "alerts", abstract: "List pending and firing alerts with their labels and active-since time.")

    @ParentCommand var root: Obsctl
    var options: GlobalOptions { root.options }

    func run() async throws {
        let client = try options.client()
        do {
            let data = try await client.apiData("/api/v1/alerts") as? [String: Any] ?? [:]
            if options.output == .json {
                let text = try JSONSerialization.data(withJSONObject: data, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: text, as: UTF8.self))
                return
            }
            let alerts = data["alerts"] as? [[String: Any]] ?? []
            let rows = alerts.map { alert -> [String] in
                var labels = alert["labels"] as? [String: String] ?? [:]
                let name = labels.removeValue(forKey: "alertname") ?? ""
                let rest = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\(Render.quote($0.value))" }.joined(separator: ", ")
                return [name, alert["state"] as? String ?? "", alert["activeAt"] as? String ?? "", alert["value"] as? String ?? "", rest]
            }
            print(rows.isEmpty ? "(no pending or firing alerts)"
                : Render.table(header: ["ALERT", "STATE", "ACTIVE SINCE", "VALUE", "LABELS"], rows: rows))
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
