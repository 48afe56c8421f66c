import AgentConfiguration
import Alerting
import Alertmanager
import ArgumentParser
import CShims
import Hummingbird
import HummingbirdCore
import TraceCollector
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import MetricsTSDB
import ObsCore
import ObsYAML
import QueryEngine
import Scrape
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The `obs-agent` daemon. Flags follow Prometheus's names so existing manifests carry over.
struct ObsAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "obs-agent",
        abstract: "Metrics, logs, traces and alerts for one node, in one process.",
        version: BuildInfo.version)

    @Option(name: .customLong("config.file"), help: "Configuration file. Without it an embedded default scrapes this agent.")
    var configFile: String?

    @Option(name: [.customLong("storage.path"), .customLong("data-dir"), .customLong("storage.tsdb.path")],
            help: "Directory for all stored data.")
    var storagePath = "./data"

    @Option(name: .customLong("storage.tsdb.retention.time"), help: "How long to keep metric samples (e.g. 15d); 0 keeps them forever.")
    var retentionTime = "15d"

    @Option(name: .customLong("storage.tsdb.retention.size"), help: "Most bytes metric blocks and WAL may take (e.g. 10GB); 0 for no limit.")
    var retentionSize = "0"

    @Option(name: .customLong("storage.remote.backlog.max-size"),
            help: "Most bytes of WAL kept for remote-write queues that are behind (e.g. 2GB); past it they skip the oldest.")
    var backlogSize = "2GB"

    @Option(name: .customLong("storage.remote.backlog.max-age"),
            help: "Oldest WAL segment kept for remote-write queues that are behind (e.g. 24h); past it they skip the oldest.")
    var backlogAge = "24h"

    @Option(name: .customLong("storage.traces.retention.time"), help: "How long to keep spans (e.g. 14d); 0 keeps them forever.")
    var traceRetentionTime = "14d"

    @Option(name: .customLong("storage.traces.retention.size"), help: "Most bytes trace segments may take (e.g. 5GB); 0 for no limit.")
    var traceRetentionSize = "0"

    @Option(name: .customLong("storage.tsdb.min-block-duration"), help: "Time range of a block cut from the in-memory head.")
    var blockDuration = "2h"

    @Option(name: .customLong("web.listen-address"), help: "Address to listen on for the API, UI and receivers.")
    var listenAddress = "127.0.0.1:9090"

    @Option(name: .customLong("otlp.http.listen-address"),
            help: "Extra address for OTLP/HTTP trace exports (POST /v1/traces), e.g. 0.0.0.0:4318; the main address accepts them too. Empty: none.")
    var otlpHTTPAddress = ""

    @Option(name: .customLong("otlp.grpc.listen-address"),
            help: "Address for OTLP/gRPC trace exports, an IPv4 host and port such as 0.0.0.0:4317. Empty: none.")
    var otlpGRPCAddress = ""

    @Option(name: .customLong("zipkin.listen-address"),
            help: "Extra address for Zipkin span reports (POST /api/v2/spans), e.g. 0.0.0.0:9411; the main address accepts them too. Empty: none.")
    var zipkinAddress = ""

    @Option(name: .customLong("web.max-request-body-size"), help: "Largest request body accepted (e.g. 32MB).")
    var maxBodySize = "64MB"

    @Option(name: .customLong("web.max-decoded-body-size"),
            help: "Largest decompressed request body accepted (remote write, push), checked before decoding.")
    var maxDecodedSize = "64MB"

    @Option(name: .customLong("web.config.file"),
            help: "Prometheus web configuration file: TLS (tls_server_config) and basic authentication (basic_auth_users).")
    var webConfigFile: String?

    @Option(name: .customLong("web.read-timeout"),
            help: "Longest a request may take to arrive, and an idle connection may stay open, before it is closed.")
    var readTimeout = "5m"

    @Option(name: .customLong("web.max-connections"), help: "Most connections open at once on each listener.")
    var maxConnections = 512

    @Option(name: .customLong("query.max-concurrency"), help: "Most PromQL and LogQL queries run at once; more wait their turn.")
    var maxConcurrentQueries = 20

    @Flag(name: .customLong("web.enable-admin-api"), help: "Enable the TSDB admin endpoints (snapshot, delete_series, clean_tombstones).")
    var enableAdminAPI = false

    @Flag(name: .customLong("web.enable-lifecycle"), help: "Enable shutdown and reload over HTTP (/-/quit, /-/reload).")
    var enableLifecycle = false

    @Option(name: .customLong("query.lookback-delta"), help: "How far back an instant selector looks for the latest sample.")
    var lookbackDelta = "5m"

    @Option(name: .customLong("query.timeout"), help: "Longest a query may run before it is aborted.")
    var queryTimeout = "2m"

    @Option(name: .customLong("query.max-samples"), help: "Most samples a single query may hold in memory at once.")
    var maxSamples = 50_000_000

    @Option(name: .customLong("query.compatibility"),
            help: "Whose query semantics to follow where they differ: prometheus3 (left-open windows) or prometheus2.")
    var queryCompatibility = "prometheus3"

    @Option(name: .customLong("rules.alert.for-outage-tolerance"),
            help: "Longest outage after which an alert's 'for' state is still restored from ALERTS_FOR_STATE.")
    var forOutageTolerance = "1h"

    @Option(name: .customLong("rules.alert.for-grace-period"),
            help: "Least time between a restart and an alert firing, for alerts whose 'for' is at least this long.")
    var forGracePeriod = "10m"

    @Option(name: .customLong("rules.alert.resend-delay"), help: "How often a firing alert is sent to Alertmanager again.")
    var resendDelay = "1m"

    @Option(name: .customLong("alertmanager.notification-queue-capacity"),
            help: "Alerts queued per Alertmanager; the oldest are dropped beyond it.")
    var notificationQueueCapacity = 10_000

    @Option(name: .customLong("config.auto-reload-interval"),
            help: "Check the configuration files this often and reload when they changed (0s: only on SIGHUP or /-/reload).")
    var autoReloadInterval = "0s"

    @Option(name: .customLong("web.external-url"),
            help: "URL under which the agent is reached, for alert links and templates (default: http://<hostname>:<port>).")
    var externalURL: String?

    @Option(name: .customLong("log.level"), help: "Only log messages at or above this level: debug, info, warn, error.")
    var logLevel = "info"

    @Option(name: .customLong("log.format"), help: "Log line format: logfmt or json.")
    var logFormat = "logfmt"

    func validate() throws {
        guard LineLogHandler.level(named: logLevel) != nil else {
            throw ValidationError("--log.level: unknown level \"\(logLevel)\" (want debug, info, warn or error)")
        }
        guard LineLogHandler.Format(rawValue: logFormat) != nil else {
            throw ValidationError("--log.format: unknown format \"\(logFormat)\" (want logfmt or json)")
        }
        for (flag, value) in [("otlp.http.listen-address", otlpHTTPAddress), ("otlp.grpc.listen-address", otlpGRPCAddress),
                              ("zipkin.listen-address", zipkinAddress)]
        where !value.isEmpty && ListenAddress(value) == nil {
            throw ValidationError("--\(flag): \"\(value)\" is not host:port")
        }
        if let grpc = ListenAddress(otlpGRPCAddress) {
            let parts = grpc.host.split(separator: ".")
            guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else {
                throw ValidationError("--otlp.grpc.listen-address: \"\(otlpGRPCAddress)\" needs an IPv4 address, e.g. 0.0.0.0:4317")
            }
        }
        guard ListenAddress(listenAddress) != nil else {
            throw ValidationError("--web.listen-address: \"\(listenAddress)\" is not host:port")
        }
        guard let size = ByteSize(maxBodySize), size.bytes > 0 else {
            throw ValidationError("--web.max-request-body-size: \"\(maxBodySize)\" is not a size such as 32MB")
        }
        guard PrometheusDuration(retentionTime) != nil else {
            throw ValidationError("--storage.tsdb.retention.time: \"\(retentionTime)\" is not a duration such as 15d")
        }
        guard let backlog = ByteSize(backlogSize), backlog.bytes > 0 else {
            throw ValidationError("--storage.remote.backlog.max-size: \"\(backlogSize)\" is not a size such as 2GB")
        }
        guard let age = PrometheusDuration(backlogAge), age.milliseconds > 0 else {
            throw ValidationError("--storage.remote.backlog.max-age: \"\(backlogAge)\" is not a duration such as 24h")
        }
        guard ByteSize(retentionSize) != nil else {
            throw ValidationError("--storage.tsdb.retention.size: \"\(retentionSize)\" is not a size such as 10GB")
        }
        guard PrometheusDuration(traceRetentionTime) != nil else {
            throw ValidationError("--storage.traces.retention.time: \"\(traceRetentionTime)\" is not a duration such as 14d")
        }
        guard ByteSize(traceRetentionSize) != nil else {
            throw ValidationError("--storage.traces.retention.size: \"\(traceRetentionSize)\" is not a size such as 5GB")
        }
        guard let block = PrometheusDuration(blockDuration), block.milliseconds > 0 else {
            throw ValidationError("--storage.tsdb.min-block-duration: \"\(blockDuration)\" is not a positive duration")
        }
        guard let lookback = PrometheusDuration(lookbackDelta), lookback.milliseconds > 0 else {
            throw ValidationError("--query.lookback-delta: \"\(lookbackDelta)\" is not a positive duration")
        }
        guard let timeout = PrometheusDuration(queryTimeout), timeout.milliseconds > 0 else {
            throw ValidationError("--query.timeout: \"\(queryTimeout)\" is not a positive duration")
        }
        guard EngineOptions.Compatibility(rawValue: queryCompatibility) != nil else {
            throw ValidationError("--query.compatibility: \"\(queryCompatibility)\" is neither prometheus3 nor prometheus2")
        }
        guard let read = PrometheusDuration(readTimeout), read.milliseconds > 0 else {
            throw ValidationError("--web.read-timeout: \"\(readTimeout)\" is not a positive duration")
        }
        guard maxConnections > 0 else { throw ValidationError("--web.max-connections: must be positive") }
        guard maxConcurrentQueries > 0 else { throw ValidationError("--query.max-concurrency: must be positive") }
        guard maxSamples > 0 else {
            throw ValidationError("--query.max-samples: must be positive")
        }
        for (flag, value) in [("rules.alert.for-outage-tolerance", forOutageTolerance), ("rules.alert.for-grace-period", forGracePeriod),
                              ("rules.alert.resend-delay", resendDelay)] where PrometheusDuration(value) == nil {
            throw ValidationError("--\(flag): \"\(value)\" is not a duration such as 10m")
        }
        guard let reloadInterval = PrometheusDuration(autoReloadInterval), reloadInterval.milliseconds >= 0 else {
            throw ValidationError("--config.auto-reload-interval: \"\(autoReloadInterval)\" is not a duration such as 30s")
        }
        guard notificationQueueCapacity > 0 else { throw ValidationError("--alertmanager.notification-queue-capacity: must be positive") }
        if let externalURL, !(externalURL.hasPrefix("http://") || externalURL.hasPrefix("https://")) {
            throw ValidationError("--web.external-url: \"\(externalURL)\" is not an http:// or https:// URL")
        }
        guard let decoded = ByteSize(maxDecodedSize), decoded.bytes > 0 else {
            throw ValidationError("--web.max-decoded-body-size: \"\(maxDecodedSize)\" is not a size such as 256MB")
        }
    }

    func run() async throws {
        // SIGHUP's default action ends the process; until the reload service traps it, ignore it, so a
        // reload sent during startup cannot kill the agent.
        signal(SIGHUP, SIG_IGN)
        // glibc raises its mmap threshold to the size of each large block freed, after which
        // multi-megabyte buffers (WAL records, segments, scrape bodies) come from the heap and stay
        // resident after use. A fixed threshold keeps them mmapped and returned to the system.
        _ = obs_fix_mmap_threshold(256 << 10)
        // With a fixed mmap threshold glibc also stops adapting its trim threshold, and gave the
        // heap's top back after every query and remote-write batch, to fault it in again on the
        // next (a tenth of a range query's time). `FreedMemoryService` returns what stays free
        // every second instead.
        _ = obs_set_trim_threshold(64 << 20)
        let startTime = WallClock.unixSeconds()
        let format = LineLogHandler.Format(rawValue: logFormat)!
        let level = LineLogHandler.level(named: logLevel)!
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, format: format, level: level) }
        let logger = Logger(label: "obs-agent")
        let address = ListenAddress(listenAddress)!

        // The embedded default tails the samples the daemon replays into its data directory.
        let sampleLogs = storagePath + "/sample-pods"
        let loader = ConfigLoader(path: configFile, selfTarget: address.selfTarget, sampleLogs: sampleLogs)
        let config: AgentConfig
        do {
            config = try loader.load()
        } catch {
            logger.error("Error loading config", metadata: ["err": "\(error)"])
            throw ExitCode(1)
        }

        let directory: DataDirectory
        do {
            directory = try DataDirectory(path: storagePath)
        } catch {
            logger.error("Error opening storage", metadata: ["err": "\(error)"])
            throw ExitCode(1)
        }

        let metrics = MetricsRegistry()
        ProcessMetrics.register(in: metrics)
        metrics.gauge("obs_agent_build_info", help: "Build information of this agent; the value is always 1.",
                      labelNames: ["version", "revision", "branch", "swiftversion"])
            .labels(BuildInfo.version, "unknown", BuildInfo.branch, BuildInfo.compilerVersion).set(1)

        let state = AgentState(
            config: config, loader: loader, metrics: metrics, flags: flagValues(), startTime: startTime,
            logger: Logger(label: "config"))

        let security: WebSecurity
        do {
            security = try WebSecurity(path: webConfigFile, logger: Logger(label: "web-config"))
        } catch {
            logger.error("Error loading web configuration", metadata: ["err": "\(error)"])
            throw ExitCode(1)
        }

        let stores = Stores()
        let bodyLimit = Int(ByteSize(maxBodySize)!.bytes)
        let router = Router()
        router.add(middleware: TelemetryMiddleware(metrics: metrics, maxBodySize: bodyLimit))
        router.add(middleware: WebSecurityMiddleware(security: security))
        let remoteWriteQueues = RemoteWriteQueues()
        let logForwarders = SpoolForwarders(signal: .logs, directory: try directory.subdirectory("logs") + "/forward", metrics: metrics,
                                            logger: Logger(label: "log-forward"))
        let traceForwarders = SpoolForwarders(signal: .traces, directory: try directory.subdirectory("traces") + "/forward", metrics: metrics,
                                              logger: Logger(label: "trace-forward"))
        StatusRoutes(state: state, lifecycleEnabled: enableLifecycle, forwarding: remoteWriteQueues, logForwarding: logForwarders,
                     traceForwarding: traceForwarders).register(on: router)
        SeriesRoutes(stores: stores).register(on: router)
        let queryGate = QueryGate(limit: maxConcurrentQueries, metrics: metrics)
        QueryRoutes(stores: stores, state: state, engine: PromQLEngine(options: queryOptions()), gate: queryGate).register(on: router)
        AdminRoutes(stores: stores, enabled: enableAdminAPI).register(on: router)
        let time = SystemTimeSource()
        let scrapes = ScrapeManager(store: { try? stores.metrics() }, time: time, logger: Logger(label: "scrape"))
        let ruleOptions = self.ruleOptions(address: address)
        let alertmanager: EmbeddedAlertmanager
        do {
            var options = EmbeddedAlertmanager.Options()
            options.externalURL = ruleOptions.externalURL
            alertmanager = try EmbeddedAlertmanager(
                databasePath: try directory.subdirectory("alertmanager") + "/state.db", options: options, transport: HTTPWebhookTransport(),
                time: time, offload: Offload { work in try? await NIOThreadPool.singleton.runIfActive(work) }, metrics: metrics,
                logger: Logger(label: "alertmanager"))
        } catch {
            logger.error("Error opening the Alertmanager state", metadata: ["err": "\(error)"])
            throw ExitCode(1)
        }
        AlertmanagerRoutes(alertmanager: alertmanager, maxBodySize: bodyLimit,
                           maxDecodedSize: Int(ByteSize(maxDecodedSize)!.bytes)).register(on: router)
        let notifier = Notifier(transport: RoutingAlertmanagerTransport(alertmanager: alertmanager), time: time, metrics: metrics,
                                logger: Logger(label: "notifier"))
        let promQLRules = PromQLRuleQuerier(engine: PromQLEngine(options: queryOptions()), store: LazyMetricsStore(stores: stores))
        let logQLRules = LogQLRuleQuerier(stores: stores)
        let rules = RuleManager(
            queriers: { language -> (any RuleQuerier)? in language == .promql ? promQLRules : logQLRules },
            appendable: { try? stores.metrics() }, history: { try? stores.metrics() },
            notify: { [externalURL = ruleOptions.externalURL] expr, alerts in
                notifier.send(alerts.map { NotifiedAlert($0, expr: expr, externalURL: externalURL) })
            },
            time: time, offload: Offload { work in try? await NIOThreadPool.singleton.runIfActive(work) },
            metrics: metrics, logger: Logger(label: "rules"))
        RuleRoutes(manager: rules, notifier: notifier).register(on: router)
        TargetRoutes(scrapes: scrapes).register(on: router)
        RemoteWriteRoutes(
            stores: stores, maxBodySize: bodyLimit, maxDecodedSize: Int(ByteSize(maxDecodedSize)!.bytes),
            counters: ReceiverCounters(metrics, name: "obs_remote_write_samples_total", help: "Samples received over remote write, by result."),
            logger: Logger(label: "remote-write")
        ).register(on: router)

        LokiPushRoutes(
            stores: stores, maxBodySize: bodyLimit, maxDecodedSize: Int(ByteSize(maxDecodedSize)!.bytes),
            counters: ReceiverCounters(metrics, name: "obs_loki_push_entries_total", help: "Log entries received over Loki push, by result."),
            logger: Logger(label: "loki-push")
        ).register(on: router)
        let spanMetrics = SpanMetrics()
        let traceReceivers = TraceReceiverRoutes(
            stores: stores, maxBodySize: bodyLimit, maxDecodedSize: Int(ByteSize(maxDecodedSize)!.bytes),
            counters: ReceiverCounters(metrics, name: "obs_trace_spans_received_total", help: "Spans received over OTLP and Zipkin, by result."),
            spanMetrics: spanMetrics, logger: Logger(label: "traces"))
        traceReceivers.register(on: router)
        LokiLabelRoutes(stores: stores).register(on: router)
        LokiQueryRoutes(stores: stores, gate: queryGate).register(on: router)
        LokiIndexRoutes(stores: stores, gate: queryGate).register(on: router)
        TempoRoutes(stores: stores).register(on: router)
        JaegerRoutes(stores: stores).register(on: router)
        ZipkinRoutes(stores: stores, prefix: "/zipkin").register(on: router)
        let webSocketRouter = Router(context: BasicWebSocketRequestContext.self)
        webSocketRouter.add(middleware: WebSecurityMiddleware(security: security))
        LokiTailRoute(stores: stores).register(on: webSocketRouter)

        let httpLogger = Logger(label: "web")
        let readDeadline = TimeAmount.milliseconds(PrometheusDuration(readTimeout)!.milliseconds)
        let webSocketResponder = webSocketRouter.buildResponder()
        let server = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                GuardedChannel(inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder,
                                                                   configuration: .init()),
                               readTimeout: readDeadline, security: security)
            },
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil,
                                 availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: httpLogger)),
            onServerRunning: { channel in
                let bound = channel.localAddress.map { "\($0.ipAddress ?? address.host):\($0.port ?? address.port)" }
                httpLogger.info("Listening", metadata: ["address": "\(bound ?? address.description)"])
            },
            logger: httpLogger)

        // Receivers on their conventional ports, when asked for.
        var receiverServers: [any Service] = []
        for (name, text) in [("otlp-http", otlpHTTPAddress), ("zipkin", zipkinAddress)] where !text.isEmpty {
            let extra = ListenAddress(text)!
            let receiverLogger = Logger(label: name)
            let receiverRouter = Router()
            receiverRouter.add(middleware: TelemetryMiddleware(metrics: metrics, maxBodySize: bodyLimit))
            receiverRouter.add(middleware: WebSecurityMiddleware(security: security))
            traceReceivers.register(on: receiverRouter)
            // Zipkin's own port also answers Zipkin's query API, as a Zipkin server does.
            if name == "zipkin" { ZipkinRoutes(stores: stores, prefix: "").register(on: receiverRouter) }
            receiverServers.append(Application(
                router: receiverRouter,
                server: HTTPServerBuilder { responder in GuardedChannel(inner: HTTP1Channel(responder: responder), readTimeout: readDeadline, security: security) },
                configuration: .init(address: .hostname(extra.host, port: extra.port), serverName: nil,
                                     availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: receiverLogger)),
                onServerRunning: { channel in
                    let bound = channel.localAddress.map { "\($0.ipAddress ?? extra.host):\($0.port ?? extra.port)" } ?? text
                    receiverLogger.info("Receiver listening", metadata: ["protocol": "\(name)", "address": "\(bound)"])
                },
                logger: receiverLogger))
        }

        if let grpc = ListenAddress(otlpGRPCAddress) {
            receiverServers.append(OTLPGRPCService(
                host: grpc.host, port: grpc.port, receivers: traceReceivers, security: security, maxMessageSize: bodyLimit,
                maxDecodedSize: Int(ByteSize(maxDecodedSize)!.bytes), idleTimeout: readDeadline, logger: Logger(label: "otlp-grpc")))
        }

        // A service that returns ends the group, so the watch runs only when asked for.
        let reloadInterval = PrometheusDuration(autoReloadInterval)!.milliseconds
        let configWatch: [any Service] = reloadInterval > 0
            ? [ConfigWatchService(state: state, interval: reloadInterval, time: time, logger: Logger(label: "config"))] : []
        let forwarding = ForwardingService(stores: stores, state: state, directory: try directory.subdirectory("metrics") + "/queues",
                                           queues: remoteWriteQueues, metadata: { scrapes.remoteWriteMetadata() },
                                           logForwarders: logForwarders, traceForwarders: traceForwarders,
                                           logger: Logger(label: "remote-write"))
        let samples: [any Service] = configFile == nil
            ? [SampleLogService(source: "examples/logs/pods", target: sampleLogs, time: time, logger: Logger(label: "samples"))] : []
        let group = ServiceGroup(
            configuration: .init(
                // Shutdown runs in reverse: every listener stops before storage closes.
                services: [
                    StorageService(directory: directory, options: storeOptions(), traceOptions: traceStoreOptions(), stores: stores, state: state,
                                   logger: Logger(label: "storage"), logForwarders: logForwarders, traceForwarders: traceForwarders),
                ] + receiverServers + [
                    server,
                    ScrapeService(manager: scrapes, state: state),
                    LogTailService(stores: stores, state: state, positionsPath: try directory.subdirectory("logs") + "/positions.db",
                                   logger: Logger(label: "tail")),
                    ReloadSignalService(state: state),
                    SpanMetricsService(metrics: spanMetrics, stores: stores, logger: Logger(label: "span-metrics")),
                    AlertmanagerService(alertmanager: alertmanager, state: state, logger: Logger(label: "alertmanager")),
                    RuleService(manager: rules, notifier: notifier, state: state, baseOptions: ruleOptions,
                                queueCapacity: notificationQueueCapacity, logger: Logger(label: "rules")),
                    forwarding,
                    FreedMemoryService(time: time),
                ] + configWatch + samples,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: Logger(label: "lifecycle")))
        state.onShutdownRequest { await group.triggerGracefulShutdown() }

        logger.info("Starting obs-agent", metadata: [
            "version": "\(BuildInfo.version)", "config": "\(config.source)", "storage": "\(directory.path)",
        ])
        try await group.run()
        logger.info("See you next time!")
    }

    private func traceStoreOptions() -> TraceStoreOptions {
        var options = TraceStoreOptions()
        options.retention = PrometheusDuration(traceRetentionTime)!.milliseconds / 1000
        options.retentionBytes = Int(ByteSize(traceRetentionSize)!.bytes)
        return options
    }

    private func storeOptions() -> MetricsStore.Options {
        var options = MetricsStore.Options()
        options.blockRange = PrometheusDuration(blockDuration)!.milliseconds
        let retention = PrometheusDuration(retentionTime)!.milliseconds
        options.retentionTime = retention > 0 ? retention : nil
        let size = ByteSize(retentionSize)!.bytes
        options.retentionSize = size > 0 ? size : nil
        options.maxWALBacklogBytes = Int(ByteSize(backlogSize)!.bytes)
        options.maxWALBacklogAge = PrometheusDuration(backlogAge)!.milliseconds
        // Prometheus keeps snapshots at <data>/snapshots; so do we, beside the per-signal stores.
        options.snapshotsDirectory = storagePath + "/snapshots"
        return options
    }

    private func ruleOptions(address: ListenAddress) -> RuleManager.Options {
        var options = RuleManager.Options()
        options.outageTolerance = PrometheusDuration(forOutageTolerance)!.milliseconds
        options.forGracePeriod = PrometheusDuration(forGracePeriod)!.milliseconds
        options.resendDelay = PrometheusDuration(resendDelay)!.milliseconds
        var url = externalURL ?? "http://\(ProcessInfo.processInfo.hostName):\(address.port)"
        while url.hasSuffix("/") { url.removeLast() }
        options.externalURL = url
        return options
    }

    private func queryOptions() -> EngineOptions {
        var options = EngineOptions()
        options.lookbackDelta = PrometheusDuration(lookbackDelta)!.milliseconds
        options.timeout = .milliseconds(PrometheusDuration(queryTimeout)!.milliseconds)
        options.maxSamples = maxSamples
        options.compatibility = EngineOptions.Compatibility(rawValue: queryCompatibility)!
        return options
    }

    private func flagValues() -> [(String, String)] {
        [
            ("config.file", configFile ?? ""),
            ("storage.path", storagePath),
            ("storage.tsdb.retention.time", retentionTime),
            ("storage.tsdb.retention.size", retentionSize),
            ("storage.remote.backlog.max-size", backlogSize),
            ("storage.remote.backlog.max-age", backlogAge),
            ("storage.tsdb.min-block-duration", blockDuration),
            ("storage.traces.retention.time", traceRetentionTime),
            ("storage.traces.retention.size", traceRetentionSize),
            ("web.listen-address", listenAddress),
            ("otlp.http.listen-address", otlpHTTPAddress),
            ("otlp.grpc.listen-address", otlpGRPCAddress),
            ("zipkin.listen-address", zipkinAddress),
            ("web.max-request-body-size", maxBodySize),
            ("web.max-decoded-body-size", maxDecodedSize),
            ("web.config.file", webConfigFile ?? ""),
            ("web.read-timeout", readTimeout),
            ("web.max-connections", String(maxConnections)),
            ("web.enable-lifecycle", String(enableLifecycle)),
            ("web.enable-admin-api", String(enableAdminAPI)),
            ("query.lookback-delta", lookbackDelta),
            ("query.timeout", queryTimeout),
            ("query.max-samples", String(maxSamples)),
            ("query.max-concurrency", String(maxConcurrentQueries)),
            ("query.compatibility", queryCompatibility),
            ("rules.alert.for-outage-tolerance", forOutageTolerance),
            ("rules.alert.for-grace-period", forGracePeriod),
            ("rules.alert.resend-delay", resendDelay),
            ("alertmanager.notification-queue-capacity", String(notificationQueueCapacity)),
            ("web.external-url", externalURL ?? ""),
            ("config.auto-reload-interval", autoReloadInterval),
            ("log.level", logLevel),
            ("log.format", logFormat),
        ]
    }
}
