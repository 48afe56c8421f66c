import ObsCore
import ObsYAML
import QueryEngine
import Templating

/// Which query language a group's expressions are written in. `type: logql` on a group makes its
/// rules LogQL metric queries, as Loki's ruler and vmalert read them.
public enum RuleLanguage: String, Sendable {
    case promql, logql
}

/// One rule as written: a recording rule (`record`) or an alerting rule (`alert`).
public struct RuleSpec: Sendable {
    public enum Kind: Sendable, Equatable {
        case recording(String)
        case alerting(String)
    }

    public var kind: Kind
    public var expr: String
    /// `for`, milliseconds.
    public var holdDuration: Int64
    /// `keep_firing_for`, milliseconds.
    public var keepFiringFor: Int64
    /// In the order written; values of alerting rules are templates.
    public var labels: [(name: String, value: String)]
    public var annotations: [(name: String, value: String)]
    /// Where the rule starts in its file.
    public var line: Int?

    public var name: String { kind.name }
}

extension RuleSpec.Kind {
    public var name: String {
        switch self {
        case let .recording(name), let .alerting(name): name
        }
    }
}

/// One group as written.
public struct RuleGroupSpec: Sendable {
    public var name: String
    public var file: String
    /// Milliseconds; nil for the global evaluation interval.
    public var interval: Int64?
    /// Series (recording) or alerts (alerting) one rule may produce per evaluation; 0 for no limit.
    public var limit: Int
    /// Milliseconds the evaluation looks back from the group's evaluation time; nil for the default.
    public var queryOffset: Int64?
    /// Added to every rule's labels (a rule's own labels win).
    public var labels: [(name: String, value: String)]
    public var language: RuleLanguage
    public var rules: [RuleSpec]
}

/// A rule file in Prometheus's format: `groups:` of named rule lists.
public struct RuleFile: Sendable {
    public var path: String
    public var groups: [RuleGroupSpec]

    static let groupKeys = ["name", "interval", "limit", "query_offset", "labels", "type", "rules"]
    static let ruleKeys = ["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"]

    /// Reads and checks `path`: YAML structure, keys, names, durations, expressions and templates.
    public static func load(_ path: String, ignoreUnknownFields: Bool = false) throws(RuleError) -> RuleFile {
        let text: String
        do {
            text = try FileIO.readText(path)
        } catch {
            throw RuleError.file(path, "cannot read the rule file: \(error)")
        }
        return try parse(text, path: path, ignoreUnknownFields: ignoreUnknownFields)
    }

    public static func parse(_ text: String, path: String, ignoreUnknownFields: Bool = false) throws(RuleError) -> RuleFile {
        do throws(ConfigError) {
            guard let root = try YAMLValue.parse(text, file: path) else { return RuleFile(path: path, groups: []) }
            let top = try root.mapping(allowedKeys: ["groups"], ignoringUnknown: ignoreUnknownFields)
            var groups: [RuleGroupSpec] = []
            var names: Set<String> = []
            for node in try top["groups"]?.sequence() ?? [] {
                let group = try decodeGroup(node, file: path, ignoreUnknownFields: ignoreUnknownFields)
                guard names.insert(group.name).inserted else {
                    throw node.error("groupname: \"\(group.name)\" is repeated in the same file")
                }
                groups.append(group)
            }
            return RuleFile(path: path, groups: groups)
        } catch {
            throw RuleError.config(error)
        }
    }

    private static func decodeGroup(_ node: YAMLValue, file: String, ignoreUnknownFields: Bool) throws(ConfigError) -> RuleGroupSpec {
        let map = try node.mapping(allowedKeys: groupKeys, ignoringUnknown: ignoreUnknownFields)
        let name: String = try map.decode("name") ?? ""
        guard !name.isEmpty else { throw map.error(at: "name", "Groupname must not be empty") }
        let interval = try map.decode("interval", as: PrometheusDuration.self)?.milliseconds
        if let interval, interval <= 0 { throw map.error(at: "interval", "interval must be positive") }
        let limit = try map.decode("limit", default: 0)
        guard limit >= 0 else { throw map.error(at: "limit", "limit must not be negative") }
        let languageText = try map.decode("type", default: "promql")
        guard let language = RuleLanguage(rawValue: languageText) else {
            throw map.error(at: "type", "unknown rule type \"\(languageText)\"; valid types: promql, logql")
        }
        let labels = try labelPairs(map["labels"])
        var rules: [RuleSpec] = []
        for (index, ruleNode) in (try map["rules"]?.sequence() ?? []).enumerated() {
            rules.append(try decodeRule(ruleNode, group: name, index: index, language: language, ignoreUnknownFields: ignoreUnknownFields))
        }
        return RuleGroupSpec(name: name, file: file, interval: interval, limit: limit,
                             queryOffset: try map.decode("query_offset", as: PrometheusDuration.self)?.milliseconds,
                             labels: labels, language: language, rules: rules)
    }

    /// One rule; once its name is known, errors name the group, the rule's position and its name
    /// as Prometheus's do (`group "g", rule 2, "name": …`).
    private static func decodeRule(_ node: YAMLValue, group: String, index: Int, language: RuleLanguage,
                                   ignoreUnknownFields: Bool) throws(ConfigError) -> RuleSpec {
        let map = try node.mapping(allowedKeys: ruleKeys, ignoringUnknown: ignoreUnknownFields)
        let record: String? = try map.decode("record")
        let alert: String? = try map.decode("alert")
        let kind: RuleSpec.Kind
        switch (record, alert) {
        case let (record?, nil) where !record.isEmpty: kind = .recording(record)
        case let (nil, alert?) where !alert.isEmpty: kind = .alerting(alert)
        case (.some, .some): throw node.error("only one of 'record' and 'alert' must be set")
        default: throw node.error("one of 'record' or 'alert' must be set")
        }
        let context = "group \(JSONText.quote(group)), rule \(index + 1), \(JSONText.quote(kind.name)): "
        guard let expr: String = try map.decode("expr"), !expr.isEmpty else {
            throw node.error(context + "field 'expr' must be set in rule")
        }
        let labels = try labelPairs(map["labels"])
        let annotations = try annotationPairs(map["annotations"])
        let hold = try map.decode("for", as: PrometheusDuration.self)?.milliseconds ?? 0
        let keep = try map.decode("keep_firing_for", as: PrometheusDuration.self)?.milliseconds ?? 0
        switch kind {
        case let .recording(name):
            for key in ["annotations", "for", "keep_firing_for"] where map[key] != nil {
                throw map.error(at: key, context + "invalid field '\(key)' in recording rule")
            }
            guard MetricNames.isValid(name) else { throw map.error(at: "record", context + "invalid recording rule name: \(name)") }
        case .alerting:
            for (_, value) in labels + annotations {
                do {
                    _ = try AlertTemplate.parse(value, ruleName: kind.name)
                } catch {
                    throw node.error(context + error.description)
                }
            }
        }
        do {
            try checkExpression(expr, language: language)
        } catch {
            throw map.error(at: "expr", context + "could not parse expression: \(error.description)")
        }
        return RuleSpec(kind: kind, expr: expr, holdDuration: hold, keepFiringFor: keep, labels: labels,
                        annotations: annotations, line: node.line)
    }

    /// Parses `expr` in `language`; a LogQL expression must be a metric query.
    static func checkExpression(_ expr: String, language: RuleLanguage) throws(RuleError) {
        switch language {
        case .promql:
            do { _ = try PromQLParser.parse(expr) } catch { throw RuleError.expression(error.description) }
        case .logql:
            let parsed: LogQLExpr
            do { parsed = try LogQLParser.parse(expr) } catch { throw RuleError.expression(error.description) }
            if case .logs = parsed { throw RuleError.expression("a log query is not a metric query: rules need a metric query") }
        }
    }

    private static func labelPairs(_ node: YAMLValue?) throws(ConfigError) -> [(name: String, value: String)] {
        guard let node else { return [] }
        var pairs: [(name: String, value: String)] = []
        for (key, keyNode, value) in try node.keyedEntries() {
            guard LabelMap.isValidName(key), key != Labels.metricName else { throw keyNode.error("invalid label name: \(key)") }
            pairs.append((key, try value.isNull ? "" : value.scalar()))
        }
        return pairs
    }

    private static func annotationPairs(_ node: YAMLValue?) throws(ConfigError) -> [(name: String, value: String)] {
        guard let node else { return [] }
        var pairs: [(name: String, value: String)] = []
        for (key, keyNode, value) in try node.keyedEntries() {
            guard LabelMap.isValidName(key) else { throw keyNode.error("invalid annotation name: \(key)") }
            pairs.append((key, try value.isNull ? "" : value.scalar()))
        }
        return pairs
    }
}

/// Prometheus's metric name rule: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
enum MetricNames {
    static func isValid(_ name: String) -> Bool {
        guard let first = name.utf8.first, isStart(first) else { return false }
        return name.utf8.allSatisfy { isStart($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    private static func isStart(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x3A
    }
}
