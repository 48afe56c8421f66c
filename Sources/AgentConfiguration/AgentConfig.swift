import Alertmanager
import ObsCore
import OutboundHTTP
import Scrape
import ObsYAML

/// The daemon's configuration file, in Prometheus's layout so a user can paste theirs.
///
/// Sections come with the components that use them; any key not listed here is rejected with its
/// file and line, so a typo never silently falls back to a default. Immutable once loaded; a reload
/// builds a new value and swaps it in.
package struct AgentConfig: Sendable, Equatable {
    package var global = GlobalConfig()
    package var storage = StorageConfig()
    package var scrapeConfigs: [ScrapeConfig] = []
    package var ruleFiles: [String] = []
    /// The groups `ruleFiles` name, read with the configuration.
    package var rules = LoadedRules()
    package var alerting = AlertingConfig()
    /// The embedded Alertmanager's configuration; nil leaves it off.
    package var alertmanager: AlertmanagerSettings?
    package var logs = LogsConfig()
    package var remoteWrite: [RemoteWriteConfig] = []
    package var traces = TracesConfig()

    /// Where the configuration came from, for `/api/v1/status/config` and error messages.
    package var source = ""
    /// The original text, returned by `/api/v1/status/config`.
    package var text = ""
}

/// `global:` — defaults shared by scrape jobs and rule groups.
package struct GlobalConfig: Sendable, Equatable {
    package var scrapeInterval = PrometheusDuration.seconds(60)
    package var scrapeTimeout = PrometheusDuration.seconds(10)
    package var evaluationInterval = PrometheusDuration.seconds(60)
    package var externalLabels = LabelMap()
}

/// `storage:` — Prometheus's runtime storage settings (retention and paths are flags, as there).
package struct StorageConfig: Sendable, Equatable {
    /// `storage.tsdb.out_of_order_time_window`: how much older than the newest sample a sample may be
    /// and still be accepted out of order. Zero (the default) rejects them.
    package var outOfOrderTimeWindow = PrometheusDuration(milliseconds: 0)
    /// `storage.exemplars.max_exemplars`: the exemplar ring's size (Prometheus's default when its
    /// exemplar storage is on); 0 keeps no exemplars.
    package var maxExemplars = 100_000
}

/// One entry of `scrape_configs:`, with the keys the scrape subsystem honours.
package struct ScrapeConfig: Sendable, Equatable {
    package var jobName: String
    package var scrapeInterval: PrometheusDuration
    package var scrapeTimeout: PrometheusDuration
    package var metricsPath = "/metrics"
    package var scheme = "http"
    package var honorLabels = false
    package var honorTimestamps = true
    package var params: [String: [String]] = [:]
    package var staticConfigs: [StaticConfig] = []
    package var trackTimestampsStaleness = false
    package var sampleLimit = 0
    package var labelLimit = 0
    package var labelNameLengthLimit = 0
    package var labelValueLengthLimit = 0
    package var bodySizeLimit = ByteSize(bytes: 0)
    package var relabelConfigs: [RelabelStep] = []
    package var metricRelabelConfigs: [RelabelStep] = []
    package var fileSDConfigs: [FileSDConfig] = []
    package var kubernetesSDConfigs: [KubernetesSDConfig] = []
    /// Authentication, TLS and redirects towards the targets.
    package var http = HTTPClientSettings()
}

/// `file_sd_configs:` entry.
package struct FileSDConfig: Sendable, Equatable {
    package var files: [String]
    package var refreshInterval: PrometheusDuration
}

/// One `relabel_configs` step as written, kept for comparing configurations on reload.
package struct RelabelStep: Sendable, Equatable {
    package var action = "replace"
    package var sourceLabels: [String] = []
    package var separator = ";"
    package var targetLabel = ""
    package var regex = "(.*)"
    package var modulus: UInt64 = 0
    package var replacement = "$1"
}

/// One entry of `static_configs:`: targets as `host:port` plus labels added to all of them.
package struct StaticConfig: Sendable, Equatable {
    package var targets: [String]
    package var labels: LabelMap
}
