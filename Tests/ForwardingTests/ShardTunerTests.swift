@testable import Forwarding
import Testing

/// The shard count follows measured throughput: the time a sample takes to send times the
/// samples to send per second, within a 30% band, between the limits, and not while failing.
struct ShardTunerTests {
    /// `rounds` one-second rounds reading `rate` samples, each costing `cost` shard-seconds.
    func run(_ tuner: inout ShardTuner, rounds: Int, rate: Int, cost: Double, pending: Int = 0, failing: Bool = false) {
        for _ in 0..<rounds {
            tuner.observe(seconds: 1, read: rate, sent: rate, sendSeconds: Double(rate) * cost, pending: pending, failing: failing)
        }
    }

    @Test func growsToWhatTheInflowNeeds() {
        var tuner = ShardTuner(minShards: 1, maxShards: 50)
        // 10,000 samples/s at 0.4 ms each: four shards busy all the time.
        run(&tuner, rounds: 3, rate: 10_000, cost: 0.0004)
        #expect(tuner.shards == 4)
        #expect(abs(tuner.desired - 4) < 1e-9)
    }

    @Test func staysWithinTheBand() {
        var tuner = ShardTuner(minShards: 2, maxShards: 50)
        // A need of 2.5 is within 30% of 2: no change.
        run(&tuner, rounds: 5, rate: 10_000, cost: 0.00025)
        #expect(tuner.shards == 2)
        run(&tuner, rounds: 20, rate: 10_000, cost: 0.0003)
        #expect(tuner.shards == 3)
    }

    @Test func aBacklogIsCaughtUpInAboutTwentySeconds() {
        var tuner = ShardTuner(minShards: 1, maxShards: 50)
        // 1,000 samples/s arriving and 200,000 waiting: 1,000 + 10,000 per second at 1 ms each.
        run(&tuner, rounds: 1, rate: 1_000, cost: 0.001, pending: 200_000)
        #expect(tuner.shards == 11)
    }

    @Test func shrinksWhenTheNeedFallsAndKeepsToTheLimits() {
        var tuner = ShardTuner(minShards: 1, maxShards: 8)
        run(&tuner, rounds: 1, rate: 100_000, cost: 0.001)
        #expect(tuner.shards == 8)
        run(&tuner, rounds: 40, rate: 100, cost: 0.001)
        #expect(tuner.shards == 1)
    }

    @Test func failingSendsDoNotAddShards() {
        var tuner = ShardTuner(minShards: 1, maxShards: 50)
        run(&tuner, rounds: 5, rate: 10_000, cost: 0.01, failing: true)
        #expect(tuner.shards == 1)
        #expect(tuner.desired > 50)
    }

    @Test func nothingSentLeavesTheCountAlone() {
        var tuner = ShardTuner(minShards: 3, maxShards: 50)
        tuner.observe(seconds: 1, read: 0, sent: 0, sendSeconds: 0, pending: 0, failing: false)
        tuner.observe(seconds: 0, read: 10, sent: 10, sendSeconds: 100, pending: 0, failing: false)
        #expect(tuner.shards == 3)
    }
}
