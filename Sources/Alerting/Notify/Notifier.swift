import Logging
import ObsCore
import OutboundHTTP
import Synchronization
import Templating

/// An alert as it goes to an Alertmanager (API v2 `PostableAlert`).
public struct NotifiedAlert: Sendable, Equatable {
    public var labels: Labels
    public var annotations: [Label]
    /// Milliseconds since the epoch.
    public var startsAt: Int64
    public var endsAt: Int64
    public var generatorURL: String

    public init(labels: Labels, annotations: [Label], startsAt: Int64, endsAt: Int64, generatorURL: String) {
        self.labels = labels
        self.annotations = annotations
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.generatorURL = generatorURL
    }

    /// Prometheus's conversion of a rule's alert: it starts when it fired and ends when it was
    /// resolved, or when it stops being valid unless sent again.
    public init(_ alert: Alert, expr: String, externalURL: String) {
        self.init(labels: alert.labels, annotations: alert.annotations, startsAt: alert.firedAt ?? alert.activeAt,
                  endsAt: alert.resolvedAt ?? alert.validUntil ?? alert.activeAt,
                  generatorURL: externalURL + "/graph?g0.expr=" + URLQuery.escape(expr, spaceAsPlus: true) + "&g0.tab=1")
    }
}

/// How the notifier reaches one Alertmanager; the daemon's is HTTP, tests use their own.
public protocol AlertmanagerTransport: Sendable {
    /// POSTs `body` (JSON) to the target's URL with its client settings and timeout; returns the
    /// HTTP status.
    func post(to target: AlertmanagerTarget, body: [UInt8]) async throws -> Int
}

/// One Alertmanager to send to.
public struct AlertmanagerTarget: Sendable, Hashable {
    /// `scheme://host:port/prefix/api/v2/alerts`.
    public var url: String
    /// Milliseconds.
    public var timeout: Int64
    /// Authentication and TLS towards it.
    public var http: HTTPClientSettings

    public init(url: String, timeout: Int64, http: HTTPClientSettings = HTTPClientSettings()) {
        self.url = url
        self.timeout = timeout
        self.http = http
    }
}

/// Sends alerts to every configured Alertmanager. Each Alertmanager has its own bounded queue
/// (the oldest alerts are dropped and counted when it is full) and its own sender, which retries a
/// failed batch with exponential backoff before taking the next; adding alerts never waits, so
/// an unreachable Alertmanager never holds up rule evaluation.
public final class Notifier: Sendable {
    public struct Options: Sendable {
        /// `--alertmanager.notification-queue-capacity`.
        public var queueCapacity = 10_000
        /// Alerts per request, as Prometheus.
        public var batchSize = 64
        public var externalLabels: Labels = .empty
        /// `alert_relabel_configs`: nil drops the alert.
        public var relabel: (@Sendable (Labels) -> Labels?)?
        /// Milliseconds.
        public var minBackoff: Int64 = 500
        public var maxBackoff: Int64 = 30_000

        public init() {}
    }

    struct Queue {
        var alerts: [NotifiedAlert] = []
        var waiter: CheckedContinuation<Void, Never>?
    }

    struct State {
        var targets: [AlertmanagerTarget] = []
        var queues: [AlertmanagerTarget: Queue] = [:]
        var options = Options()
    }

    let state = Mutex(State())
    let senders = RestartingTasks()
    let transport: any AlertmanagerTransport
    let time: any TimeSource
    let logger: Logger
    let sent: CounterFamily
    let errors: CounterFamily
    let dropped: Counter
    let queueLength: GaugeFamily
    let queueCapacity: Gauge
    let discovered: Gauge
    let latency: HistogramFamily

    public init(transport: any AlertmanagerTransport, time: any TimeSource, metrics: MetricsRegistry, logger: Logger) {
        self.transport = transport
        self.time = time
        self.logger = logger
        sent = metrics.counter("prometheus_notifications_sent_total", help: "Total number of alerts sent.", labelNames: ["alertmanager"])
        errors = metrics.counter("prometheus_notifications_errors_total", help: "Total number of errors sending alert notifications.",
                                 labelNames: ["alertmanager"])
        dropped = metrics.counter("prometheus_notifications_dropped_total",
                                  help: "Total number of alerts dropped due to errors when sending to Alertmanager.").labels()
        queueLength = metrics.gauge("prometheus_notifications_queue_length", help: "The number of alert notifications in the queue.",
                                    labelNames: ["alertmanager"])
        queueCapacity = metrics.gauge("prometheus_notifications_queue_capacity", help: "The capacity of the alert notifications queue.").labels()
        discovered = metrics.gauge("prometheus_notifications_alertmanagers_discovered",
                                   help: "The number of alertmanagers discovered and active.").labels()
        latency = metrics.histogram("prometheus_notifications_latency_seconds", help: "Latency quantiles for sending alert notifications.",
                                    labelNames: ["alertmanager"], buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10])
    }

    /// The Alertmanagers in force.
    public var targets: [AlertmanagerTarget] { state.withLock { $0.targets } }

    /// Queued alerts per Alertmanager.
    public func pending(_ target: AlertmanagerTarget) -> Int { state.withLock { $0.queues[target]?.alerts.count ?? 0 } }

    /// Puts a new set of Alertmanagers and options in force; queues of Alertmanagers that stay are kept.
    public func update(targets: [AlertmanagerTarget], options: Options) {
        state.withLock { state in
            state.targets = targets
            state.options = options
            var queues: [AlertmanagerTarget: Queue] = [:]
            for target in targets { queues[target] = state.queues[target] ?? Queue() }
            for (target, queue) in state.queues where queues[target] == nil { queue.waiter?.resume() }
            state.queues = queues
        }
        queueCapacity.set(Double(options.queueCapacity))
        discovered.set(Double(targets.count))
        senders.restart()
    }

    /// Adds alerts to every Alertmanager's queue, with external labels and relabeling applied.
    public func send(_ alerts: [NotifiedAlert]) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            let options = state.options
            var prepared: [NotifiedAlert] = []
            for var alert in alerts {
                for label in options.externalLabels where alert.labels[label.name] == nil {
                    alert.labels = alert.labels.setting(label.name, to: label.value)
                }
                if let relabel = options.relabel {
                    guard let relabelled = relabel(alert.labels), !relabelled.isEmpty else { continue }
                    alert.labels = relabelled
                }
                prepared.append(alert)
            }
            guard !prepared.isEmpty else { return [] }
            var waiters: [CheckedContinuation<Void, Never>] = []
            for target in state.targets {
                var queue = state.queues[target] ?? Queue()
                queue.alerts += prepared
                let overflow = queue.alerts.count - options.queueCapacity
                if overflow > 0 {
                    queue.alerts.removeFirst(overflow)
                    dropped.inc(Double(overflow))
                }
                if let waiter = queue.waiter { waiters.append(waiter) }
                queue.waiter = nil
                state.queues[target] = queue
                queueLength.labels(target.url).set(Double(queue.alerts.count))
            }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Sends until cancelled: one sender per Alertmanager, restarted when the set changes.
    public func run() async {
        await senders.run(items: { state.withLock { $0.targets } }, each: { await self.sender($0) }, stopping: {
            // Senders waiting for alerts wake up to see the cancellation.
            let waiters = state.withLock { state in
                state.queues.keys.compactMap { key -> CheckedContinuation<Void, Never>? in
                    defer { state.queues[key]?.waiter = nil }
                    return state.queues[key]?.waiter
                }
            }
            for waiter in waiters { waiter.resume() }
        })
    }

    /// Takes batches off `target`'s queue and posts them; a failed batch goes back to the front
    /// and is retried after a backoff that doubles up to `maxBackoff`.
    func sender(_ target: AlertmanagerTarget) async {
        var backoff: Int64 = 0
        while !Task.isCancelled {
            let batch = await nextBatch(target)
            guard !Task.isCancelled else { return }
            guard !batch.isEmpty else { continue }
            let started = ContinuousClock.now
            var ok = false
            do {
                let status = try await transport.post(to: target, body: Self.payload(batch))
                ok = (200..<300).contains(status)
                if !ok { logger.error("Error sending alerts", metadata: ["alertmanager": "\(target.url)", "status": "\(status)"]) }
            } catch {
                logger.error("Error sending alerts", metadata: ["alertmanager": "\(target.url)", "err": "\(error)"])
            }
            let elapsed = ContinuousClock.now - started
            latency.labels(target.url).observe(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            if ok {
                sent.labels(target.url).inc(Double(batch.count))
                backoff = 0
                continue
            }
            errors.labels(target.url).inc(Double(batch.count))
            requeue(batch, target)
            let options = state.withLock { $0.options }
            backoff = backoff == 0 ? options.minBackoff : min(backoff * 2, options.maxBackoff)
            do { try await time.sleep(until: time.now() + backoff) } catch { return }
        }
    }

    private func nextBatch(_ target: AlertmanagerTarget) async -> [NotifiedAlert] {
        while !Task.isCancelled {
            let batch: [NotifiedAlert]? = state.withLock { state in
                guard var queue = state.queues[target], !queue.alerts.isEmpty else { return nil }
                let count = min(state.options.batchSize, queue.alerts.count)
                let batch = Array(queue.alerts.prefix(count))
                queue.alerts.removeFirst(count)
                state.queues[target] = queue
                queueLength.labels(target.url).set(Double(queue.alerts.count))
                return batch
            }
            if let batch { return batch }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    guard state.queues[target] != nil, state.queues[target]!.alerts.isEmpty, !Task.isCancelled else { return true }
                    state.queues[target]!.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        return []
    }

    private func requeue(_ batch: [NotifiedAlert], _ target: AlertmanagerTarget) {
        state.withLock { state in
            guard var queue = state.queues[target] else { return }
            queue.alerts = batch + queue.alerts
            let overflow = queue.alerts.count - state.options.queueCapacity
            if overflow > 0 {
                queue.alerts.removeFirst(overflow)
                dropped.inc(Double(overflow))
            }
            state.queues[target] = queue
            queueLength.labels(target.url).set(Double(queue.alerts.count))
        }
    }

    /// The API v2 body: a JSON array of alerts.
    static func payload(_ alerts: [NotifiedAlert]) -> [UInt8] {
        var out = "["
        for (index, alert) in alerts.enumerated() {
            if index > 0 { out += "," }
            out += "{\"labels\":" + JSONText.object(alert.labels) + ",\"annotations\":" + JSONText.object(alert.annotations)
            out += ",\"startsAt\":\"" + TimeParsing.rfc3339String(nanoseconds: alert.startsAt * 1_000_000) + "\""
            out += ",\"endsAt\":\"" + TimeParsing.rfc3339String(nanoseconds: alert.endsAt * 1_000_000) + "\""
            out += ",\"generatorURL\":" + JSONText.quote(alert.generatorURL) + "}"
        }
        return Array((out + "]").utf8)
    }
}
