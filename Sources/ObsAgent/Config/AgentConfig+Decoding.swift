import ObsCore
import ObsYAML

extension AgentConfig {
    /// Parses and validates `text`, the contents of `file`. Every error names the file, line and key.
    static func parse(_ text: String, file: String) throws(ConfigError) -> AgentConfig {
        var config = AgentConfig()
        config.source = file
        config.text = text
        guard let root = try YAMLValue.parse(text, file: file) else { return config }
        let top = try root.mapping(allowedKeys: ["global", "storage", "scrape_configs", "rule_files"])
        if let global = top["global"] {
            config.global = try GlobalConfig(yaml: global)
        }
        if let storage = top["storage"] {
            config.storage = try StorageConfig(yaml: storage)
        }
        if let rules = top["rule_files"] {
            config.ruleFiles = try rules.decode([String].self)
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
    init(yaml: YAMLValue) throws(ConfigError) {
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
    init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["tsdb"])
        guard let tsdb = map["tsdb"] else { return }
        let tsdbMap = try tsdb.mapping(allowedKeys: ["out_of_order_time_window"])
        outOfOrderTimeWindow = try tsdbMap.decode("out_of_order_time_window", default: PrometheusDuration(milliseconds: 0))
    }
}

extension ScrapeConfig {
    static let keys = [
        "job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "honor_labels",
        "honor_timestamps", "params", "static_configs",
    ]

    init(yaml: YAMLValue, global: GlobalConfig) throws(ConfigError) {
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
    }
}

extension StaticConfig {
    init(yaml: YAMLValue) throws(ConfigError) {
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
    static func isHostPort(_ address: String) -> Bool {
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
