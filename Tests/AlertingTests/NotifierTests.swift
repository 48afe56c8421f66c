import Alerting
import Logging
import ObsCore
import Synchronization
import Testing

/// The notifier against a scripted Alertmanager on a manual clock.
@Suite struct NotifierTests {
    /// Answers with the scripted statuses in turn (then 200), recording every body.
    final class ScriptedAlertmanager: AlertmanagerTransport {
        let script: Mutex<[Int]>
        let bodies = Mutex<[String]>([])

        init(_ statuses: [Int]) { script = Mutex(statuses) }

        func post(to target: AlertmanagerTarget, body: [UInt8]) async throws -> Int {
            bodies.withLock { $0.append(String(decoding: body, as: UTF8.self)) }
            return script.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
        }
    }

    static func alert(_ name: String) -> NotifiedAlert {
        NotifiedAlert(labels: Labels(["alertname": name, "replica": "a"]), annotations: [Label("summary", "s")],
                      startsAt: 1_700_000_000_000, endsAt: 1_700_000_240_000, generatorURL: "http://agent/graph")
    }

    static func waitUntil(_ condition: () -> Bool) async {
        for _ in 0..<200_000 where !condition() { await Task.yield() }
    }

    @Test func failedBatchesAreRetriedInOrderWithBackoff() async throws {
        let clock = ManualTimeSource(now: 0)
        let alertmanager = ScriptedAlertmanager([503, 500])
        let notifier = Notifier(transport: alertmanager, time: clock, metrics: MetricsRegistry(), logger: Logger(label: "test"))
        var options = Notifier.Options()
        options.externalLabels = Labels(["cluster": "eu", "replica": "ignored"])
        options.relabel = { $0.removing(["replica"]) }
        let target = AlertmanagerTarget(url: "http://am/api/v2/alerts", timeout: 1000)
        notifier.update(targets: [target], options: options)
        let running = Task { await notifier.run() }
        defer { running.cancel() }

        notifier.send([Self.alert("A")])
        await Self.waitUntil { alertmanager.bodies.withLock { $0.count } == 1 && clock.sleeperCount == 1 }
        notifier.send([Self.alert("B")])
        // First retry after 500 ms, the second after 1 s: nothing is sent before its time.
        clock.advance(by: 499)
        await Task.yield()
        #expect(alertmanager.bodies.withLock { $0.count } == 1)
        clock.advance(by: 1)
        await Self.waitUntil { alertmanager.bodies.withLock { $0.count } == 2 && clock.sleeperCount == 1 }
        clock.advance(by: 1000)
        await Self.waitUntil { alertmanager.bodies.withLock { $0.count } == 3 }
        let bodies = alertmanager.bodies.withLock { $0 }
        // The failed alert goes first, with the newer one behind it in the same batch.
        #expect(bodies[2].contains("\"alertname\":\"A\"") && bodies[2].contains("\"alertname\":\"B\""))
        #expect(bodies[2].range(of: "\"A\"")!.lowerBound < bodies[2].range(of: "\"B\"")!.lowerBound)
        // External labels added where absent, then relabeled.
        #expect(bodies[2].contains("\"cluster\":\"eu\"") && !bodies[2].contains("replica"))
        #expect(bodies[0].hasPrefix("[{\"labels\":{\"alertname\":\"A\",\"cluster\":\"eu\"},\"annotations\":{\"summary\":\"s\"},\"startsAt\":\"2023-11-14T22:13:20Z\",\"endsAt\":\"2023-11-14T22:17:20Z\""))
        await Self.waitUntil { notifier.pending(target) == 0 }
        #expect(notifier.pending(target) == 0)
    }

    @Test func aFullQueueDropsTheOldest() async throws {
        let clock = ManualTimeSource(now: 0)
        let notifier = Notifier(transport: ScriptedAlertmanager([]), time: clock, metrics: MetricsRegistry(), logger: Logger(label: "test"))
        var options = Notifier.Options()
        options.queueCapacity = 3
        let target = AlertmanagerTarget(url: "http://am/api/v2/alerts", timeout: 1000)
        notifier.update(targets: [target], options: options)
        // Not running: alerts only queue.
        notifier.send((0..<5).map { Self.alert("A\($0)") })
        #expect(notifier.pending(target) == 3)
    }
}
