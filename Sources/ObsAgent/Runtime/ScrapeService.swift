import AgentConfiguration
import Logging
import ObsCore
import Scrape
import ServiceLifecycle

/// Runs the scrape manager for the daemon's life: jobs from the configuration at start and on
/// every reload; on graceful shutdown the loops stop and their series go stale.
struct ScrapeService: Service {
    let manager: ScrapeManager
    let state: AgentState

    func run() async throws {
        manager.apply(state.config.scrapeJobs)
        state.onReload { [manager] config in manager.apply(config.scrapeJobs) }
        await cancelWhenGracefulShutdown { await manager.run() }
    }
}

extension AgentConfig {
    /// The scrape jobs the configuration describes.
    var scrapeJobs: [ScrapeJob] {
        scrapeConfigs.map { config in
            var job = ScrapeJob(name: config.jobName, interval: config.scrapeInterval.milliseconds,
                                timeout: config.scrapeTimeout.milliseconds)
            job.metricsPath = config.metricsPath
            job.scheme = config.scheme
            job.params = config.params
            job.honorLabels = config.honorLabels
            job.honorTimestamps = config.honorTimestamps
            job.trackTimestampsStaleness = config.trackTimestampsStaleness
            job.sampleLimit = config.sampleLimit
            job.labelLimit = config.labelLimit
            job.labelNameLengthLimit = config.labelNameLengthLimit
            job.labelValueLengthLimit = config.labelValueLengthLimit
            job.bodySizeLimit = Int(config.bodySizeLimit.bytes)
            job.http = config.http
            // Steps were checked when the file was read.
            job.relabelConfigs = config.relabelConfigs.compactMap { try? $0.step() }
            job.metricRelabelConfigs = config.metricRelabelConfigs.compactMap { try? $0.step() }
            job.staticGroups = config.staticConfigs.map { group in
                TargetGroup(targets: group.targets.map { ["__address__": $0] },
                            labels: Dictionary(group.labels.pairs.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 }),
                            source: "static")
            }
            job.fileDiscovery = config.fileSDConfigs.map { ($0.files, $0.refreshInterval.milliseconds) }
            job.kubernetesDiscovery = config.kubernetesSDConfigs
            return job
        }
    }
}
