/// How many shards a remote-write queue runs, from measured throughput, as Prometheus's queue
/// manager decides it: the time one sample takes to send (shard-seconds spent in requests per
/// sample sent) times the samples to send per second (the rate they arrive in the WAL plus a
/// twentieth of the backlog, so a backlog is caught up in about 20 seconds). Rates are smoothed
/// (EWMA, weight 0.2); the count changes only when the need moves more than 30% away from it, and
/// not while sends are failing (more shards would only hit a struggling receiver harder); it stays
/// between `min_shards` and `max_shards`. Pure: the queue feeds it each round's figures.
struct ShardTuner {
    static let weight = 0.2
    static let catchUpSeconds = 20.0

    let minShards: Int
    let maxShards: Int
    private(set) var shards: Int
    /// The last computed need, before the 30% band and the limits.
    private(set) var desired: Double

    /// Samples per second arriving, sent, and shard-seconds spent sending per second.
    private var inRate: Double?
    private var outRate: Double?
    private var outDuration: Double?

    init(minShards: Int, maxShards: Int) {
        self.minShards = max(1, minShards)
        self.maxShards = max(self.minShards, maxShards)
        shards = self.minShards
        desired = Double(self.minShards)
    }

    /// One round: over `seconds` of wall time, `read` samples came from the WAL, `sent` were
    /// accepted (or refused for good) with `sendSeconds` spent in requests (summed over shards),
    /// `pending` are still to send, and whether any request failed and was retried.
    mutating func observe(seconds: Double, read: Int, sent: Int, sendSeconds: Double, pending: Int, failing: Bool) {
        guard seconds > 0 else { return }
        inRate = Self.smooth(inRate, Double(read) / seconds)
        outRate = Self.smooth(outRate, Double(sent) / seconds)
        outDuration = Self.smooth(outDuration, sendSeconds / seconds)
        guard let inRate, let outRate, let outDuration, outRate > 0 else { return }
        let secondsPerSample = outDuration / outRate
        desired = secondsPerSample * (inRate + Double(pending) / Self.catchUpSeconds)
        guard !failing else { return }
        let current = Double(shards)
        guard desired < current * 0.7 || desired > current * 1.3 else { return }
        shards = min(maxShards, max(minShards, Int(desired.rounded(.up))))
    }

    private static func smooth(_ previous: Double?, _ value: Double) -> Double {
        previous.map { $0 + weight * (value - $0) } ?? value
    }
}
