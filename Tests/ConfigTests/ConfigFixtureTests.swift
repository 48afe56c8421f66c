import Foundation
@testable import AgentConfiguration
@testable import ObsAgent
import ObsCore
import ObsYAML
import Testing

/// Every file under `Fixtures/good` must load; every file under `Fixtures/bad` must fail with exactly
/// the message on its first line (`# error: …`), which names the file, line, column and key.
@Suite struct ConfigFixtureTests {
    static let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func files(_ folder: String) -> [String] {
        let directory = Self.fixtures.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yml") }.sorted()
    }

    static func text(_ folder: String, _ name: String) throws -> String {
        try String(contentsOf: fixtures.appendingPathComponent(folder).appendingPathComponent(name), encoding: .utf8)
    }

    @Test func fixturesArePresent() {
        #expect(Self.files("good").count >= 3)
        #expect(Self.files("bad").count >= 10)
    }

    /// Files are read by path so that their `rule_files` resolve beside them.
    static func path(_ folder: String, _ name: String) -> String {
        fixtures.appendingPathComponent(folder).appendingPathComponent(name).path
    }

    @Test(arguments: files("good"))
    func goodFileLoads(name: String) throws {
        _ = try AgentConfig.parse(try Self.text("good", name), file: Self.path("good", name))
    }

    @Test func ruleFilesLoadWithTheConfiguration() throws {
        let config = try AgentConfig.parse(try Self.text("good", "rules-and-alerting.yml"), file: Self.path("good", "rules-and-alerting.yml"))
        #expect(config.rules.groups.map(\.name) == ["node"])
        #expect(config.rules.groups[0].rules.count == 2)
        #expect(config.alerting.targets.map(\.url) == ["http://127.0.0.1:9093/am/api/v2/alerts", "http://am.example:9093/am/api/v2/alerts"])
    }

    @Test(arguments: files("bad"))
    func badFileFailsWithItsMessage(name: String) throws {
        let text = try Self.text("bad", name)
        let firstLine = text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        let expected = firstLine.hasPrefix("# error: ") ? String(firstLine.dropFirst(9)) : ""
        #expect(!expected.isEmpty, "\(name) must start with '# error: <message>'")
        let directory = Self.fixtures.appendingPathComponent("bad").path + "/"
        let error = #expect(throws: ConfigError.self) { try AgentConfig.parse(text, file: directory + name) }
        #expect(error?.description.replacingOccurrences(of: directory, with: "") == expected)
    }
}

@Suite struct ConfigSemanticsTests {
    @Test func emptyFileGivesPrometheusDefaults() throws {
        let config = try AgentConfig.parse("", file: "empty.yml")
        #expect(config.global.scrapeInterval == .seconds(60))
        #expect(config.global.scrapeTimeout == .seconds(10))
        #expect(config.global.evaluationInterval == .seconds(60))
        #expect(config.scrapeConfigs.isEmpty)
    }

    @Test func jobsInheritGlobalDefaults() throws {
        let config = try AgentConfig.parse(try ConfigFixtureTests.text("good", "prometheus-style.yml"), file: "p.yml")
        let node = config.scrapeConfigs[0]
        #expect(node.jobName == "node")
        #expect(node.scrapeInterval == .seconds(30))
        #expect(node.scrapeTimeout == .seconds(10))
        #expect(node.metricsPath == "/metrics")
        #expect(node.staticConfigs[0].targets == ["localhost:9100", "10.0.0.2:9100"])
        #expect(node.staticConfigs[0].labels == LabelMap([("env", "prod")]))
        let app = config.scrapeConfigs[1]
        #expect(app.scrapeInterval == .seconds(5))
        #expect(app.scrapeTimeout == .seconds(2))
        #expect(app.scheme == "https")
        #expect(app.honorLabels)
        #expect(!app.honorTimestamps)
        #expect(app.params == ["module": ["http_2xx"]])
    }

    @Test func outOfOrderWindow() throws {
        let config = try AgentConfig.parse(try ConfigFixtureTests.text("good", "storage.yml"), file: "s.yml")
        #expect(config.storage.outOfOrderTimeWindow.milliseconds == 1_800_000)
        #expect(try AgentConfig.parse("", file: "e.yml").storage.outOfOrderTimeWindow.milliseconds == 0)
    }

    @Test func shortIntervalPullsTheDefaultTimeoutDown() throws {
        let config = try AgentConfig.parse("global:\n  scrape_interval: 5s\n", file: "x.yml")
        #expect(config.global.scrapeTimeout == .seconds(5))
    }

    @Test func embeddedDefaultScrapesTheAgentItself() throws {
        let config = try ConfigLoader(path: nil, selfTarget: "127.0.0.1:9090").load()
        #expect(config.source == "<embedded default>")
        #expect(config.scrapeConfigs.map(\.jobName) == ["obs-agent"])
        #expect(config.scrapeConfigs[0].staticConfigs[0].targets == ["127.0.0.1:9090"])
    }

    @Test func unreadableFileNamesThePath() {
        let error = #expect(throws: ConfigError.self) {
            try ConfigLoader(path: "/nonexistent/obs-agent.yml", selfTarget: "127.0.0.1:9090").load()
        }
        #expect(error?.description.hasPrefix("/nonexistent/obs-agent.yml: cannot read file") == true)
    }

    @Test(arguments: [
        ("127.0.0.1:9090", "127.0.0.1:9090"), (":9090", "127.0.0.1:9090"), ("0.0.0.0:80", "127.0.0.1:80"),
        ("[::]:9090", "[::1]:9090"), ("[::1]:9091", "[::1]:9091"),
    ])
    func listenAddressSelfTarget(flag: String, target: String) {
        #expect(ListenAddress(flag)?.selfTarget == target)
    }

    @Test(arguments: ["9090", "localhost", "host:99999", "::1:9090", ""])
    func invalidListenAddresses(flag: String) {
        #expect(ListenAddress(flag) == nil)
    }
}
