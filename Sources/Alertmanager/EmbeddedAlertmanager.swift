import Logging
import ObsCore
import Synchronization

/// Alertmanager inside the daemon. Alerts posted over API v2 (or handed over by the rule
/// notifier) are merged into the alert store, routed down the tree into aggregation groups, and
/// flushed on Alertmanager's timers through inhibition, time intervals, silences and the
/// notification log to webhook receivers. Alerts, silences and the notification log are written to
/// SQLite as they change, before the change is acknowledged.
public final class EmbeddedAlertmanager: Sendable {
    public struct Options: Sendable {
        /// The URL payloads and the status page name as this Alertmanager's.
        public var externalURL = "http://localhost:9090"
        /// Alerts held at most; new ones past it are refused and counted.
        public var maxAlerts = 100_000
        /// Silences not yet expired at most; creating one more is refused.
        public var maxSilences = 10_000
        /// Notifications in flight at most per receiver; flushes past it wait their turn, so a
        /// hanging webhook holds up its own receiver only.
        public var concurrencyPerReceiver = 64
        /// How long expired silences are kept (Alertmanager's `--data.retention`), milliseconds.
        public var retention: Int64 = 120 * 3_600_000
        /// How often resolved alerts and expired state are collected, milliseconds.
        public var gcInterval: Int64 = 30 * 60_000
        /// Empty aggregation groups are removed on this period, as in Alertmanager.
        public var maintenanceInterval: Int64 = 30_000
        /// Backoff between delivery attempts, milliseconds.
        public var minBackoff: Int64 = 500
        public var maxBackoff: Int64 = 60_000
        /// Shortest time a flush may spend delivering (Alertmanager's 10 s).
        public var minDeliveryTimeout: Int64 = 10_000

        public init() {}
    }

    /// A compiled configuration.
    struct Compiled {
        var settings: AlertmanagerSettings
        var route: Route
        var routes: [ObjectIdentifier: Int]
        var receivers: [String: ReceiverSpec]
        var inhibitor: Inhibitor
    }

    struct GroupID: Hashable {
        var route: Int
        var labels: UInt64
    }

    struct Group {
        var route: Route
        var labels: Labels
        var groupKey: String
        var alerts: [UInt64: ManagedAlert] = [:]
        /// Milliseconds.
        var nextFlush: Int64
        var hasFlushed = false
        var inFlight = false
    }

    struct State {
        var compiled: Compiled?
        var generation = 0
        var alerts: [UInt64: ManagedAlert] = [:]
        var groups: [GroupID: Group] = [:]
        /// The groups each alert was last routed to, under the configuration in force.
        var memberships: [UInt64: [GroupID]] = [:]
        var silences: [String: (silence: Silence, matchers: [LabelMatcher])] = [:]
        var nflog: [String: NotificationLog.Entry] = [:]
        var inFlight: [String: Int] = [:]
        /// Deliveries waiting out a backoff.
        var backingOff = 0
        var nextMaintenance: Int64 = 0
        var nextGC: Int64 = 0
        var waiter: CheckedContinuation<Void, Never>?
        var wakePending = false
    }

    let state: Mutex<State>
    /// Its own lock, so notification-log writes do not hold up the dispatcher; taken inside the
    /// state lock where a change must be durable before it is visible (alerts, silences), never the
    /// other way round.
    let database: Mutex<AlertmanagerDatabase>
    let options: Options
    let transport: any WebhookTransport
    let time: any TimeSource
    let offload: Offload
    let logger: Logger
    let metrics: AlertmanagerMetrics
    /// Milliseconds; for `/api/v2/status`'s `uptime`.
    public let startedAt: Int64

    /// Opens (or creates) the state database at `path` and loads what it holds.
    public init(databasePath: String, options: Options = Options(), transport: any WebhookTransport, time: any TimeSource,
                offload: Offload = .inline, metrics registry: MetricsRegistry, logger: Logger) throws(AlertmanagerError) {
        let database = try AlertmanagerDatabase(path: databasePath)
        var initial = State()
        for alert in try database.loadAlerts() { initial.alerts[alert.fingerprint] = alert }
        for silence in try database.loadSilences() {
            guard let matchers = try? silence.compiled() else { continue }
            initial.silences[silence.id] = (silence, matchers)
        }
        for entry in try database.loadNotificationLog() { initial.nflog[entry.key] = entry }
        state = Mutex(initial)
        self.database = Mutex(database)
        self.options = options
        self.transport = transport
        self.time = time
        self.offload = offload
        self.logger = logger
        metrics = AlertmanagerMetrics(registry)
        startedAt = time.now()
        registry.addCollector { [weak self] writer in self?.collectGauges(&writer) }
    }

    var nowNanoseconds: Int64 { time.now() &* 1_000_000 }

    // MARK: Configuration

    /// Puts a configuration in force (nil turns the Alertmanager off: the API answers 404 and
    /// nothing is flushed; what it holds stays for when it comes back). A changed one rebuilds the
    /// aggregation groups from the alerts held, as Alertmanager does on reload; the notification
    /// log keeps what was sent.
    public func apply(_ settings: AlertmanagerSettings?) {
        let changed = state.withLock { state -> Bool in
            guard state.compiled?.settings != settings else { return false }
            state.memberships = [:]
            guard let settings else {
                state.compiled = nil
                state.generation += 1
                state.groups = [:]
                return true
            }
            let route = Route(root: settings.route)
            var routes: [ObjectIdentifier: Int] = [:]
            route.walk { routes[ObjectIdentifier($0)] = routes.count }
            state.compiled = Compiled(settings: settings, route: route, routes: routes,
                                      receivers: Dictionary(settings.receivers.map { ($0.name, $0) }) { a, _ in a },
                                      inhibitor: Inhibitor(rules: settings.inhibitRules))
            state.generation += 1
            state.groups = [:]
            let now = time.now()
            for alert in state.alerts.values { Self.route(alert, into: &state, now: now) }
            return true
        }
        if changed { wake() }
    }

    public var settings: AlertmanagerSettings? { state.withLock { $0.compiled?.settings } }

    // MARK: Receiving alerts

    /// Alertmanager's handling of `POST /api/v2/alerts`: defaults for missing times, validation,
    /// then every valid alert is stored (durably) and routed; the invalid ones are reported
    /// together afterwards. Blocking (SQLite).
    public func receive(_ posted: [PostedAlert]) throws(AlertmanagerError) {
        let now = nowNanoseconds
        var valid: [ManagedAlert] = []
        var errors: [String] = []
        let resolveTimeout = state.withLock { $0.compiled?.settings.resolveTimeout ?? 300_000 }
        for alert in posted {
            var startsAt = alert.startsAt, endsAt = alert.endsAt, timeout = false
            if startsAt == 0 { startsAt = endsAt == 0 ? now : endsAt }
            if endsAt == 0 {
                timeout = true
                endsAt = now &+ resolveTimeout &* 1_000_000
            }
            if endsAt > now { metrics.receivedFiring.inc() } else { metrics.receivedResolved.inc() }
            if let problem = alert.problem(startsAt: startsAt, endsAt: endsAt) {
                errors.append(problem)
                metrics.invalid.inc()
                continue
            }
            valid.append(ManagedAlert(labels: alert.labels, annotations: alert.annotations, startsAt: startsAt, endsAt: endsAt,
                                      generatorURL: alert.generatorURL, updatedAt: now, timeout: timeout))
        }
        let dropped = try state.withLock { (state) throws(AlertmanagerError) -> Int in
            var stored: [ManagedAlert] = []
            var dropped = 0
            let nowMilliseconds = now / 1_000_000
            for var alert in valid {
                if let old = state.alerts[alert.fingerprint] {
                    if old.overlaps(alert) { alert = old.merged(with: alert) }
                } else if state.alerts.count >= options.maxAlerts {
                    dropped += 1
                    continue
                }
                state.alerts[alert.fingerprint] = alert
                stored.append(alert)
                Self.route(alert, into: &state, now: nowMilliseconds)
            }
            try database.withLock { (db) throws(AlertmanagerError) in try db.save(alerts: stored) }
            return dropped
        }
        wake()
        if dropped > 0 {
            metrics.dropped.inc(Double(dropped))
            errors.append("\(dropped) alerts dropped: the Alertmanager holds its limit of \(options.maxAlerts) alerts")
        }
        if !errors.isEmpty { throw .invalid(errors.joined(separator: "; ")) }
    }

    /// Puts an alert into the aggregation group of every route it matches (Alertmanager's
    /// dispatcher), creating groups as needed.
    static func route(_ alert: ManagedAlert, into state: inout State, now: Int64) {
        state.compiled?.inhibitor.observe(alert)
        // An alert routed before (the usual re-send) goes to the groups it went to, as long as
        // they are all still there: the routing tree is not searched again.
        if let known = state.memberships[alert.fingerprint], known.allSatisfy({ state.groups[$0] != nil }) {
            for id in known { insert(alert, into: id, state: &state, now: now) }
            return
        }
        guard let compiled = state.compiled else { return }
        var ids: [GroupID] = []
        for route in compiled.route.match(alert.labels) {
            let labels = route.groupLabels(alert.labels)
            let id = GroupID(route: compiled.routes[ObjectIdentifier(route)] ?? 0, labels: labels.stableHash)
            if state.groups[id] == nil {
                state.groups[id] = Group(route: route, labels: labels, groupKey: route.key + ":" + labels.groupKeyText,
                                         nextFlush: now &+ route.groupWait)
            }
            insert(alert, into: id, state: &state, now: now)
            ids.append(id)
        }
        state.memberships[alert.fingerprint] = ids
    }

    static func insert(_ alert: ManagedAlert, into id: GroupID, state: inout State, now: Int64) {
        state.groups[id]!.alerts[alert.fingerprint] = alert
        // An alert that started long enough ago flushes a group that has not flushed yet at once.
        let wait = state.groups[id]!.route.groupWait
        if !state.groups[id]!.hasFlushed && alert.startsAt &+ wait &* 1_000_000 < now &* 1_000_000 {
            state.groups[id]!.nextFlush = min(state.groups[id]!.nextFlush, now)
        }
    }

    // MARK: Waking the dispatcher

    /// Whether the dispatcher is parked with no group due and every flush in flight waiting out a
    /// backoff: what tests on a manual clock wait for before they look at what was sent.
    public var isQuiescent: Bool {
        let now = time.now()
        return state.withLock { state in
            state.waiter != nil && !state.wakePending && state.inFlight.values.reduce(0, +) <= state.backingOff
                && (state.compiled == nil || !state.groups.values.contains { $0.nextFlush <= now && !$0.inFlight })
        }
    }

    func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.wakePending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resume = state.withLock { state -> Bool in
                    if state.wakePending || Task.isCancelled {
                        state.wakePending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resume { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}

/// Alertmanager's order of alerts in a notification: by `job`, then `instance` (alerts that have
/// them first), then by label set.
enum AlertOrder {
    static func precedes(_ a: Labels, _ b: Labels) -> Bool {
        for name in ["job", "instance"] {
            let x = a[name], y = b[name]
            if x == nil && y == nil { continue }
            guard let x else { return false }
            guard let y else { return true }
            if x != y { return x.utf8.lexicographicallyPrecedes(y.utf8) }
        }
        return before(a, b)
    }

    /// Go's `LabelSet.Before`: fewer labels first, then the first differing value over the union of
    /// names, a missing name sorting first.
    static func before(_ a: Labels, _ b: Labels) -> Bool {
        if a.count != b.count { return a.count < b.count }
        let names = Set(a.pairs.map(\.name)).union(b.pairs.map(\.name)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for name in names {
            guard let x = a[name] else { return true }
            guard let y = b[name] else { return false }
            if x != y { return x.utf8.lexicographicallyPrecedes(y.utf8) }
        }
        return false
    }
}
