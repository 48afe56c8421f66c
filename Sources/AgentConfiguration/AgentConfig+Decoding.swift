import Alertmanager
import ObsCore
import OutboundHTTP
import Scrape
import ObsYAML

extension AgentConfig {
    /// Parses and validates `text`, the contents of `file`. Every error names the file, line and key.
    package static func parse(_ text: String, file: String) throws(ConfigError) -> AgentConfig {
        var config = AgentConfig()
        config.source = file
        config.text = text
        guard let root = try YAMLValue.parse(text, file: file) else { return config }
        let top = try root.mapping(allowedKeys: ["global", "storage", "scrape_configs", "rule_files", "alerting", "logs", "alertmanager",
                                                 "remote_write", "traces"])
        if let global = top["global"] {
            config.global = try GlobalConfig(yaml: global)
        }
        if let storage = top["storage"] {
            config.storage = try StorageConfig(yaml: storage)
        }
        if let traces = top["traces"] {
            config.traces = try TracesConfig(yaml: traces)
        }
        if let logs = top["logs"] {
            config.logs = try LogsConfig(yaml: logs)
        }
        if let rules = top["rule_files"] {
            config.ruleFiles = try rules.decode([String].self)
            config.rules = try LoadedRules.load(config.ruleFiles, relativeTo: FileIO.directoryPart(of: file), node: rules)
        }
        if let alerting = top["alerting"] {
            config.alerting = try AlertingConfig(yaml: alerting)
        }
        if let alertmanager = top["alertmanager"] {
            config.alertmanager = try AlertmanagerSection.load(alertmanager, relativeTo: FileIO.directoryPart(of: file))
        }
        var queueNames = Set<String>()
        for entry in try top["remote_write"]?.sequence() ?? [] {
            let remote = try RemoteWriteConfig(yaml: entry)
            guard queueNames.insert(remote.queueName).inserted else {
                throw entry.error("found multiple remote write configs with job name \"\(remote.queueName)\"")
            }
            config.remoteWrite.append(remote)
        }
        // External labels go on alerts, alert templates and forwarded series; without rules or
        // remote_write they would do nothing.
        if !config.global.externalLabels.pairs.isEmpty && config.ruleFiles.isEmpty && config.remoteWrite.isEmpty,
           let node = try top["global"]?.looseMapping()["external_labels"] {
            throw node.error("external labels are used by rules, alerts and remote_write only, and none is set; remove external_labels")
        }
        var jobNames: [String: YAMLValue] = [:]
        for entry in try top["scrape_configs"]?.sequence() ?? [] {
            let scrape = try ScrapeConfig(yaml: entry, global: config.global)
            if jobNames[scrape.jobName] != nil {
                throw entry.error("found multiple scrape configs with job name \"\(scrape.jobName)\"")
            }
            jobNames[scrape.jobName] = entry
            config.scrapeConfigs.append(scrape)
        }
        return config
    }
}

extension GlobalConfig {
    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["scrape_interval", "scrape_timeout", "evaluation_interval", "external_labels"])
        let defaults = GlobalConfig()
        scrapeInterval = try map.decode("scrape_interval", default: defaults.scrapeInterval)
        // As in Prometheus, an unset timeout follows a shorter interval down.
        let timeoutDefault = min(defaults.scrapeTimeout, scrapeInterval)
        scrapeTimeout = try map.decode("scrape_timeout", default: timeoutDefault)
        evaluationInterval = try map.decode("evaluation_interval", default: defaults.evaluationInterval)
        externalLabels = try map.decode("external_labels", default: LabelMap())
        if scrapeInterval.milliseconds <= 0 {
            throw map.error(at: "scrape_interval", "scrape interval must be greater than zero")
        }
        if scrapeTimeout.milliseconds <= 0 {
            throw map.error(at: "scrape_timeout", "scrape timeout must be greater than zero")
        }
        if scrapeTimeout > scrapeInterval {
            throw map.error(at: "scrape_timeout", "global scrape timeout greater than scrape interval")
        }
        if evaluationInterval.milliseconds <= 0 {
            throw map.error(at: "evaluation_interval", "evaluation interval must be greater than zero")
        }
    }
}

extension StorageConfig {
    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["tsdb", "exemplars"])
        if let exemplars = map["exemplars"] {
            let exemplarMap = try exemplars.mapping(allowedKeys: ["max_exemplars"])
            maxExemplars = try exemplarMap.decode("max_exemplars", default: maxExemplars)
            // Prometheus treats a negative size as zero; a size that would not fit in memory is a mistake.
            guard maxExemplars <= 100_000_000 else {
                throw exemplarMap.error(at: "max_exemplars", "max_exemplars \(maxExemplars) is more than 100000000")
            }
            maxExemplars = max(0, maxExemplars)
        }
        guard let tsdb = map["tsdb"] else { return }
        let tsdbMap = try tsdb.mapping(allowedKeys: ["out_of_order_time_window"])
        outOfOrderTimeWindow = try tsdbMap.decode("out_of_order_time_window", default: PrometheusDuration(milliseconds: 0))
    }
}

extension ScrapeConfig {
    package static let keys = [
        "job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "honor_labels",
        "honor_timestamps", "track_timestamps_staleness", "params", "static_configs", "file_sd_configs",
        "relabel_configs", "metric_relabel_configs", "sample_limit", "label_limit", "label_name_length_limit",
        "label_value_length_limit", "body_size_limit", "kubernetes_sd_configs",
    ] + HTTPClientSettings.keys

    package init(yaml: YAMLValue, global: GlobalConfig) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: Self.keys)
        jobName = try map.require("job_name")
        if jobName.isEmpty { throw map.error(at: "job_name", "job_name is empty") }
        scrapeInterval = try map.decode("scrape_interval", default: global.scrapeInterval)
        scrapeTimeout = try map.decode("scrape_timeout", default: min(global.scrapeTimeout, scrapeInterval))
        if scrapeInterval.milliseconds <= 0 {
            throw map.error(at: "scrape_interval", "scrape interval must be greater than zero")
        }
        if scrapeTimeout.milliseconds <= 0 {
            throw map.error(at: "scrape_timeout", "scrape timeout must be greater than zero")
        }
        if scrapeTimeout > scrapeInterval {
            throw map.error(at: "scrape_timeout",
                            "scrape timeout greater than scrape interval for scrape config with job name \"\(jobName)\"")
        }
        metricsPath = try map.decode("metrics_path", default: "/metrics")
        if !metricsPath.hasPrefix("/") {
            throw map.error(at: "metrics_path", "metrics_path must start with \"/\", got \"\(metricsPath)\"")
        }
        scheme = try map.decode("scheme", default: "http")
        if scheme != "http" && scheme != "https" {
            throw map.error(at: "scheme", "unsupported scheme \"\(scheme)\" (want http or https)")
        }
        honorLabels = try map.decode("honor_labels", default: false)
        honorTimestamps = try map.decode("honor_timestamps", default: true)
        if let params = map["params"] {
            for (name, values) in try params.stringMap() {
                self.params[name] = try values.decode([String].self)
            }
        }
        staticConfigs = try map["static_configs"]?.sequence().map { (entry) throws(ConfigError) in
            try StaticConfig(yaml: entry)
        } ?? []
        http = try HTTPClientSettings(mapping: map)
        trackTimestampsStaleness = try map.decode("track_timestamps_staleness", default: false)
        sampleLimit = try map.decode("sample_limit", default: 0)
        labelLimit = try map.decode("label_limit", default: 0)
        labelNameLengthLimit = try map.decode("label_name_length_limit", default: 0)
        labelValueLengthLimit = try map.decode("label_value_length_limit", default: 0)
        for key in ["sample_limit", "label_limit", "label_name_length_limit", "label_value_length_limit"] {
            if let value: Int = try map.decode(key), value < 0 { throw map.error(at: key, "\(key) must not be negative") }
        }
        bodySizeLimit = try map.decode("body_size_limit", default: ByteSize(bytes: 0))
        relabelConfigs = try map["relabel_configs"]?.sequence().map { (entry) throws(ConfigError) in try RelabelStep(yaml: entry) } ?? []
        metricRelabelConfigs = try map["metric_relabel_configs"]?.sequence().map { (entry) throws(ConfigError) in
            try RelabelStep(yaml: entry)
        } ?? []
        fileSDConfigs = try map["file_sd_configs"]?.sequence().map { (entry) throws(ConfigError) in
            let sd = try entry.mapping(allowedKeys: ["files", "refresh_interval"])
            let files: [String] = try sd.require("files")
            for (i, file) in files.enumerated() {
                guard file.hasSuffix(".json") || file.hasSuffix(".yml") || file.hasSuffix(".yaml") else {
                    throw sd.error(at: "files", "path \"\(file)\" (entry \(i)) must end in .json, .yml or .yaml")
                }
            }
            return FileSDConfig(files: files, refreshInterval: try sd.decode("refresh_interval", default: .seconds(300)))
        } ?? []
        kubernetesSDConfigs = try map["kubernetes_sd_configs"]?.sequence().map { (entry) throws(ConfigError) in
            try KubernetesSDConfig(yaml: entry)
        } ?? []
    }
}

extension RelabelStep {
    package static let keys = ["source_labels", "separator", "target_label", "regex", "modulus", "replacement", "action"]

    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: Self.keys)
        sourceLabels = try map.decode("source_labels", default: [])
        separator = try map.decode("separator", default: ";")
        targetLabel = try map.decode("target_label", default: "")
        regex = try map.decode("regex", default: "(.*)")
        let modulusValue: Int = try map.decode("modulus", default: 0)
        guard modulusValue >= 0 else { throw map.error(at: "modulus", "modulus must not be negative") }
        modulus = UInt64(modulusValue)
        replacement = try map.decode("replacement", default: "$1")
        action = try map.decode("action", default: "replace").lowercased()
        // Checked here so that the error names the file and line.
        _ = try step(map)
    }

    /// The runnable step; throws a located error for a bad action, regex or combination.
    package func step(_ map: YAMLMapping? = nil) throws(ConfigError) -> RelabelConfig {
        func fail(_ key: String, _ message: String) -> ConfigError {
            map?.error(at: key, message) ?? ConfigError(file: "", line: nil, column: nil, key: key, message: message)
        }
        guard let kind = RelabelConfig.Action(rawValue: action) else { throw fail("action", "unknown relabel action \"\(action)\"") }
        let compiled: RelabelRegex
        do {
            compiled = try RelabelRegex(regex)
        } catch {
            throw fail("regex", "\(error)")
        }
        let config = RelabelConfig(action: kind, sourceLabels: sourceLabels, separator: separator, targetLabel: targetLabel,
                                   regex: compiled, modulus: modulus, replacement: replacement)
        if let problem = config.problem { throw fail("action", problem) }
        return config
    }
}

extension StaticConfig {
    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["targets", "labels"])
        targets = []
        for target in try map["targets"]?.sequence() ?? [] {
            let address: String = try target.decode()
            guard Self.isHostPort(address) else {
                throw target.error("\"\(address)\" is not a valid target address: want host:port without scheme or path")
            }
            targets.append(address)
        }
        labels = try map.decode("labels", default: LabelMap())
    }

    /// `host:port`, `[v6]:port` or a bare host (the scheme's default port is used), never a URL.
    package static func isHostPort(_ address: String) -> Bool {
        guard !address.isEmpty, !address.contains("/"), !address.contains(" ") else { return false }
        var host = Substring(address)
        var port: Substring? = nil
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]") else { return false }
            host = address[address.index(after: address.startIndex)..<close]
            let rest = address[address.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return false }
                port = rest.dropFirst()
            }
        } else if let colon = address.firstIndex(of: ":") {
            host = address[..<colon]
            port = address[address.index(after: colon)...]
            if port!.contains(":") { return false }
        }
        guard !host.isEmpty else { return false }
        if let port {
            guard let number = Int(port), (0...65535).contains(number) else { return false }
        }
        return true
    }
}

extension KubernetesSDConfig {
    /// Prometheus's keys. Selector values may name environment variables as `$(NAME)` or
    /// `${NAME}`, so one DaemonSet config can say `spec.nodeName=$(NODE_NAME)`.
    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["role", "api_server", "kubeconfig_file", "namespaces", "selectors"] + HTTPClientSettings.keys)
        let roleName: String = try map.require("role")
        guard let role = Role(rawValue: roleName.lowercased()) else {
            throw map.error(at: "role", "invalid role \"\(roleName)\", expecting one of: "
                            + Role.allCases.map(\.rawValue).joined(separator: ", ") + " (ingress is not discovered by obs-agent)")
        }
        self.init(role: role)
        apiServer = try map.decode("api_server")
        if let server = apiServer, !(server.hasPrefix("http://") || server.hasPrefix("https://")) {
            throw map.error(at: "api_server", "api_server must be an http or https URL, got \"\(server)\"")
        }
        kubeconfigFile = try map.decode("kubeconfig_file")
        if apiServer != nil && kubeconfigFile != nil {
            throw map.error(at: "kubeconfig_file", "cannot use 'kubeconfig_file' and 'api_server' simultaneously")
        }
        http = try HTTPClientSettings(mapping: map)
        if apiServer == nil, let key = HTTPClientSettings.keys.first(where: { map[$0] != nil }) {
            throw map.error(at: key, kubeconfigFile == nil
                ? "to use custom HTTP client configuration please provide the 'api_server' URL explicitly"
                : "cannot use a custom HTTP client configuration together with 'kubeconfig_file'")
        }
        if let namespaces = map["namespaces"] {
            let names = try namespaces.mapping(allowedKeys: ["names", "own_namespace"])
            self.namespaces = try names.decode("names", default: [])
        }
        for selector in try map["selectors"]?.sequence() ?? [] {
            let entry = try selector.mapping(allowedKeys: ["role", "label", "field"])
            let selectorRoleName: String = try entry.require("role")
            guard let selectorRole = Role(rawValue: selectorRoleName.lowercased()), role.selectorRoles.contains(selectorRole) else {
                throw entry.error(at: "role", "\(role.rawValue) role supports only \(role.selectorRoles.map(\.rawValue).joined(separator: ", ")) selectors")
            }
            guard selectors[selectorRole] == nil else {
                throw entry.error(at: "role", "duplicated selector role: \(selectorRole.rawValue)")
            }
            var parsed = Selector()
            if let label = entry["label"] { parsed.label = try Self.expandEnvironment(try label.scalar(), at: label) }
            if let field = entry["field"] { parsed.field = try Self.expandEnvironment(try field.scalar(), at: field) }
            selectors[selectorRole] = parsed
        }
    }

    /// Replaces `$(NAME)` and `${NAME}` with the variable's value. A variable that is unset or
    /// empty is an error: `spec.nodeName=` would select the pods of no node (or, for labels,
    /// something other than meant), and the agent would silently discover nothing.
    package static func expandEnvironment(_ text: String, at node: YAMLValue,
                                          environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> String {
        var out = text
        for (open, close) in [("$(", ")"), ("${", "}")] {
            while let start = out.firstRange(of: open), let end = out[start.upperBound...].firstRange(of: close) {
                let name = String(out[start.upperBound..<end.lowerBound])
                guard let value = environment[name], !value.isEmpty else {
                    throw node.error("environment variable \(name) in \"\(text)\" is not set or is empty; "
                                     + "set it (NODE_NAME from the downward API: fieldRef spec.nodeName)")
                }
                out.replaceSubrange(start.lowerBound..<end.upperBound, with: value)
            }
        }
        return out
    }
}

/// `alertmanager:` — an Alertmanager configuration pasted in as is, or `{config_file: PATH}`
/// naming an `alertmanager.yml` (relative to the agent's configuration file).
package enum AlertmanagerSection {
    package static func load(_ yaml: YAMLValue, relativeTo directory: String) throws(ConfigError) -> AlertmanagerSettings {
        if let map = try? yaml.looseMapping(), let fileNode = map["config_file"] {
            _ = try yaml.mapping(allowedKeys: ["config_file"])
            let name = try fileNode.scalar()
            let path = name.hasPrefix("/") || directory.isEmpty ? name : directory + "/" + name
            let text: String
            do {
                text = try FileIO.readText(path)
            } catch {
                throw fileNode.error("cannot read Alertmanager configuration \(path): \(error)")
            }
            return try AlertmanagerSettings.parse(text, file: path)
        }
        return try AlertmanagerSettings(yaml: yaml)
    }
}
