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
