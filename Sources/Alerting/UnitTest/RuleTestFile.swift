import ObsCore
import ObsYAML

/// A rule unit-test file in promtool's format.
public struct RuleTestFile {
    public var path: String
    public var ruleFiles: [String]
    /// Milliseconds.
    public var evaluationInterval: Int64
    public var groupEvalOrder: [String]
    public var fuzzyCompare: Bool
    public var tests: [TestGroup]

    public struct TestGroup {
        public var name: String
        /// Milliseconds between input samples.
        public var interval: Int64
        public var inputSeries: [(series: String, values: String, line: Int?)]
        public var alertTests: [AlertTest]
        public var exprTests: [ExprTest]
        public var externalLabels: Labels
        public var externalURL: String
        /// Milliseconds since the epoch of the group's time 0.
        public var start: Int64
    }

    public struct AlertTest {
        public var evalTime: Int64
        public var alertname: String
        public var expected: [(labels: [String: String], annotations: [String: String])]
    }

    public struct ExprTest {
        public var expr: String
        public var evalTime: Int64
        public var evalTimeText: String
        public var expected: [(labels: String, value: Double, histogram: String?)]
    }

    public static func load(_ path: String) throws(RuleError) -> RuleTestFile {
        let text: String
        do {
            text = try FileIO.readText(path)
        } catch {
            throw RuleError.file(path, "cannot read the test file: \(error)")
        }
        do throws(ConfigError) {
            guard let root = try YAMLValue.parse(text, file: path) else {
                return RuleTestFile(path: path, ruleFiles: [], evaluationInterval: 60_000, groupEvalOrder: [], fuzzyCompare: false, tests: [])
            }
            let top = try root.mapping(allowedKeys: ["rule_files", "evaluation_interval", "group_eval_order", "tests", "fuzzy_compare"])
            let evaluationInterval = try top.decode("evaluation_interval", as: PrometheusDuration.self)?.milliseconds ?? 60_000
            guard evaluationInterval > 0 else { throw top.error(at: "evaluation_interval", "evaluation_interval must be positive") }
            var tests: [TestGroup] = []
            for node in try top["tests"]?.sequence() ?? [] {
                tests.append(try decodeGroup(node, evaluationInterval: evaluationInterval))
            }
            return RuleTestFile(path: path, ruleFiles: try top.decode("rule_files") ?? [], evaluationInterval: evaluationInterval,
                                groupEvalOrder: try top.decode("group_eval_order") ?? [],
                                fuzzyCompare: try top.decode("fuzzy_compare") ?? false, tests: tests)
        } catch {
            throw RuleError.config(error)
        }
    }

    private static func decodeGroup(_ node: YAMLValue, evaluationInterval: Int64) throws(ConfigError) -> TestGroup {
        let map = try node.mapping(allowedKeys: [
            "name", "interval", "input_series", "alert_rule_test", "promql_expr_test", "external_labels", "external_url",
            "start_timestamp",
        ])
        // Without its own interval a group's samples are one evaluation interval apart.
        let interval = try map.decode("interval", as: PrometheusDuration.self)?.milliseconds ?? evaluationInterval
        guard interval > 0 else { throw map.error(at: "interval", "interval must be positive") }
        var series: [(String, String, Int?)] = []
        for item in try map["input_series"]?.sequence() ?? [] {
            let entry = try item.mapping(allowedKeys: ["series", "values"])
            series.append((try entry.decode("series") ?? "", try entry.decode("values") ?? "", item.line))
        }
        var alertTests: [AlertTest] = []
        for item in try map["alert_rule_test"]?.sequence() ?? [] {
            let entry = try item.mapping(allowedKeys: ["eval_time", "alertname", "exp_alerts"])
            var expected: [(labels: [String: String], annotations: [String: String])] = []
            for alert in try entry["exp_alerts"]?.sequence() ?? [] {
                let fields = try alert.mapping(allowedKeys: ["exp_labels", "exp_annotations"])
                expected.append((try stringMap(fields["exp_labels"]), try stringMap(fields["exp_annotations"])))
            }
            alertTests.append(AlertTest(evalTime: try entry.decode("eval_time", as: PrometheusDuration.self)?.milliseconds ?? 0,
                                        alertname: try entry.decode("alertname") ?? "", expected: expected))
        }
        var exprTests: [ExprTest] = []
        for item in try map["promql_expr_test"]?.sequence() ?? [] {
            let entry = try item.mapping(allowedKeys: ["expr", "eval_time", "exp_samples"])
            var expected: [(labels: String, value: Double, histogram: String?)] = []
            for sample in try entry["exp_samples"]?.sequence() ?? [] {
                let fields = try sample.mapping(allowedKeys: ["labels", "value", "histogram"])
                expected.append((try fields.decode("labels") ?? "", try fields.decode("value") ?? 0, try fields.decode("histogram")))
            }
            let evalTime = try entry.decode("eval_time", as: PrometheusDuration.self) ?? PrometheusDuration(milliseconds: 0)
            exprTests.append(ExprTest(expr: try entry.decode("expr") ?? "", evalTime: evalTime.milliseconds,
                                      evalTimeText: evalTime.description, expected: expected))
        }
        var external = Labels.empty
        if let labels = try map.decode("external_labels", as: LabelMap.self) {
            external = Labels(labels.pairs.map { Label($0.name, $0.value) })
        }
        var start: Int64 = 0
        if let node = map["start_timestamp"] {
            let text = try node.scalar()
            if let seconds = Double(text), let milliseconds = CheckedTime.scaled(seconds, by: 1000, limit: CheckedTime.maxMilliseconds) {
                start = milliseconds
            } else if let milliseconds = TimeParsing.rfc3339(text) {
                start = milliseconds
            } else {
                throw node.error("start_timestamp must be an RFC 3339 time or Unix seconds, got \"\(text)\"")
            }
        }
        return TestGroup(name: try map.decode("name") ?? "", interval: interval, inputSeries: series, alertTests: alertTests,
                         exprTests: exprTests, externalLabels: external, externalURL: try map.decode("external_url") ?? "",
                         start: start)
    }

    private static func stringMap(_ node: YAMLValue?) throws(ConfigError) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in try node?.stringMap() ?? [] { out[key] = value.isNull ? "" : try value.scalar() }
        return out
    }
}
