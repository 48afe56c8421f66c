import ObsCore
import OutboundHTTP

/// One `scrape_configs` entry as the scrape subsystem runs it. Built from the configuration file;
/// immutable.
public struct ScrapeJob: Sendable {
    public var name: String
    /// Milliseconds.
    public var interval: Int64
    public var timeout: Int64
    public var metricsPath = "/metrics"
    public var scheme = "http"
    public var params: [String: [String]] = [:]
    public var honorLabels = false
    public var honorTimestamps = true
    public var trackTimestampsStaleness = false
    /// Zero means no limit, as in Prometheus.
    public var sampleLimit = 0
    public var labelLimit = 0
    public var labelNameLengthLimit = 0
    public var labelValueLengthLimit = 0
    public var bodySizeLimit = 0
    public var relabelConfigs: [RelabelConfig] = []
    public var metricRelabelConfigs: [RelabelConfig] = []
    /// Target groups given in the file (`static_configs`).
    public var staticGroups: [TargetGroup] = []
    /// `file_sd_configs`: file patterns and how often to re-read them (milliseconds).
    public var fileDiscovery: [(files: [String], refreshInterval: Int64)] = []
    public var kubernetesDiscovery: [KubernetesSDConfig] = []
    /// Authentication, TLS and redirects towards the targets.
    public var http = HTTPClientSettings()

    public init(name: String, interval: Int64, timeout: Int64) {
        self.name = name
        self.interval = interval
        self.timeout = timeout
    }

    /// Whether a scrape loop started for `other` would scrape as one for this job does: every
    /// setting a loop reads (discovery and target relabeling decide which loops exist instead).
    func scrapesLike(_ other: ScrapeJob) -> Bool {
        interval == other.interval && timeout == other.timeout && metricsPath == other.metricsPath && scheme == other.scheme
            && params == other.params && honorLabels == other.honorLabels && honorTimestamps == other.honorTimestamps
            && trackTimestampsStaleness == other.trackTimestampsStaleness && sampleLimit == other.sampleLimit
            && labelLimit == other.labelLimit && labelNameLengthLimit == other.labelNameLengthLimit
            && labelValueLengthLimit == other.labelValueLengthLimit && bodySizeLimit == other.bodySizeLimit
            && metricRelabelConfigs.map(\.fingerprint) == other.metricRelabelConfigs.map(\.fingerprint) && http == other.http
    }
}

/// Targets found together with labels they share, as discovery reports them.
public struct TargetGroup: Sendable, Equatable {
    /// Each target's own labels, `__address__` at least.
    public var targets: [[String: String]]
    public var labels: [String: String]
    /// Where the group came from, for replacing it when its source changes.
    public var source: String

    public init(targets: [[String: String]], labels: [String: String] = [:], source: String) {
        self.targets = targets
        self.labels = labels
        self.source = source
    }
}

/// A target after relabeling: what to scrape and the labels its samples get.
public struct ScrapeTarget: Sendable, Hashable {
    public var labels: Labels
    public var discoveredLabels: Labels
    public var url: String

    /// The labels every target of `job` starts from, before `relabel_configs`: the discovered ones
    /// plus `job`, `__address__`-adjacent defaults and `__param_*` from the job's `params`.
    static func initialLabels(_ target: [String: String], group: TargetGroup, job: ScrapeJob) -> [String: String] {
        var labels = group.labels
        for (name, value) in target { labels[name] = value }
        labels["job"] = labels["job"] ?? job.name
        labels["__scheme__"] = labels["__scheme__"] ?? job.scheme
        labels["__metrics_path__"] = labels["__metrics_path__"] ?? job.metricsPath
        labels["__scrape_interval__"] = labels["__scrape_interval__"] ?? PrometheusDuration(milliseconds: job.interval).description
        labels["__scrape_timeout__"] = labels["__scrape_timeout__"] ?? PrometheusDuration(milliseconds: job.timeout).description
        for (name, values) in job.params where labels["__param_" + name] == nil {
            if let first = values.first { labels["__param_" + name] = first }
        }
        return labels
    }

    /// The target for one discovered entry: nil with a reason when relabeling drops it, or when it
    /// has no address.
    public static func build(_ target: [String: String], group: TargetGroup,
                             job: ScrapeJob) -> (target: ScrapeTarget?, discovered: Labels, problem: String?) {
        let initial = initialLabels(target, group: group, job: job)
        let discovered = Labels(initial.map { Label($0.key, $0.value) })
        guard let relabeled = Relabeler.apply(job.relabelConfigs, to: discovered) else { return (nil, discovered, nil) }
        guard let address = relabeled["__address__"], !address.isEmpty else {
            return (nil, discovered, "no address")
        }
        let scheme = relabeled["__scheme__"] ?? job.scheme
        var path = relabeled["__metrics_path__"] ?? job.metricsPath
        if !path.hasPrefix("/") { path = "/" + path }
        var query: [(String, String)] = []
        var names = Set<String>()
        for label in relabeled where label.name.hasPrefix("__param_") {
            let name = String(label.name.dropFirst("__param_".count))
            names.insert(name)
            query.append((name, label.value))
        }
        for (name, values) in job.params.sorted(by: { $0.key < $1.key }) where !names.contains(name) {
            for value in values { query.append((name, value)) }
        }
        var url = "\(scheme)://\(address)\(path)"
        if !query.isEmpty {
            url += "?" + query.map { "\(URLQuery.escape($0.0, spaceAsPlus: false))=\(URLQuery.escape($0.1, spaceAsPlus: false))" }.joined(separator: "&")
        }
        // Labels starting with "__" are for relabeling only; `instance` defaults to the address.
        var kept = relabeled.pairs.filter { !$0.name.hasPrefix("__") }
        if relabeled["instance"] == nil { kept.append(Label("instance", address)) }
        return (ScrapeTarget(labels: Labels(kept), discoveredLabels: discovered, url: url), discovered, nil)
    }
}
