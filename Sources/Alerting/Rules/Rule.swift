import ObsCore
import QueryEngine
import Synchronization

/// A rule's health after its last evaluation, as the rules API reports it.
public enum RuleHealth: String, Sendable {
    case unknown, ok, err
}

/// What the rules API shows for a rule or group's last evaluation.
public struct EvaluationStatus: Sendable {
    public var health: RuleHealth = .unknown
    public var lastError: String?
    /// Milliseconds since the epoch; nil before the first evaluation.
    public var lastEvaluation: Int64?
    /// Seconds the last evaluation took.
    public var duration: Double = 0
}

/// The labels and time an evaluation works with, shared by a group's rules.
public struct EvaluationContext: Sendable {
    /// The time the rules query at and stamp their output with, milliseconds.
    public var time: Int64
    public var querier: any RuleQuerier
    /// Series or alerts one rule may produce; 0 for no limit.
    public var limit: Int
    public var externalLabels: Labels
    public var externalURL: String

    public init(time: Int64, querier: any RuleQuerier, limit: Int, externalLabels: Labels, externalURL: String) {
        self.time = time
        self.querier = querier
        self.limit = limit
        self.externalLabels = externalLabels
        self.externalURL = externalURL
    }
}

/// A recording rule: its query's result, renamed and relabelled, written back as new series.
public final class RecordingRule: Sendable {
    public let spec: RuleSpec
    /// The group's labels, then the rule's own.
    let labels: [Label]
    let statusState = Mutex(EvaluationStatus())

    init(spec: RuleSpec, groupLabels: [(name: String, value: String)]) {
        self.spec = spec
        self.labels = (groupLabels + spec.labels).map { Label($0.name, $0.value) }
    }

    public var name: String { spec.name }
    public var status: EvaluationStatus { statusState.withLock { $0 } }

    /// The samples to write, stamped at the evaluation time.
    func evaluate(_ context: EvaluationContext) throws(RuleError) -> [Sample] {
        var samples = try context.querier.vector(spec.expr, at: context.time)
        for index in samples.indices {
            var labels = samples[index].labels.setting(Labels.metricName, to: name)
            for label in self.labels { labels = labels.setting(label.name, to: label.value) }
            samples[index].labels = labels
            samples[index].point.t = context.time
        }
        var seen = Set<Labels>()
        for sample in samples where !seen.insert(sample.labels).inserted {
            throw RuleError.evaluation("vector contains metrics with the same labelset after applying rule labels")
        }
        if context.limit > 0 && samples.count > context.limit {
            throw RuleError.evaluation("exceeded limit of \(context.limit) with \(samples.count) series")
        }
        return samples
    }
}

/// Where an alert is in its life.
public enum AlertState: String, Sendable {
    case inactive, pending, firing
}

/// One alert of an alerting rule: a label set its expression returned.
public struct Alert: Sendable {
    public var labels: Labels
    /// Sorted by name; empty values kept.
    public var annotations: [Label]
    public var state: AlertState
    public var value: Double
    /// Milliseconds since the epoch.
    public var activeAt: Int64
    public var firedAt: Int64?
    public var resolvedAt: Int64?
    public var lastSentAt: Int64?
    public var validUntil: Int64?
    public var keepFiringSince: Int64?
}

/// An alerting rule: each label set its expression returns is an alert that goes pending, fires
/// after `for`, stays firing `keep_firing_for` after it stops matching, and is reported resolved
/// for 15 minutes after that.
public final class AlertingRule: Sendable {
    public let spec: RuleSpec
    let labelTemplates: [(name: String, template: AlertTemplate)]
    let annotationTemplates: [(name: String, template: AlertTemplate)]

    struct State {
        var active: [Labels: Alert] = [:]
        /// False until `for` state was restored after a start; `ALERTS` is not written before.
        var restored = false
        var status = EvaluationStatus()
    }

    let state = Mutex(State())

    /// How long a resolved alert is kept so that the Alertmanager hears it resolved.
    static let resolvedRetention: Int64 = 15 * 60_000

    init(spec: RuleSpec, groupLabels: [(name: String, value: String)]) throws(RuleError) {
        self.spec = spec
        var labels: [(name: String, template: AlertTemplate)] = []
        var annotations: [(name: String, template: AlertTemplate)] = []
        do {
            for (name, value) in groupLabels + spec.labels { labels.append((name, try AlertTemplate.parse(value, ruleName: spec.name))) }
            for (name, value) in spec.annotations { annotations.append((name, try AlertTemplate.parse(value, ruleName: spec.name))) }
        } catch {
            throw RuleError.expression(error.description)
        }
        labelTemplates = labels
        annotationTemplates = annotations
    }

    public var name: String { spec.name }
    public var status: EvaluationStatus { state.withLock { $0.status } }
    public var holdDuration: Int64 { spec.holdDuration }

    /// Alerts that are pending or firing, or resolved and still reported, sorted by labels.
    public var alerts: [Alert] { state.withLock { $0.active.values.sorted { $0.labels < $1.labels } } }

    /// Marks the rule as having its `for` state restored (or needing none), so `ALERTS` is written.
    public func setRestored() { state.withLock { $0.restored = true } }

    /// Evaluates at `context.time`; returns the `ALERTS` and `ALERTS_FOR_STATE` samples to write
    /// and the template errors met, for logging.
    func evaluate(_ context: EvaluationContext) throws(RuleError) -> (samples: [Sample], templateErrors: [String]) {
        let time = context.time
        let results = try context.querier.vector(spec.expr, at: time)
        var templateErrors: [String] = []
        var current: [Labels: Alert] = [:]
        for result in results {
            let data = AlertTemplate.Data(labels: result.labels, externalLabels: context.externalLabels,
                                          externalURL: context.externalURL, value: result.point.f)
            func expand(_ template: AlertTemplate) -> String {
                let (text, error) = template.expand(data, time: time, querier: context.querier)
                if let error { templateErrors.append(error.description) }
                return text
            }
            var labels = result.labels.removing([Labels.metricName])
            for (name, template) in labelTemplates { labels = labels.setting(name, to: expand(template)) }
            labels = labels.setting("alertname", to: name)
            let annotations = annotationTemplates.map { Label($0.name, expand($0.template)) }.sorted { $0.name < $1.name }
            guard current[labels] == nil else {
                throw RuleError.evaluation("vector contains metrics with the same labelset after applying alert labels")
            }
            current[labels] = Alert(labels: labels, annotations: annotations, state: .pending, value: result.point.f, activeAt: time)
        }
        return try state.withLock { state throws(RuleError) in
            for (labels, alert) in current {
                if var existing = state.active[labels], existing.state != .inactive {
                    existing.value = alert.value
                    existing.annotations = alert.annotations
                    state.active[labels] = existing
                } else {
                    state.active[labels] = alert
                }
            }
            var samples: [Sample] = []
            var activeCount = 0
            for (labels, var alert) in state.active {
                if current[labels] == nil {
                    var keepFiring = false
                    if alert.state == .firing && spec.keepFiringFor > 0 {
                        if alert.keepFiringSince == nil { alert.keepFiringSince = time }
                        if time - alert.keepFiringSince! < spec.keepFiringFor { keepFiring = true }
                    }
                    if alert.state == .pending || (alert.resolvedAt.map { time - $0 > Self.resolvedRetention } ?? false) {
                        state.active[labels] = nil
                        continue
                    }
                    if alert.state != .inactive && !keepFiring {
                        alert.state = .inactive
                        alert.resolvedAt = time
                    }
                    state.active[labels] = alert
                    if !keepFiring { continue }
                } else {
                    alert.keepFiringSince = nil
                }
                activeCount += 1
                if alert.state == .pending && time - alert.activeAt >= spec.holdDuration {
                    alert.state = .firing
                    alert.firedAt = time
                }
                state.active[labels] = alert
                if state.restored {
                    let alertLabels = labels.setting(Labels.metricName, to: "ALERTS").setting("alertstate", to: alert.state.rawValue)
                    samples.append(Sample(labels: alertLabels, point: Point(t: time, f: 1)))
                    let forState = labels.setting(Labels.metricName, to: "ALERTS_FOR_STATE")
                    samples.append(Sample(labels: forState, point: Point(t: time, f: Double(Self.floorSeconds(alert.activeAt)))))
                }
            }
            if context.limit > 0 && activeCount > context.limit {
                state.active = [:]
                throw RuleError.evaluation("exceeded limit of \(context.limit) with \(activeCount) alerts")
            }
            return (samples, templateErrors)
        }
    }

    static func floorSeconds(_ milliseconds: Int64) -> Int64 {
        milliseconds >= 0 ? milliseconds / 1000 : -((-milliseconds + 999) / 1000)
    }

    /// Alerts due to go to the Alertmanager at `time`: firing ones not sent for `resendDelay`, and
    /// those resolved since they were last sent. Marks them sent, valid for four intervals.
    func alertsToSend(at time: Int64, resendDelay: Int64, interval: Int64) -> [Alert] {
        state.withLock { state in
            var out: [Alert] = []
            for (labels, var alert) in state.active where alert.state != .pending {
                let resolvedSinceSent = (alert.resolvedAt ?? .min) > (alert.lastSentAt ?? .min)
                guard resolvedSinceSent || (alert.lastSentAt.map { $0 + resendDelay < time } ?? true) else { continue }
                alert.lastSentAt = time
                alert.validUntil = time + 4 * max(resendDelay, interval)
                state.active[labels] = alert
                out.append(alert)
            }
            return out.sorted { $0.labels < $1.labels }
        }
    }

    func record(_ status: EvaluationStatus) {
        state.withLock { $0.status = status }
    }
}

/// One rule of a group.
public enum Rule: Sendable {
    case recording(RecordingRule)
    case alerting(AlertingRule)

    public var name: String {
        switch self {
        case let .recording(rule): rule.name
        case let .alerting(rule): rule.name
        }
    }

    public var spec: RuleSpec {
        switch self {
        case let .recording(rule): rule.spec
        case let .alerting(rule): rule.spec
        }
    }

    public var status: EvaluationStatus {
        switch self {
        case let .recording(rule): rule.status
        case let .alerting(rule): rule.status
        }
    }

    func record(_ status: EvaluationStatus) {
        switch self {
        case let .recording(rule): rule.statusState.withLock { $0 = status }
        case let .alerting(rule): rule.record(status)
        }
    }
}
