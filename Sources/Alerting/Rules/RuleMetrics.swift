import ObsCore

/// The rule manager's self-metrics, in Prometheus's names so that its dashboards and alerts work.
struct RuleMetrics: Sendable {
    let evaluations: CounterFamily
    let failures: CounterFamily
    let iterations: CounterFamily
    let missedIterations: CounterFamily
    let lastDuration: GaugeFamily
    let lastEvaluation: GaugeFamily
    let interval: GaugeFamily
    let rules: GaugeFamily
    let templateErrors: CounterFamily

    init(_ registry: MetricsRegistry) {
        evaluations = registry.counter("prometheus_rule_evaluations_total", help: "The total number of rule evaluations.",
                                       labelNames: ["rule_group"])
        failures = registry.counter("prometheus_rule_evaluation_failures_total", help: "The total number of rule evaluation failures.",
                                    labelNames: ["rule_group"])
        iterations = registry.counter("prometheus_rule_group_iterations_total",
                                      help: "The total number of scheduled rule group evaluations, whether executed or missed.",
                                      labelNames: ["rule_group"])
        missedIterations = registry.counter("prometheus_rule_group_iterations_missed_total",
                                            help: "The total number of rule group evaluations missed due to slow rule group evaluation.",
                                            labelNames: ["rule_group"])
        lastDuration = registry.gauge("prometheus_rule_group_last_duration_seconds",
                                      help: "The duration of the last rule group evaluation.", labelNames: ["rule_group"])
        lastEvaluation = registry.gauge("prometheus_rule_group_last_evaluation_timestamp_seconds",
                                        help: "The timestamp of the last rule group evaluation in seconds.", labelNames: ["rule_group"])
        interval = registry.gauge("prometheus_rule_group_interval_seconds", help: "The interval of a rule group.",
                                  labelNames: ["rule_group"])
        rules = registry.gauge("prometheus_rule_group_rules", help: "The number of rules.", labelNames: ["rule_group"])
        templateErrors = registry.counter("obs_rule_template_errors_total",
                                          help: "Alert label and annotation templates that failed to expand.", labelNames: ["rule_group"])
    }

    func describe(_ group: RuleGroup) {
        interval.labels(group.key).set(Double(group.interval) / 1000)
        rules.labels(group.key).set(Double(group.rules.count))
        // Counters start at zero with the group, as Prometheus's do, so a rate over them reads 0
        // rather than nothing until the first failure.
        for family in [evaluations, failures, iterations, missedIterations, templateErrors] { _ = family.labels(group.key) }
    }

    func missed(_ group: RuleGroup, _ count: Double) {
        missedIterations.labels(group.key).inc(count)
        iterations.labels(group.key).inc(count)
    }

    func record(_ group: RuleGroup, _ outcome: RuleGroup.Outcome) {
        iterations.labels(group.key).inc()
        evaluations.labels(group.key).inc(Double(outcome.evaluated))
        if outcome.failed > 0 { failures.labels(group.key).inc(Double(outcome.failed)) }
        if !outcome.templateErrors.isEmpty { templateErrors.labels(group.key).inc(Double(outcome.templateErrors.count)) }
        let status = group.status
        lastDuration.labels(group.key).set(status.duration)
        if let last = status.lastEvaluation { lastEvaluation.labels(group.key).set(Double(last) / 1000) }
    }
}
