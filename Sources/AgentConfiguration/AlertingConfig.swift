import Alerting
import ObsCore
import ObsYAML
import OutboundHTTP
import Scrape

/// `alerting:` — where alerts go: Prometheus's `alertmanagers` (static targets, API v2) and
/// `alert_relabel_configs`.
package struct AlertingConfig: Sendable, Equatable {
    package var alertRelabelConfigs: [RelabelStep] = []
    package var alertmanagers: [AlertmanagerConfig] = []

    package init() {}

    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["alertmanagers", "alert_relabel_configs"])
        alertRelabelConfigs = try map["alert_relabel_configs"]?.sequence().map { (entry) throws(ConfigError) in
            try RelabelStep(yaml: entry)
        } ?? []
        alertmanagers = try map["alertmanagers"]?.sequence().map { (entry) throws(ConfigError) in
            try AlertmanagerConfig(yaml: entry)
        } ?? []
    }

    /// Every Alertmanager endpoint: `scheme://target/path_prefix/api/v2/alerts`.
    package var targets: [AlertmanagerTarget] {
        alertmanagers.flatMap { am in
            am.targets.map { target in
                var prefix = am.pathPrefix.hasSuffix("/") ? String(am.pathPrefix.dropLast()) : am.pathPrefix
                if !prefix.isEmpty && !prefix.hasPrefix("/") { prefix = "/" + prefix }
                return AlertmanagerTarget(url: "\(am.scheme)://\(target)\(prefix)/api/v2/alerts", timeout: am.timeout.milliseconds,
                                          http: am.http)
            }
        }
    }

    /// The relabeling `alert_relabel_configs` describe, nil without any.
    package var relabel: (@Sendable (Labels) -> Labels?)? {
        let steps = alertRelabelConfigs.compactMap { try? $0.step() }
        guard !steps.isEmpty else { return nil }
        return { labels in Relabeler.apply(steps, to: labels) }
    }
}

/// One entry of `alerting.alertmanagers`.
package struct AlertmanagerConfig: Sendable, Equatable {
    package var scheme = "http"
    package var pathPrefix = "/"
    package var timeout = PrometheusDuration.seconds(10)
    package var targets: [String] = []

    /// Authentication and TLS towards the Alertmanagers.
    package var http = HTTPClientSettings()

    package static let keys = ["static_configs", "scheme", "path_prefix", "timeout", "api_version"] + HTTPClientSettings.keys
        + notYetSupported

    /// Prometheus keys recognised but not built yet: refused by name rather than as unknown keys.
    package static let notYetSupported = ["relabel_configs", "file_sd_configs", "kubernetes_sd_configs", "dns_sd_configs"]

    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: Self.keys)
        for key in Self.notYetSupported where map[key] != nil {
            throw map.error(at: key, "\(key) is not supported for Alertmanagers by obs-agent yet")
        }
        http = try HTTPClientSettings(mapping: map)
        scheme = try map.decode("scheme", default: "http")
        guard scheme == "http" || scheme == "https" else {
            throw map.error(at: "scheme", "unsupported scheme \"\(scheme)\" (want http or https)")
        }
        pathPrefix = try map.decode("path_prefix", default: "/")
        timeout = try map.decode("timeout", default: .seconds(10))
        guard timeout.milliseconds > 0 else { throw map.error(at: "timeout", "timeout must be greater than zero") }
        let version = try map.decode("api_version", default: "v2")
        guard version == "v2" else {
            throw map.error(at: "api_version", "api_version \"\(version)\" is not supported: Alertmanager 0.25 and later speak v2")
        }
        for entry in try map["static_configs"]?.sequence() ?? [] {
            let config = try StaticConfig(yaml: entry)
            guard config.labels.pairs.isEmpty else {
                throw entry.error("labels on Alertmanager targets are not used; remove them")
            }
            targets += config.targets
        }
    }
}

/// The rule groups of `rule_files`, read when the configuration is loaded so that a bad rule file
/// fails the load (or the reload, which then keeps the rules in force) with its file and line.
package struct LoadedRules: Sendable, Equatable {
    package var groups: [RuleGroupSpec] = []
    /// Every file read and its text: two loads are the same when these are.
    package var files: [String: String] = [:]

    package static func == (lhs: LoadedRules, rhs: LoadedRules) -> Bool { lhs.files == rhs.files }

    /// Reads every file the patterns match; relative patterns are relative to `directory`, as in
    /// Prometheus. A pattern matching nothing loads nothing.
    package static func load(_ patterns: [String], relativeTo directory: String, node: YAMLValue?) throws(ConfigError) -> LoadedRules {
        var loaded = LoadedRules()
        for (index, pattern) in patterns.enumerated() {
            guard !pattern.isEmpty else {
                let entry = node.flatMap { try? $0.sequence() }.map { $0[index] }
                throw entry?.error("empty rule file pattern")
                    ?? ConfigError(file: "", line: nil, column: nil, key: "rule_files[\(index)]", message: "empty rule file pattern")
            }
            let absolute = pattern.hasPrefix("/") || directory.isEmpty ? pattern : directory + "/" + pattern
            for path in RuleFileGlob.expand(absolute) where loaded.files[path] == nil {
                let text: String
                do {
                    text = try FileIO.readText(path)
                } catch {
                    throw ConfigError(file: path, line: nil, column: nil, key: "", message: "cannot read rule file: \(error)")
                }
                do {
                    loaded.groups += try RuleFile.parse(text, path: path).groups
                } catch {
                    if case let .config(located) = error { throw located }
                    throw ConfigError(file: path, line: nil, column: nil, key: "", message: error.description)
                }
                loaded.files[path] = text
            }
        }
        return loaded
    }
}
