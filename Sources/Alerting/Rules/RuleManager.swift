import Logging
import ObsCore
import QueryEngine
import Synchronization

/// Runs rule groups, each on its own interval at Prometheus's aligned times, and hands the
/// alerts due for sending to the notifier. Groups are replaced on reload, keeping the state of
/// rules that stayed; a group's first evaluations after start restore `for` state from
/// `ALERTS_FOR_STATE`, as Prometheus does.
public final class RuleManager: Sendable {
    public struct Options: Sendable {
        /// Milliseconds; the default group interval (`global.evaluation_interval`).
        public var evaluationInterval: Int64 = 60_000
        public var externalLabels: Labels = .empty
        public var externalURL = ""
        /// `--rules.alert.for-outage-tolerance`: how long the agent may be down and `for` state still be restored.
        public var outageTolerance: Int64 = 3_600_000
        /// `--rules.alert.for-grace-period`: the least time an alert waits after a restore before firing.
        public var forGracePeriod: Int64 = 600_000
        /// `--rules.alert.resend-delay`: how often a firing alert is sent again.
        public var resendDelay: Int64 = 60_000

        public init() {}
    }

    /// Where a group of each language queries.
    public typealias QuerierProvider = @Sendable (RuleLanguage) -> (any RuleQuerier)?
    /// Alerts to send and the expression that produced them.
    public typealias Notify = @Sendable (_ expr: String, _ alerts: [Alert]) -> Void

    struct Entry: Sendable {
        var group: RuleGroup
        /// True for groups loaded at start: their `for` state is restored after two evaluations.
        var restore: Bool
    }

    struct State {
        var entries: [Entry] = []
        var options = Options()
        var loadedOnce = false
    }

    let state = Mutex(State())
    let loops = RestartingTasks()
    let queriers: QuerierProvider
    let appendable: @Sendable () -> (any MetricsAppendable)?
    let history: @Sendable () -> (any MetricsQueryable)?
    let notify: Notify
    let time: any TimeSource
    let offload: Offload
    let logger: Logger
    let metrics: RuleMetrics

    public init(queriers: @escaping QuerierProvider, appendable: @escaping @Sendable () -> (any MetricsAppendable)?,
                history: @escaping @Sendable () -> (any MetricsQueryable)?, notify: @escaping Notify,
                time: any TimeSource, offload: Offload = .inline, metrics: MetricsRegistry, logger: Logger) {
        self.offload = offload
        self.queriers = queriers
        self.appendable = appendable
        self.history = history
        self.notify = notify
        self.time = time
        self.metrics = RuleMetrics(metrics)
        self.logger = logger
    }

    public var groups: [RuleGroup] { state.withLock { $0.entries.map(\.group) } }
    public var options: Options { state.withLock { $0.options } }

    /// Puts `specs` in force. Rules that stay (same group, name and labels) keep their alerts and
    /// the series they wrote; groups that are gone have their series marked stale.
    public func update(_ specs: [RuleGroupSpec], options: Options) async throws(RuleError) {
        var built: [RuleGroup] = []
        for spec in specs { built.append(try RuleGroup(spec: spec, defaultInterval: options.evaluationInterval)) }
        let removed: [RuleGroup] = state.withLock { state in
            let restore = !state.loadedOnce
            var old: [String: RuleGroup] = [:]
            for entry in state.entries { old[entry.group.key] = entry.group }
            for group in built {
                // Only the rules of the first load restore `for` state; later ones write ALERTS at once.
                if !restore { for rule in group.alertingRules { rule.setRestored() } }
                if let previous = old.removeValue(forKey: group.key) { group.copyState(from: previous) }
            }
            state.entries = built.map { Entry(group: $0, restore: restore) }
            state.options = options
            state.loadedOnce = true
            return Array(old.values)
        }
        for group in built { metrics.describe(group) }
        for group in removed {
            if let appendable = appendable() { await group.markStale(at: time.now(), appendable: appendable) }
        }
        loops.restart()
    }

    /// Evaluates every group until cancelled, restarting the group loops when `update` changes them.
    public func run() async {
        await loops.run(items: { state.withLock { $0.entries } }, each: { await self.loop($0) })
    }

    /// One group's loop: the first evaluation at the next aligned time, then one per interval;
    /// intervals missed while an evaluation ran long are skipped and counted.
    func loop(_ entry: Entry) async {
        let group = entry.group
        var next = group.evaluationTime(at: time.now()) + group.interval
        var evaluations = 0
        while !Task.isCancelled {
            do { try await time.sleep(until: next) } catch { return }
            let now = time.now()
            let missed = (now - next) / group.interval
            if missed > 0 {
                metrics.missed(group, Double(missed))
                next += missed * group.interval
            }
            await evaluate(group, at: next)
            evaluations += 1
            if entry.restore && evaluations == 2 {
                restoreForState(group, at: time.now())
            }
            next += group.interval
        }
    }

    /// One evaluation of `group` at `at`, with its alerts handed to the notifier.
    public func evaluate(_ group: RuleGroup, at evalTime: Int64) async {
        let options = self.options
        guard let querier = queriers(group.spec.language), let appendable = appendable() else { return }
        let outcome = await group.evaluate(at: evalTime, querier: querier, appendable: appendable,
                                           externalLabels: options.externalLabels, externalURL: options.externalURL,
                                           resendDelay: options.resendDelay, offload: offload, now: { [time] in time.now() })
        metrics.record(group, outcome)
        for (rule, error) in outcome.failures {
            logger.warning("Rule evaluation result discarded", metadata: ["group": "\(group.name)", "rule": "\(rule)", "err": "\(error)"])
        }
        for (rule, error) in outcome.templateErrors {
            logger.warning("Expanding alert template failed", metadata: ["group": "\(group.name)", "rule": "\(rule)", "err": "\(error)"])
        }
        for (expr, alerts) in outcome.alertsToSend { notify(expr, alerts) }
    }

    /// Prometheus's `RestoreForState`: an alert that was pending or firing before the agent
    /// stopped gets back the `activeAt` recorded in `ALERTS_FOR_STATE`, moved forward by the
    /// outage, so it need not wait `for` anew. Rules whose `for` is below the grace period are
    /// not restored (they wait `for` again, as in Prometheus).
    public func restoreForState(_ group: RuleGroup, at now: Int64) {
        let options = self.options
        defer { for rule in group.alertingRules { rule.setRestored() } }
        guard let store = history() else { return }
        let querier: any MetricsQuerier
        do {
            querier = try store.querier(minTime: now - options.outageTolerance, maxTime: now)
        } catch {
            logger.error("Reading ALERTS_FOR_STATE failed", metadata: ["group": "\(group.name)", "err": "\(error)"])
            return
        }
        for rule in group.alertingRules where rule.holdDuration >= options.forGracePeriod {
            rule.restore(from: querier, now: now, gracePeriod: options.forGracePeriod, logger: logger)
        }
    }
}

extension RuleGroup {
    /// `file;name`, the identity Prometheus gives a group across reloads.
    var key: String { file + ";" + name }

    /// Takes over the alerts and written series of `previous`'s rules with the same name and labels.
    func copyState(from previous: RuleGroup) {
        func identity(_ rule: Rule) -> String {
            rule.name + "\u{FF}" + rule.spec.labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
        }
        var unmatched: [String: [Int]] = [:]
        for (index, rule) in previous.rules.enumerated() { unmatched[identity(rule), default: []].append(index) }
        let previousSeries = previous.state.withLock { $0.previous }
        var carried = Array(repeating: Set<Labels>(), count: rules.count)
        for (index, rule) in rules.enumerated() {
            guard let from = unmatched[identity(rule)]?.first else { continue }
            unmatched[identity(rule)]?.removeFirst()
            carried[index] = previousSeries[from]
            if case let .alerting(new) = rule, case let .alerting(old) = previous.rules[from] {
                let (active, restored) = old.state.withLock { ($0.active, $0.restored) }
                new.state.withLock {
                    $0.active = active
                    $0.restored = restored
                }
            }
            rule.record(previous.rules[from].status)
        }
        state.withLock { $0.previous = carried }
    }

    /// Writes stale markers for every series the group's rules last wrote.
    func markStale(at time: Int64, appendable: any MetricsAppendable) async {
        let series = state.withLock { $0.previous.flatMap { $0 } }
        guard !series.isEmpty else { return }
        var appender = appendable.appender()
        for labels in series { _ = try? appender.append(labels, ref: nil, timestamp: time, value: StaleMarker.value) }
        try? await appender.commit()
    }
}

extension AlertingRule {
    /// Restores each active alert's `activeAt` from its last `ALERTS_FOR_STATE` sample.
    func restore(from querier: any MetricsQuerier, now: Int64, gracePeriod: Int64, logger: Logger) {
        state.withLock { state in
            for (labels, var alert) in state.active {
                let series = labels.setting(Labels.metricName, to: "ALERTS_FOR_STATE")
                let matchers = series.compactMap { try? LabelMatcher(.equal, $0.name, $0.value) }
                guard let stored = (try? querier.select(matchers))?.first(where: { $0.labels == series }) else { continue }
                var iterator = stored.makeIterator()
                var last: (t: Int64, v: Double)?
                while iterator.next() { last = (iterator.timestamp, iterator.value) }
                guard let (downAt, value) = last, !StaleMarker.isStale(value), value.isFinite else { continue }
                var activeAt = Int64(value) * 1000
                // Prometheus works in whole seconds here.
                let down = (downAt / 1000) * 1000
                let remaining = holdDuration - (down - activeAt)
                if remaining <= 0 {
                    // It had fired already: keep the original activeAt.
                } else if remaining < gracePeriod {
                    activeAt = now + gracePeriod - holdDuration
                } else {
                    activeAt += now - down
                }
                alert.activeAt = activeAt
                state.active[labels] = alert
                logger.debug("Restored alert state", metadata: ["alert": "\(labels)", "activeAt": "\(activeAt)"])
            }
        }
    }
}
