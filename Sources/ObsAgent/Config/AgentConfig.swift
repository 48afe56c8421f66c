import Alertmanager
import ObsCore
import Scrape
import ObsYAML

/// The daemon's configuration file, in Prometheus's layout so a user can paste theirs.
///
/// Sections come with the components that use them; any key not listed here is rejected with its
/// file and line, so a typo never silently falls back to a default. Immutable once loaded; a reload
/// builds a new value and swaps it in.
struct AgentConfig: Sendable, Equatable {
    var global = GlobalConfig()
    var storage = StorageConfig()
    var scrapeConfigs: [ScrapeConfig] = []
    var ruleFiles: [String] = []
    /// The groups `ruleFiles` name, read with the configuration.
    var rules = LoadedRules()
    var alerting = AlertingConfig()
    /// The embedded Alertmanager's configuration; nil leaves it off.
    var alertmanager: AlertmanagerSettings?
    var logs = LogsConfig()

    /// Where the configuration came from, for `/api/v1/status/config` and error messages.
    var source = ""
    /// The original text, returned by `/api/v1/status/config`.
    var text = ""
}

/// `global:` — defaults shared by scrape jobs and rule groups.
struct GlobalConfig: Sendable, Equatable {
    var scrapeInterval = PrometheusDuration.seconds(60)
    var scrapeTimeout = PrometheusDuration.seconds(10)
    var evaluationInterval = PrometheusDuration.seconds(60)
    var externalLabels = LabelMap()
}

/// `storage:` — Prometheus's runtime storage settings (retention and paths are flags, as there).
struct StorageConfig: Sendable, Equatable {
    /// `storage.tsdb.out_of_order_time_window`: how much older than the newest sample a sample may be
    /// and still be accepted out of order. Zero (the default) rejects them.
    var outOfOrderTimeWindow = PrometheusDuration(milliseconds: 0)
}

/// One entry of `scrape_configs:`, with the keys the scrape subsystem honours.
struct ScrapeConfig: Sendable, Equatable {
    var jobName: String
    var scrapeInterval: PrometheusDuration
    var scrapeTimeout: PrometheusDuration
    var metricsPath = "/metrics"
    var scheme = "http"
    var honorLabels = false
    var honorTimestamps = true
    var params: [String: [String]] = [:]
    var staticConfigs: [StaticConfig] = []
    var trackTimestampsStaleness = false
    var sampleLimit = 0
    var labelLimit = 0
    var labelNameLengthLimit = 0
    var labelValueLengthLimit = 0
    var bodySizeLimit = ByteSize(bytes: 0)
    var relabelConfigs: [RelabelStep] = []
    var metricRelabelConfigs: [RelabelStep] = []
    var fileSDConfigs: [FileSDConfig] = []
    var kubernetesSDConfigs: [KubernetesSDConfig] = []
}

/// `file_sd_configs:` entry.
struct FileSDConfig: Sendable, Equatable {
    var files: [String]
    var refreshInterval: PrometheusDuration
}

/// One `relabel_configs` step as written, kept for comparing configurations on reload.
struct RelabelStep: Sendable, Equatable {
    var action = "replace"
    var sourceLabels: [String] = []
    var separator = ";"
    var targetLabel = ""
    var regex = "(.*)"
    var modulus: UInt64 = 0
    var replacement = "$1"
}

/// One entry of `static_configs:`: targets as `host:port` plus labels added to all of them.
struct StaticConfig: Sendable, Equatable {
    var targets: [String]
    var labels: LabelMap
}
