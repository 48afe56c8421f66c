import ObsCore

/// Self-metrics under Alertmanager's names.
struct AlertmanagerMetrics: Sendable {
    let notifications: CounterFamily
    let notificationsFailed: CounterFamily
    let requests: CounterFamily
    let requestsFailed: CounterFamily
    let latency: HistogramFamily
    let receivedFiring: Counter
    let receivedResolved: Counter
    let invalid: Counter
    let dropped: Counter

    init(_ registry: MetricsRegistry) {
        notifications = registry.counter("alertmanager_notifications_total", help: "The total number of attempted notifications.",
                                         labelNames: ["integration"])
        notificationsFailed = registry.counter("alertmanager_notifications_failed_total",
                                               help: "The total number of failed notifications.", labelNames: ["integration"])
        requests = registry.counter("alertmanager_notification_requests_total",
                                    help: "The total number of attempted notification requests.", labelNames: ["integration"])
        requestsFailed = registry.counter("alertmanager_notification_requests_failed_total",
                                          help: "The total number of failed notification requests.", labelNames: ["integration"])
        latency = registry.histogram("alertmanager_notification_latency_seconds", help: "The latency of notifications in seconds.",
                                     labelNames: ["integration"], buckets: [1, 5, 10, 15, 20])
        let received = registry.counter("alertmanager_alerts_received_total", help: "The total number of received alerts.",
                                        labelNames: ["status"])
        receivedFiring = received.labels("firing")
        receivedResolved = received.labels("resolved")
        invalid = registry.counter("alertmanager_alerts_invalid_total", help: "The total number of received alerts that were invalid.").labels()
        dropped = registry.counter("alertmanager_alerts_dropped_total",
                                   help: "Alerts refused because the Alertmanager held its limit of alerts.").labels()
        // Present from the start, as in Alertmanager.
        for family in [notifications, notificationsFailed, requests, requestsFailed] { _ = family.labels("webhook") }
    }
}

extension EmbeddedAlertmanager {
    /// `alertmanager_alerts`, `alertmanager_silences` and the group count, computed at scrape time.
    func collectGauges(_ writer: inout ExpositionWriter) {
        let now = nowNanoseconds
        let (active, suppressed, silences, groups) = state.withLock { state -> (Int, Int, [Silence.State: Int], Int) in
            var active = 0, suppressed = 0
            for alert in state.alerts.values where !alert.resolved(at: now) {
                if Self.status(of: alert, in: state, now: now).state == "active" { active += 1 } else { suppressed += 1 }
            }
            var silences: [Silence.State: Int] = [:]
            for entry in state.silences.values { silences[entry.silence.state(at: now), default: 0] += 1 }
            return (active, suppressed, silences, state.groups.count)
        }
        writer.header(name: "alertmanager_alerts", help: "How many alerts by state.", type: "gauge")
        for (name, value) in [("active", active), ("suppressed", suppressed), ("unprocessed", 0)] {
            writer.sample(name: "alertmanager_alerts", labelNames: ["state"], labelValues: [name], value: Double(value))
        }
        writer.header(name: "alertmanager_silences", help: "How many silences by state.", type: "gauge")
        for state in [Silence.State.active, .expired, .pending] {
            writer.sample(name: "alertmanager_silences", labelNames: ["state"], labelValues: [state.rawValue],
                          value: Double(silences[state] ?? 0))
        }
        writer.header(name: "alertmanager_dispatcher_aggregation_groups", help: "Number of active aggregation groups", type: "gauge")
        writer.sample(name: "alertmanager_dispatcher_aggregation_groups", value: Double(groups))
    }
}
