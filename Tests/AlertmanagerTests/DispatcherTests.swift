import OutboundHTTP
import Alertmanager
import Foundation
import Logging
import ObsCore
import Synchronization
import Testing

/// The dispatcher and pipeline on a manual clock: group timers, dedup, repeat, retries, a failing
/// receiver that does not hold up another, silences and state that survives reopening.
@Suite struct DispatcherTests {
    /// Records posts; answers with the status the URL's last path component names (`/500`), 200 otherwise.
    final class Recorder: WebhookTransport {
        struct Post { var url: String; var body: [String: Any] }
        let posts = Mutex<[(url: String, body: String)]>([])

        func post(url: String, body: [UInt8], settings: HTTPClientSettings, deadline: Int64) async throws -> (status: Int, body: String) {
            posts.withLock { $0.append((url, String(decoding: body, as: UTF8.self))) }
            if url.hasSuffix("/down") { throw CancellationError() }
            return (Int(url.split(separator: "/").last.map(String.init) ?? "") ?? 200, "")
        }

        func received(_ suffix: String) -> [[String: Any]] {
            posts.withLock { $0 }.filter { $0.url.hasSuffix(suffix) }.compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: Any]
            }
        }
    }

    static let start: Int64 = 1_800_000_000_000

    static func settings(_ receivers: String = "webhook_configs: [{url: 'http://hook/ok'}]", route: String = "") throws -> AlertmanagerSettings {
        try AlertmanagerSettings.parse("""
            route:
              receiver: r
              group_by: [alertname]
              group_wait: 10s
              group_interval: 1m
              repeat_interval: 1h
            \(route)
            receivers:
              - name: r
                \(receivers)
              - name: other
                webhook_configs: [{url: 'http://hook/other'}]
            """, file: "am.yml")
    }

    /// A running Alertmanager on a manual clock, stopped when `body` returns.
    static func withAlertmanager(_ settings: AlertmanagerSettings, database: String? = nil, time: ManualTimeSource = ManualTimeSource(now: start),
                                 options: EmbeddedAlertmanager.Options = EmbeddedAlertmanager.Options(),
                                 _ body: (EmbeddedAlertmanager, ManualTimeSource, Recorder) async throws -> Void) async throws {
        let recorder = Recorder()
        let path = database ?? NSTemporaryDirectory() + "am-\(UUID().uuidString).db"
        var options = options
        options.externalURL = "http://agent:9090"
        let alertmanager = try EmbeddedAlertmanager(databasePath: path, options: options, transport: recorder, time: time,
                                                    metrics: MetricsRegistry(), logger: Logger(label: "test"))
        alertmanager.apply(settings)
        let task = Task { await alertmanager.run() }
        try await settle(alertmanager)
        try await body(alertmanager, time, recorder)
        task.cancel()
        await task.value
    }

    /// Moves the clock in steps; after each, waits (in real time, up to 10 s) until the dispatcher
    /// has flushed whatever came due and parked again. Flushes that retry on the manual clock
    /// never park it; tests with those look with `eventually`.
    static func advance(_ am: EmbeddedAlertmanager, _ time: ManualTimeSource, by milliseconds: Int64, step: Int64 = 1000) async throws {
        let end = time.now() + milliseconds
        while time.now() < end {
            time.advance(by: min(step, end - time.now()))
            try await settle(am)
        }
    }

    static func settle(_ am: EmbeddedAlertmanager) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        // One pass first: the loop may not have seen the clock move yet.
        try await Task.sleep(for: .milliseconds(1))
        while !am.isQuiescent && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
    }

    /// Waits (in real time, up to a minute: the suite runs in parallel on two cores) for `condition`.
    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    static func alert(_ labels: [String: String], startsAt: Int64 = start, endsAt: Int64 = 0) -> PostedAlert {
        PostedAlert(labels: labels.map { Label($0.key, $0.value) }, startsAt: startsAt * 1_000_000, endsAt: endsAt * 1_000_000)
    }

    @Test func groupWaitIntervalAndRepeat() async throws {
        try await Self.withAlertmanager(try Self.settings()) { am, time, hook in
            try am.receive([Self.alert(["alertname": "A", "i": "1"])])
            try await Self.advance(am, time, by: 9000)
            #expect(hook.received("/ok").isEmpty, "nothing before group_wait")
            try await Self.advance(am, time, by: 2000)
            #expect(hook.received("/ok").count == 1)
            // A second alert joins the flushed group and waits for group_interval.
            try am.receive([Self.alert(["alertname": "A", "i": "2"], startsAt: time.now())])
            try await Self.advance(am, time, by: 50_000)
            #expect(hook.received("/ok").count == 1)
            try await Self.advance(am, time, by: 10_000)
            let second = try #require(hook.received("/ok").last)
            #expect((second["alerts"] as? [Any])?.count == 2)
            #expect(second["groupKey"] as? String == #"{}:{alertname="A"}"#)
            #expect(second["externalURL"] as? String == "http://agent:9090" && second["version"] as? String == "4")
            // Kept firing (an end far ahead, as Prometheus sends) and unchanged: nothing until the
            // repeat interval, then the same notification again.
            let later = Self.start + 36_000_000
            try am.receive([Self.alert(["alertname": "A", "i": "1"], endsAt: later),
                            Self.alert(["alertname": "A", "i": "2"], startsAt: Self.start + 11_000, endsAt: later)])
            try await Self.advance(am, time, by: 55 * 60_000, step: 60_000)
            #expect(hook.received("/ok").count == 2)
            try await Self.advance(am, time, by: 10 * 60_000, step: 60_000)
            #expect(hook.received("/ok").count == 3)
            #expect(hook.received("/ok").last?["status"] as? String == "firing")
        }
    }

    @Test func oldAlertFlushesAtOnceAndResolvesAreSent() async throws {
        try await Self.withAlertmanager(try Self.settings()) { am, time, hook in
            try am.receive([Self.alert(["alertname": "B"], startsAt: Self.start - 60_000)])
            try await Self.advance(am, time, by: 100, step: 100)
            #expect(hook.received("/ok").count == 1, "an alert older than group_wait flushes a new group at once")
            try am.receive([Self.alert(["alertname": "B"], startsAt: Self.start - 60_000, endsAt: time.now())])
            try await Self.advance(am, time, by: 61_000)
            let resolved = try #require(hook.received("/ok").last)
            #expect(resolved["status"] as? String == "resolved")
            #expect(am.alerts().isEmpty)
        }
    }

    @Test func failingReceiverIsRetriedAndDoesNotBlockOthers() async throws {
        let settings = try Self.settings("webhook_configs: [{url: 'http://hook/500'}]",
                                         route: "  routes: [{matchers: [team=\"x\"], receiver: other}]")
        try await Self.withAlertmanager(settings) { am, time, hook in
            try am.receive([Self.alert(["alertname": "A"]), Self.alert(["alertname": "A", "team": "x"])])
            try await Self.advance(am, time, by: 40_000, step: 500)
            #expect(hook.received("/other").count == 1, "the healthy receiver got its notification")
            #expect(hook.received("/500").count >= 5, "5xx answers are retried with backoff")
            // A 4xx is not retried within the flush.
        }
        let client = try Self.settings("webhook_configs: [{url: 'http://hook/400'}]")
        try await Self.withAlertmanager(client) { am, time, hook in
            try am.receive([Self.alert(["alertname": "A"])])
            try await Self.advance(am, time, by: 30_000, step: 500)
            #expect(hook.received("/400").count == 1)
        }
    }

    @Test func silencesMuteAndExpire() async throws {
        try await Self.withAlertmanager(try Self.settings()) { am, time, hook in
            let id = try am.setSilence(Silence(matchers: [Silence.Matcher(name: "alertname", value: "A|C", isRegex: true)],
                                               startsAt: time.now() * 1_000_000, endsAt: (time.now() + 3_600_000) * 1_000_000,
                                               createdBy: "me", comment: "quiet"))
            try am.receive([Self.alert(["alertname": "A"])])
            #expect(am.alerts().first?.status.silencedBy == [id])
            try await Self.advance(am, time, by: 70_000)
            #expect(hook.received("/ok").isEmpty)
            try am.expireSilence(id: id)
            #expect(throws: AlertmanagerError.alreadyExpired(id)) { try am.expireSilence(id: id) }
            try await Self.advance(am, time, by: 61_000)
            #expect(hook.received("/ok").count == 1)
            // Validation, with Alertmanager's words.
            #expect(throws: AlertmanagerError.invalid("at least one matcher must not match the empty string")) {
                try am.setSilence(Silence(matchers: [Silence.Matcher(name: "a", value: ".*", isRegex: true)], startsAt: time.now() * 1_000_000,
                                          endsAt: (time.now() + 1000) * 1_000_000, createdBy: "me", comment: ""))
            }
            #expect(throws: AlertmanagerError.silenceNotFound) {
                try am.setSilence(Silence(id: "nope", matchers: [Silence.Matcher(name: "a", value: "b", isRegex: false)],
                                          startsAt: time.now() * 1_000_000, endsAt: (time.now() + 1000) * 1_000_000, createdBy: "", comment: ""))
            }
        }
    }

    @Test func stateSurvivesReopening() async throws {
        let database = NSTemporaryDirectory() + "am-\(UUID().uuidString).db"
        let time = ManualTimeSource(now: Self.start)
        var silenceID = ""
        try await Self.withAlertmanager(try Self.settings(), database: database, time: time) { am, time, hook in
            silenceID = try am.setSilence(Silence(matchers: [Silence.Matcher(name: "alertname", value: "Z", isRegex: false)],
                                                  startsAt: time.now() * 1_000_000, endsAt: (time.now() + 7_200_000) * 1_000_000,
                                                  createdBy: "me", comment: "kept"))
            try am.receive([Self.alert(["alertname": "A"])])
            try await Self.advance(am, time, by: 11_000)
            #expect(hook.received("/ok").count == 1)
        }
        try await Self.withAlertmanager(try Self.settings(), database: database, time: time) { am, time, hook in
            #expect(am.silence(id: silenceID)?.silence.comment == "kept")
            #expect(am.alerts().count == 1, "alerts are kept")
            try await Self.advance(am, time, by: 3 * 60_000, step: 10_000)
            #expect(hook.received("/ok").isEmpty, "the notification log prevents a second notification")
        }
    }

    @Test func invalidAlertsAreReportedAndValidOnesKept() async throws {
        try await Self.withAlertmanager(try Self.settings()) { am, _, _ in
            #expect(throws: AlertmanagerError.invalid("at least one label pair required; start time must be before end time")) {
                try am.receive([PostedAlert(labels: []), Self.alert(["alertname": "ok"]),
                                Self.alert(["alertname": "x"], startsAt: Self.start, endsAt: Self.start - 1)])
            }
            #expect(am.alerts().map { $0.alert.labels["alertname"] } == ["ok"])
        }
    }
}

extension DispatcherTests {
    @Test func muteAndActiveTimeIntervals() async throws {
        // 2027-01-15 is a Friday; the clock starts at 08:00 UTC.
        let settings = try AlertmanagerSettings.parse("""
            route:
              receiver: r
              group_by: [alertname]
              group_wait: 10s
              group_interval: 1m
              routes:
                - matchers: [kind="muted"]
                  mute_time_intervals: [mornings]
                - matchers: [kind="weekend-only"]
                  active_time_intervals: [weekends]
                - matchers: [kind="friday"]
                  active_time_intervals: [fridays]
            time_intervals:
              - name: mornings
                time_intervals: [{times: [{start_time: '06:00', end_time: '12:00'}]}]
              - name: weekends
                time_intervals: [{weekdays: [saturday, sunday]}]
              - name: fridays
                time_intervals: [{weekdays: [friday], days_of_month: ['-20:-1'], months: [january], years: ['2027']}]
            receivers:
              - name: r
                webhook_configs: [{url: 'http://hook/ok'}]
            """, file: "am.yml")
        try await Self.withAlertmanager(settings) { am, time, hook in
            try am.receive(["muted", "weekend-only", "friday"].map { Self.alert(["alertname": $0, "kind": $0]) })
            try await Self.advance(am, time, by: 15_000)
            #expect(hook.received("/ok").compactMap { ($0["groupLabels"] as? [String: String])?["alertname"] } == ["friday"])
        }
    }

    @Test func timeIntervalsInTheirLocation() throws {
        let settings = try AlertmanagerSettings.parse("""
            route: {receiver: r}
            time_intervals:
              - name: berlin-evening
                time_intervals: [{times: [{start_time: '18:00', end_time: '24:00'}], location: Europe/Berlin}]
              - name: last-day
                time_intervals: [{days_of_month: ['-1']}]
            receivers: [{name: r}]
            """, file: "am.yml")
        let evening = try #require(settings.timeIntervals["berlin-evening"]?.first)
        let lastDay = try #require(settings.timeIntervals["last-day"]?.first)
        func at(_ text: String) -> Int64 { AlertTime.parse(text)! }
        #expect(evening.contains(at("2027-01-15T17:30:00Z")), "18:30 in Berlin (UTC+1)")
        #expect(!evening.contains(at("2027-01-15T16:30:00Z")))
        #expect(evening.contains(at("2027-07-15T16:30:00Z")), "18:30 in Berlin in summer (UTC+2)")
        #expect(lastDay.contains(at("2027-02-28T12:00:00Z")) && !lastDay.contains(at("2027-02-27T12:00:00Z")))
        #expect(lastDay.contains(at("2028-02-29T12:00:00Z")), "leap year")
    }

    @Test func maxAlertsAndSendResolved() async throws {
        let settings = try Self.settings("webhook_configs: [{url: 'http://hook/ok', max_alerts: 2, send_resolved: false}]")
        try await Self.withAlertmanager(settings) { am, time, hook in
            try am.receive((1...5).map { Self.alert(["alertname": "A", "instance": "i\($0)"], endsAt: Self.start + 3_600_000) })
            try await Self.advance(am, time, by: 11_000)
            let first = try #require(hook.received("/ok").first)
            #expect((first["alerts"] as? [[String: Any]])?.compactMap { ($0["labels"] as? [String: String])?["instance"] } == ["i1", "i2"])
            #expect(first["truncatedAlerts"] as? Int == 3)
            // Everything resolves: with send_resolved off, nothing is sent, and the log is cleared.
            try am.receive((1...5).map { Self.alert(["alertname": "A", "instance": "i\($0)"], endsAt: time.now()) })
            try await Self.advance(am, time, by: 61_000)
            #expect(hook.received("/ok").count == 1)
        }
    }
}

extension DispatcherTests {
    /// Alerts and silences are bounded: past the limits new ones are refused (and counted), what is
    /// held stays, and updates of held alerts still apply.
    @Test func limits() async throws {
        var options = EmbeddedAlertmanager.Options()
        options.maxAlerts = 3
        options.maxSilences = 1
        try await Self.withAlertmanager(try Self.settings(), options: options) { am, time, _ in
            try am.receive((1...3).map { Self.alert(["alertname": "A", "i": "\($0)"]) })
            #expect(throws: AlertmanagerError.invalid("1 alerts dropped: the Alertmanager holds its limit of 3 alerts")) {
                try am.receive([Self.alert(["alertname": "A", "i": "1"], startsAt: Self.start - 1000, endsAt: Self.start - 500), Self.alert(["alertname": "A", "i": "4"])])
            }
            #expect(am.alerts().count == 2, "the update of a held alert applied (it resolved); the new one was refused")
            let silence = Silence(matchers: [Silence.Matcher(name: "a", value: "b", isRegex: false)], startsAt: time.now() * 1_000_000,
                                  endsAt: (time.now() + 60_000) * 1_000_000, createdBy: "", comment: "")
            _ = try am.setSilence(silence)
            #expect(throws: AlertmanagerError.self) { try am.setSilence(silence) }
        }
    }
}
