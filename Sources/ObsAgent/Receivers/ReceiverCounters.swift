import ObsCore

/// What a receiver counts: items stored and items rejected, as one counter family with a `result` label.
struct ReceiverCounters {
    let stored: Counter
    let rejected: Counter

    init(_ metrics: MetricsRegistry, name: String, help: String) {
        let family = metrics.counter(name, help: help, labelNames: ["result"])
        stored = family.labels("stored")
        rejected = family.labels("rejected")
    }
}
