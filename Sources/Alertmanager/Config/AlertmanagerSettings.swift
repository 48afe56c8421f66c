import OutboundHTTP
import ObsCore
import ObsYAML

/// An Alertmanager configuration (`alertmanager.yml`), decoded strictly and validated with
/// Alertmanager's rules. Only webhook receivers are built; every other receiver kind and the
/// global settings that only they use are refused by name.
public struct AlertmanagerSettings: Sendable, Equatable {
    /// `global.resolve_timeout`, milliseconds: how long an alert posted without `endsAt` stays firing.
    public var resolveTimeout: Int64 = 300_000
    public var route = RouteSpec()
    public var receivers: [ReceiverSpec] = []
    public var inhibitRules: [InhibitRule] = []
    /// `time_intervals` and the older `mute_time_intervals`, by name.
    public var timeIntervals: [String: [TimeInterval]] = [:]
    /// The configuration as `/api/v2/status` shows it (secrets masked).
    public var original = ""

    public init() {}

    static let otherReceivers = ["email_configs", "pagerduty_configs", "slack_configs", "opsgenie_configs", "wechat_configs",
                                 "pushover_configs", "victorops_configs", "sns_configs", "telegram_configs", "webex_configs",
                                 "discord_configs", "msteams_configs"]
    /// Global keys that configure receivers obs-agent does not build.
    static let otherGlobals = ["smtp_from", "smtp_hello", "smtp_smarthost", "smtp_auth_username", "smtp_auth_password",
                               "smtp_auth_password_file", "smtp_auth_secret", "smtp_auth_identity", "smtp_require_tls",
                               "slack_api_url", "slack_api_url_file", "victorops_api_key", "victorops_api_key_file",
                               "victorops_api_url", "pagerduty_url", "opsgenie_api_key", "opsgenie_api_key_file",
                               "opsgenie_api_url", "wechat_api_url", "wechat_api_secret", "wechat_api_corp_id",
                               "telegram_api_url", "webex_api_url"]
    static let secretKeys: Set<String> = ["password", "credentials", "bearer_token", "ca", "key"]

    /// Decodes and validates the mapping; `directory` resolves relative file paths.
    public init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["global", "route", "receivers", "inhibit_rules", "time_intervals",
                                                 "mute_time_intervals", "templates"])
        var defaultHTTP = HTTPClientSettings()
        if let global = map["global"] {
            let g = try global.mapping(allowedKeys: ["resolve_timeout", "http_config"] + Self.otherGlobals)
            for key in Self.otherGlobals where g[key] != nil {
                throw g.error(at: key, "\(key) configures a receiver kind obs-agent does not build (only webhook_configs); remove it")
            }
            let timeout: PrometheusDuration = try g.decode("resolve_timeout", default: .seconds(300))
            guard timeout.milliseconds > 0 else { throw g.error(at: "resolve_timeout", "resolve_timeout must be greater than zero") }
            resolveTimeout = timeout.milliseconds
            if let http = g["http_config"] { defaultHTTP = try HTTPClientSettings(yaml: http) }
        }
        if let templates = map["templates"], !(try templates.sequence()).isEmpty {
            throw map.error(at: "templates", "templates are used by receivers obs-agent does not build; webhook payloads are fixed JSON, so remove templates")
        }
        for key in ["time_intervals", "mute_time_intervals"] {
            for entry in try map[key]?.sequence() ?? [] {
                let m = try entry.mapping(allowedKeys: ["name", "time_intervals"])
                let name: String = try m.require("name")
                guard timeIntervals[name] == nil else { throw m.error(at: "name", "time interval \"\(name)\" is not unique") }
                timeIntervals[name] = try m["time_intervals"]?.sequence().map { (node) throws(ConfigError) in try TimeInterval(yaml: node) } ?? []
            }
        }
        var names = Set<String>()
        for entry in try map["receivers"]?.sequence() ?? [] {
            let receiver = try ReceiverSpec(yaml: entry, defaultHTTP: defaultHTTP)
            guard names.insert(receiver.name).inserted else {
                throw entry.error("notification config name \"\(receiver.name)\" is not unique")
            }
            receivers.append(receiver)
        }
        guard let routeNode = map["route"] else { throw map.owner.error("no route provided in config") }
        route = try RouteSpec(yaml: routeNode)
        guard !route.receiver.isEmpty else { throw routeNode.error("root route must specify a default receiver") }
        guard route.matchers.isEmpty else { throw routeNode.error("root route must not have any matchers") }
        guard !route.continues else { throw routeNode.error("cannot have continue in root route") }
        guard route.muteTimeIntervals.isEmpty else { throw routeNode.error("root route must not have any mute time intervals") }
        guard route.activeTimeIntervals.isEmpty else { throw routeNode.error("root route must not have any active time intervals") }
        try route.check(receivers: names, intervals: Set(timeIntervals.keys))
        inhibitRules = try map["inhibit_rules"]?.sequence().map { (node) throws(ConfigError) in try InhibitRule(yaml: node) } ?? []
        original = yaml.serialized(maskingKeys: Self.secretKeys)
    }

    /// Parses the text of an `alertmanager.yml`.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> AlertmanagerSettings {
        guard let root = try YAMLValue.parse(text, file: file) else {
            throw ConfigError(file: file, line: nil, column: nil, key: "", message: "empty Alertmanager configuration")
        }
        return try AlertmanagerSettings(yaml: root)
    }

    public var receiverNames: [String] { receivers.map(\.name) }
}

/// One node of the routing tree as configured; children inherit what they leave unset.
public struct RouteSpec: Sendable, Equatable {
    public var receiver = ""
    /// nil: inherited. `["..."]` groups by every label.
    public var groupBy: [String]?
    public var continues = false
    public var matchers: [LabelMatcher] = []
    public var groupWait: Int64?
    public var groupInterval: Int64?
    public var repeatInterval: Int64?
    public var muteTimeIntervals: [String] = []
    public var activeTimeIntervals: [String] = []
    public var routes: [RouteSpec] = []
    var node: ConfigError?

    public init() {}

    public static func == (lhs: RouteSpec, rhs: RouteSpec) -> Bool {
        lhs.receiver == rhs.receiver && lhs.groupBy == rhs.groupBy && lhs.continues == rhs.continues && lhs.matchers == rhs.matchers
            && lhs.groupWait == rhs.groupWait && lhs.groupInterval == rhs.groupInterval && lhs.repeatInterval == rhs.repeatInterval
            && lhs.muteTimeIntervals == rhs.muteTimeIntervals && lhs.activeTimeIntervals == rhs.activeTimeIntervals && lhs.routes == rhs.routes
    }

    init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["receiver", "group_by", "continue", "match", "match_re", "matchers", "group_wait",
                                                 "group_interval", "repeat_interval", "mute_time_intervals", "active_time_intervals", "routes"])
        node = yaml.error("")
        receiver = try map.decode("receiver", default: "")
        if let group = map["group_by"] {
            var seen = Set<String>()
            var labels: [String] = []
            for entry in try group.sequence() {
                let name = try entry.scalar()
                guard name == "..." || LabelMap.isValidName(name) else { throw entry.error("invalid label name \"\(name)\" in group_by list") }
                guard seen.insert(name).inserted else { throw entry.error("duplicated label \"\(name)\" in group_by") }
                labels.append(name)
            }
            if labels.contains("...") && labels.count > 1 {
                throw group.error("cannot have wildcard group_by (`...`) and other other labels at the same time")
            }
            groupBy = labels
        }
        continues = try map.decode("continue", default: false)
        for (name, value) in try map["match"]?.stringMap() ?? [] {
            guard LabelMap.isValidName(name) else { throw value.error("invalid label name \"\(name)\"") }
            let text = try value.scalar()
            // An equality matcher with a valid name cannot fail to build.
            matchers.append(try! LabelMatcher(.equal, name, text))
        }
        for (name, value) in try map["match_re"]?.stringMap() ?? [] {
            guard LabelMap.isValidName(name) else { throw value.error("invalid label name \"\(name)\"") }
            let pattern = try value.scalar()
            do {
                matchers.append(try LabelMatcher(.regexMatch, name, pattern))
            } catch {
                throw value.error("invalid regular expression \"\(pattern)\": \(error)")
            }
        }
        for entry in try map["matchers"]?.sequence() ?? [] {
            let text = try entry.scalar()
            do {
                matchers += try MatcherSyntax.parseList(text)
            } catch {
                throw entry.error(error.description)
            }
        }
        matchers = MatcherSyntax.sorted(matchers)
        for (key, keyPath) in [(\RouteSpec.groupWait, "group_wait"), (\.groupInterval, "group_interval"), (\.repeatInterval, "repeat_interval")] {
            if let duration: PrometheusDuration = try map.decode(keyPath) {
                if keyPath != "group_wait" && duration.milliseconds == 0 { throw map.error(at: keyPath, "\(keyPath) cannot be zero") }
                self[keyPath: key] = duration.milliseconds
            }
        }
        muteTimeIntervals = try map.decode("mute_time_intervals", default: [])
        activeTimeIntervals = try map.decode("active_time_intervals", default: [])
        routes = try map["routes"]?.sequence().map { (node) throws(ConfigError) in try RouteSpec(yaml: node) } ?? []
    }

    func check(receivers: Set<String>, intervals: Set<String>) throws(ConfigError) {
        if !receiver.isEmpty && !receivers.contains(receiver), var error = node {
            error.message = "undefined receiver \"\(receiver)\" used in route"
            throw error
        }
        for name in muteTimeIntervals + activeTimeIntervals where !intervals.contains(name) {
            if var error = node {
                error.message = "undefined time interval \"\(name)\" used in route"
                throw error
            }
        }
        for child in routes { try child.check(receivers: receivers, intervals: intervals) }
    }
}

/// A receiver: a name and its webhooks.
public struct ReceiverSpec: Sendable, Equatable {
    public var name: String
    public var webhooks: [WebhookSpec] = []

    init(yaml: YAMLValue, defaultHTTP: HTTPClientSettings) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["name", "webhook_configs"] + AlertmanagerSettings.otherReceivers)
        name = try map.decode("name", default: "")
        guard !name.isEmpty else { throw yaml.error("missing name in receiver") }
        for key in AlertmanagerSettings.otherReceivers {
            if let value = map[key], !(try value.sequence()).isEmpty {
                throw map.error(at: key, "\(key) is not supported by obs-agent's Alertmanager (only webhook_configs); remove the receiver or send through a webhook")
            }
        }
        webhooks = try map["webhook_configs"]?.sequence().map { (node) throws(ConfigError) in
            try WebhookSpec(yaml: node, defaultHTTP: defaultHTTP)
        } ?? []
    }
}

/// `webhook_configs` entry.
public struct WebhookSpec: Sendable, Equatable {
    public var url: String?
    /// Read at each notification, as Alertmanager does.
    public var urlFile: String?
    public var sendResolved = true
    /// 0: no limit.
    public var maxAlerts = 0
    public var http = HTTPClientSettings()

    init(yaml: YAMLValue, defaultHTTP: HTTPClientSettings) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["url", "url_file", "send_resolved", "max_alerts", "http_config"])
        url = try map.decode("url")
        urlFile = try map.decode("url_file")
        if url == nil && urlFile == nil { throw yaml.error("one of url or url_file must be configured") }
        if url != nil && urlFile != nil { throw yaml.error("at most one of url & url_file must be configured") }
        if let url {
            guard let parsed = URL(string: url), let scheme = parsed.scheme, scheme == "http" || scheme == "https", parsed.host != nil else {
                throw map.error(at: "url", "unsupported scheme or invalid URL \"\(url)\" (want http or https)")
            }
        }
        sendResolved = try map.decode("send_resolved", default: true)
        maxAlerts = try map.decode("max_alerts", default: 0)
        guard maxAlerts >= 0 else { throw map.error(at: "max_alerts", "max_alerts must not be negative") }
        http = try map["http_config"].map { (node) throws(ConfigError) in try HTTPClientSettings(yaml: node) } ?? defaultHTTP
    }
}

/// `inhibit_rules` entry: a firing source alert mutes target alerts that agree on `equal`.
public struct InhibitRule: Sendable, Equatable {
    public var source: [LabelMatcher] = []
    public var target: [LabelMatcher] = []
    public var equal: [String] = []

    public init(source: [LabelMatcher], target: [LabelMatcher], equal: [String]) {
        self.source = source
        self.target = target
        self.equal = equal
    }

    init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["source_match", "source_match_re", "source_matchers", "target_match",
                                                 "target_match_re", "target_matchers", "equal"])
        source = try Self.matchers(map, prefix: "source")
        target = try Self.matchers(map, prefix: "target")
        for entry in try map["equal"]?.sequence() ?? [] {
            let name = try entry.scalar()
            guard LabelMap.isValidName(name) else { throw entry.error("invalid label name \"\(name)\" in equal list") }
            equal.append(name)
        }
    }

    static func matchers(_ map: YAMLMapping, prefix: String) throws(ConfigError) -> [LabelMatcher] {
        var result: [LabelMatcher] = []
        for (name, value) in try map["\(prefix)_match"]?.stringMap() ?? [] {
            guard LabelMap.isValidName(name) else { throw value.error("invalid label name \"\(name)\"") }
            let text = try value.scalar()
            result.append(try! LabelMatcher(.equal, name, text))
        }
        for (name, value) in try map["\(prefix)_match_re"]?.stringMap() ?? [] {
            guard LabelMap.isValidName(name) else { throw value.error("invalid label name \"\(name)\"") }
            let pattern = try value.scalar()
            do { result.append(try LabelMatcher(.regexMatch, name, pattern)) } catch {
                throw value.error("invalid regular expression \"\(pattern)\": \(error)")
            }
        }
        for entry in try map["\(prefix)_matchers"]?.sequence() ?? [] {
            let text = try entry.scalar()
            do { result += try MatcherSyntax.parseList(text) } catch { throw entry.error(error.description) }
        }
        return result
    }
}
