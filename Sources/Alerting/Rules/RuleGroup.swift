import Logging
import ObsCore
import QueryEngine
import Synchronization

/// A group of rules evaluated in order at one interval. Each evaluation writes what the rules
/// produced through the metrics appender, with stale markers for series a rule stopped producing,
/// and records each rule's health; a failing rule never stops the rest of the group.
public final class RuleGroup: Sendable {
    public let spec: RuleGroupSpec
    public let rules: [Rule]
    /// Milliseconds.
    public let interval: Int64
    public let queryOffset: Int64

    struct State {
        /// Per rule, the series its last evaluation wrote.
        var previous: [Set<Labels>]
        var status = EvaluationStatus()
        var evaluations = 0
    }

    let state: Mutex<State>

    public init(spec: RuleGroupSpec, defaultInterval: Int64, defaultQueryOffset: Int64 = 0) throws(RuleError) {
        self.spec = spec
        interval = spec.interval ?? defaultInterval
        queryOffset = spec.queryOffset ?? defaultQueryOffset
        var rules: [Rule] = []
        for rule in spec.rules {
            switch rule.kind {
            case .recording: rules.append(.recording(RecordingRule(spec: rule, groupLabels: spec.labels)))
            case .alerting: rules.append(.alerting(try AlertingRule(spec: rule, groupLabels: spec.labels)))
            }
        }
        self.rules = rules
        state = Mutex(State(previous: Array(repeating: [], count: rules.count)))
    }

    public var name: String { spec.name }
    public var file: String { spec.file }
    public var status: EvaluationStatus { state.withLock { $0.status } }

    public var alertingRules: [AlertingRule] {
        rules.compactMap { if case let .alerting(rule) = $0 { rule } else { nil } }
    }

    /// Prometheus's evaluation time for a group: the last multiple of the interval, shifted by a
    /// per-group offset from the group's name and file so that groups spread over the interval.
    public func evaluationTime(at now: Int64) -> Int64 {
        let offset = Int64(Labels([Label("name", name), Label("file", file)]).stableHash % UInt64(interval))
        let adjusted = now - offset
        return adjusted - ((adjusted % interval) + interval) % interval + offset
    }

    /// What one evaluation did, for counters and logs.
    public struct Outcome: Sendable {
        public var evaluated = 0
        public var failed = 0
        /// Rule name and error of each failure.
        public var failures: [(rule: String, error: String)] = []
        public var templateErrors: [(rule: String, error: String)] = []
        public var appendFailures = 0
        /// Alerts of each alerting rule due to go to the Alertmanager, with the rule's expression.
        public var alertsToSend: [(expr: String, alerts: [Alert])] = []
    }

    /// Evaluates every rule at `time` (already aligned); the queries look `query_offset` back.
    /// Queries and template expansion run through `offload`, off the cooperative pool in the daemon.
    public func evaluate(at time: Int64, querier: any RuleQuerier, appendable: any MetricsAppendable,
                         externalLabels: Labels, externalURL: String, resendDelay: Int64 = 60_000,
                         offload: Offload = .inline, now: @escaping @Sendable () -> Int64) async -> Outcome {
        let started = now()
        var outcome = Outcome()
        let evalTime = time - queryOffset
        for (index, rule) in rules.enumerated() {
            let ruleStarted = now()
            let context = EvaluationContext(time: evalTime, querier: querier, limit: spec.limit,
                                            externalLabels: externalLabels, externalURL: externalURL)
            var status = EvaluationStatus(health: .ok, lastError: nil, lastEvaluation: started, duration: 0)
            outcome.evaluated += 1
            let samples: [Sample]
            do throws(RuleError) {
                let result = Mutex<Result<([Sample], [String]), RuleError>?>(nil)
                await offload.run {
                    let computed: Result<([Sample], [String]), RuleError>
                    do throws(RuleError) {
                        switch rule {
                        case let .recording(recording): computed = .success((try recording.evaluate(context), []))
                        case let .alerting(alerting): computed = .success(try alerting.evaluate(context))
                        }
                    } catch {
                        computed = .failure(error)
                    }
                    result.withLock { $0 = computed }
                }
                guard let computed = result.withLock({ $0 }) else { throw RuleError.evaluation("evaluation was cancelled") }
                let (produced, templateErrors) = try computed.get()
                samples = produced
                outcome.templateErrors += templateErrors.map { (rule.name, $0) }
                if case let .alerting(alerting) = rule {
                    let due = alerting.alertsToSend(at: time, resendDelay: resendDelay, interval: interval)
                    if !due.isEmpty { outcome.alertsToSend.append((alerting.spec.expr, due)) }
                }
            } catch {
                status.health = .err
                status.lastError = error.description
                status.duration = Double(now() - ruleStarted) / 1000
                rule.record(status)
                outcome.failed += 1
                outcome.failures.append((rule.name, error.description))
                continue
            }
            outcome.appendFailures += await write(samples, rule: index, at: evalTime, appendable: appendable)
            status.duration = Double(now() - ruleStarted) / 1000
            rule.record(status)
        }
        state.withLock {
            $0.status = EvaluationStatus(health: outcome.failed == 0 ? .ok : .err, lastError: outcome.failures.last?.error,
                                         lastEvaluation: started, duration: Double(now() - started) / 1000)
            $0.evaluations += 1
        }
        return outcome
    }

    /// Writes one rule's samples and stale markers for the series it no longer produces; returns
    /// how many samples the store refused.
    private func write(_ samples: [Sample], rule index: Int, at time: Int64, appendable: any MetricsAppendable) async -> Int {
        var appender = appendable.appender()
        var refused = 0
        var written = Set<Labels>()
        for sample in samples {
            do {
                if let histogram = sample.histogram {
                    try appender.appendHistogram(sample.labels, ref: nil, timestamp: sample.point.t, histogram: histogram)
                } else {
                    try appender.append(sample.labels, ref: nil, timestamp: sample.point.t, value: sample.point.f)
                }
                written.insert(sample.labels)
            } catch {
                refused += 1
            }
        }
        let previous = state.withLock { $0.previous[index] }
        for labels in previous where !written.contains(labels) {
            do {
                try appender.append(labels, ref: nil, timestamp: time, value: StaleMarker.value)
            } catch {
                refused += 1
            }
        }
        do {
            try await appender.commit()
        } catch {
            return refused + samples.count
        }
        state.withLock { $0.previous[index] = written }
        return refused
    }
}

/// Prometheus's stale marker: a NaN with a payload of its own, written when a series ends.
public enum StaleMarker {
    public static let value = Double(bitPattern: 0x7FF0_0000_0000_0002)

    public static func isStale(_ value: Double) -> Bool {
        value.bitPattern == 0x7FF0_0000_0000_0002
    }
}
