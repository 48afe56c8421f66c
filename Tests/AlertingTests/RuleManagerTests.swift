import Alerting
import Logging
import ObsCore
import QueryEngine
import Synchronization
import Testing

/// The rule manager's timing and restart behaviour on a manual clock: no test sleeps.
@Suite struct RuleManagerTests {
    static let minute: Int64 = 60_000
    static let start: Int64 = 1_700_000_000_000 / minute * minute

    /// A store with `latency_seconds{instance="a"} = 2` every 15 s over the next hour.
    static func store() async throws -> MemoryMetrics {
        let store = MemoryMetrics()
        var appender = store.appender()
        let labels = Labels(["__name__": "latency_seconds", "instance": "a"])
        for step in 0...240 {
            try appender.append(labels, ref: nil, timestamp: start - 10 * minute + Int64(step) * 15_000, value: 2)
        }
        try await appender.commit()
        return store
    }

    static func group(for hold: String = "5m") throws -> [RuleGroupSpec] {
        let text = """
        groups:
          - name: latency
            interval: 1m
            rules:
              - alert: HighLatency
                expr: latency_seconds > 1
                for: \(hold)
                annotations:
                  summary: "{{ $labels.instance }} at {{ $value }}s"
        """
        return try RuleFile.parse(text, path: "latency.yml").groups
    }

    final class Sent: Sendable {
        let alerts = Mutex<[(Int64, Alert)]>([])
    }

    static func manager(_ store: MemoryMetrics, _ clock: ManualTimeSource, _ sent: Sent) -> RuleManager {
        let querier = PromQLRuleQuerier(engine: PromQLEngine(), store: store)
        return RuleManager(queriers: { _ in querier }, appendable: { store }, history: { store },
                           notify: { _, alerts in sent.alerts.withLock { $0 += alerts.map { (clock.now(), $0) } } },
                           time: clock, metrics: MetricsRegistry(), logger: Logger(label: "test"))
    }

    /// Advances the clock one minute at a time, letting the group loop evaluate each time.
    static func tick(_ clock: ManualTimeSource, minutes: Int) async {
        for _ in 0..<minutes {
            await waitForSleepers(clock)
            clock.advance(by: minute)
            await waitForSleepers(clock)
        }
    }

    static func waitForSleepers(_ clock: ManualTimeSource) async {
        for _ in 0..<100_000 where clock.sleeperCount == 0 { await Task.yield() }
    }

    @Test func pendingThenFiringAtAlignedTimesAndSentWhileFiring() async throws {
        let store = try await Self.store()
        let clock = ManualTimeSource(now: Self.start)
        let sent = Sent()
        let manager = Self.manager(store, clock, sent)
        var options = RuleManager.Options()
        options.resendDelay = 2 * Self.minute
        try await manager.update(try Self.group(), options: options)
        let running = Task { await manager.run() }
        defer { running.cancel() }

        await Self.tick(clock, minutes: 1)
        let rule = try #require(manager.groups.first?.alertingRules.first)
        #expect(rule.alerts.map(\.state) == [.pending])
        #expect(rule.alerts.first?.annotations == [Label("summary", "a at 2s")])
        await Self.tick(clock, minutes: 5)
        #expect(rule.alerts.map(\.state) == [.firing])
        let firstSend = try #require(sent.alerts.withLock { $0.first })
        #expect(firstSend.1.state == .firing)
        // Sent again only after the resend delay, each time valid for four intervals.
        await Self.tick(clock, minutes: 4)
        let sends = sent.alerts.withLock { $0 }
        #expect(sends.count == 2)
        #expect(sends.allSatisfy { $0.1.validUntil! - $0.1.lastSentAt! == 4 * 2 * Self.minute })
        #expect(sends.count == 2 && sends[1].1.lastSentAt! - sends[0].1.lastSentAt! == 3 * Self.minute)
        // Evaluation times are aligned to the group's offset in the minute.
        let group = try #require(manager.groups.first)
        #expect(group.evaluationTime(at: Self.start + 90_000) % Self.minute == group.evaluationTime(at: Self.start) % Self.minute)
    }

    @Test func forStateIsRestoredAfterARestart() async throws {
        let store = try await Self.store()
        let clock = ManualTimeSource(now: Self.start)
        let sent = Sent()
        var options = RuleManager.Options()
        options.forGracePeriod = 2 * Self.minute
        let before = Self.manager(store, clock, sent)
        try await before.update(try Self.group(for: "10m"), options: options)
        let first = Task { await before.run() }
        // Two evaluations to restore (nothing to restore yet), then pending for six minutes.
        await Self.tick(clock, minutes: 8)
        first.cancel()
        _ = await first.value
        let activeBefore = try #require(before.groups.first?.alertingRules.first?.alerts.first)
        #expect(activeBefore.state == .pending)

        // Down for three minutes; the new manager must not wait the whole `for` again.
        clock.advance(by: 3 * Self.minute)
        let after = Self.manager(store, clock, sent)
        try await after.update(try Self.group(for: "10m"), options: options)
        let second = Task { await after.run() }
        defer { second.cancel() }
        await Self.tick(clock, minutes: 2)
        let restored = try #require(after.groups.first?.alertingRules.first?.alerts.first)
        // activeAt moved forward by the time down (three minutes and the two evaluations before
        // the restore): the seven minutes pending before the restart still count.
        #expect(restored.activeAt > activeBefore.activeAt + 4 * Self.minute)
        #expect(restored.activeAt <= activeBefore.activeAt + 6 * Self.minute)
        await Self.tick(clock, minutes: 1)
        #expect(after.groups.first?.alertingRules.first?.alerts.first?.state == .pending)
        // Fires four minutes after the restart instead of ten.
        await Self.tick(clock, minutes: 3)
        #expect(after.groups.first?.alertingRules.first?.alerts.first?.state == .firing)
    }

    @Test func aFailingRuleIsReportedAndTheGroupGoesOn() async throws {
        let store = try await Self.store()
        let clock = ManualTimeSource(now: Self.start)
        let manager = Self.manager(store, clock, Sent())
        let text = """
        groups:
          - name: g
            rules:
              - record: bad
                expr: '"not a vector"'
              - record: instance:latency:max
                expr: max by (instance) (latency_seconds)
        """
        try await manager.update(try RuleFile.parse(text, path: "g.yml").groups, options: RuleManager.Options())
        let group = try #require(manager.groups.first)
        await manager.evaluate(group, at: Self.start)
        #expect(group.rules[0].status.health == .err)
        #expect(group.rules[0].status.lastError == "rule result is not a vector or scalar")
        let querier = PromQLRuleQuerier(engine: PromQLEngine(), store: store)
        let recorded = try querier.vector("instance:latency:max", at: Self.start)
        #expect(recorded.map(\.point.f) == [2])
        #expect(group.rules[1].status.health == .ok)
    }

    @Test func aReloadKeepsAlertsAndNewRulesWriteAlertsAtOnce() async throws {
        let store = try await Self.store()
        let clock = ManualTimeSource(now: Self.start)
        let manager = Self.manager(store, clock, Sent())
        try await manager.update(try Self.group(for: "0s"), options: RuleManager.Options())
        let first = try #require(manager.groups.first)
        await manager.evaluate(first, at: Self.start)
        let before = try #require(first.alertingRules.first?.alerts.first)

        let added = """
        groups:
          - name: added
            rules:
              - alert: Slow
                expr: latency_seconds > 0
        """
        try await manager.update(try Self.group(for: "0s") + RuleFile.parse(added, path: "added.yml").groups,
                                 options: RuleManager.Options())
        let kept = try #require(manager.groups.first { $0.name == "latency" }?.alertingRules.first?.alerts.first)
        #expect(kept.activeAt == before.activeAt)
        let addedGroup = try #require(manager.groups.first { $0.name == "added" })
        await manager.evaluate(addedGroup, at: Self.start + Self.minute)
        let querier = PromQLRuleQuerier(engine: PromQLEngine(), store: store)
        let written = try querier.vector("ALERTS{alertname=\"Slow\"}", at: Self.start + Self.minute)
        #expect(written.count == 1)
    }
}
