import AgentConfiguration
import Alerting
import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ObsCore
import QueryEngine
import ServiceLifecycle

/// Runs the rule manager and the notifier for the daemon's life: rule groups and Alertmanagers
/// from the configuration at start and on every reload (a reload with a bad rule file fails as a
/// whole, so the rules in force stay).
struct RuleService: Service {
    let manager: RuleManager
    let notifier: Notifier
    let state: AgentState
    let baseOptions: RuleManager.Options
    let queueCapacity: Int
    let logger: Logger

    func run() async throws {
        let (configs, finish) = state.configurations()
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await manager.run() }
                tasks.addTask { await notifier.run() }
                tasks.addTask {
                    for await config in configs { await apply(config) }
                }
                await tasks.waitForAll()
            }
        }
        finish()
    }

    func apply(_ config: AgentConfig) async {
        var options = baseOptions
        options.evaluationInterval = config.global.evaluationInterval.milliseconds
        options.externalLabels = Labels(config.global.externalLabels.pairs.map { Label($0.name, $0.value) })
        var notifierOptions = Notifier.Options()
        notifierOptions.queueCapacity = queueCapacity
        notifierOptions.externalLabels = options.externalLabels
        notifierOptions.relabel = config.alerting.relabel
        // Without Alertmanagers of its own, alerts go to the embedded one when it is configured.
        var targets = config.alerting.targets
        if targets.isEmpty && config.alertmanager != nil {
            targets = [AlertmanagerTarget(url: RoutingAlertmanagerTransport.embeddedURL, timeout: 10_000)]
        }
        notifier.update(targets: targets, options: notifierOptions)
        do {
            try await manager.update(config.rules.groups, options: options)
            if !config.rules.groups.isEmpty {
                logger.info("Rules loaded", metadata: ["groups": "\(config.rules.groups.count)",
                                                       "rules": "\(config.rules.groups.reduce(0) { $0 + $1.rules.count })"])
            }
        } catch {
            logger.error("Error loading rules, previous rule set kept", metadata: ["err": "\(error)"])
        }
    }
}

/// Instant LogQL metric queries over the log store, for `type: logql` groups.
struct LogQLRuleQuerier: RuleQuerier {
    let stores: Stores

    func vector(_ expr: String, at time: Int64) throws(RuleError) -> [Sample] {
        do {
            let parsed = try LogQLParser.parse(expr)
            let engine = LogQLEngine(querier: try stores.logs())
            let nanoseconds = time * 1_000_000
            let result = try engine.metric(parsed, start: nanoseconds, end: nanoseconds, step: 0, instant: true)
            return try PromQLRuleQuerier.vector(result.value)
        } catch let error as RuleError {
            throw error
        } catch {
            throw RuleError.evaluation("\(error)")
        }
    }
}

/// Alerts to Alertmanagers over HTTP, with each Alertmanager's client settings.
struct HTTPAlertmanagerTransport: AlertmanagerTransport {
    func post(to target: AlertmanagerTarget, body: [UInt8]) async throws -> Int {
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "obs-agent/\(BuildInfo.version)")
        try target.http.apply(to: &request)
        request.body = .bytes(ByteBuffer(bytes: body))
        let client = HTTPWebhookTransport.clients.client(for: target.http, url: target.url)
        let response = try await client.execute(request, timeout: .milliseconds(target.timeout))
        // Drain the body so the connection can be reused.
        _ = try? await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }
}

/// The metrics store as it is when a query runs: rules are set up before storage opens.
struct LazyMetricsStore: MetricsQueryable {
    let stores: Stores

    func querier(minTime: Int64, maxTime: Int64) throws -> any MetricsQuerier {
        try stores.metrics().querier(minTime: minTime, maxTime: maxTime)
    }
}
