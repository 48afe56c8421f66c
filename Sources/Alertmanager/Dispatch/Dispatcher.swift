import OutboundHTTP
import Logging
import ObsCore

/// The dispatcher: flushes aggregation groups when their timers come due, runs each flush through
/// the notification pipeline, and collects what ages out.
extension EmbeddedAlertmanager {
    /// One flush to run: a snapshot of a group's alerts at its flush time.
    struct FlushJob: Sendable {
        var id: GroupID
        var generation: Int
        var route: Route
        var receiver: ReceiverSpec?
        var groupKey: String
        var groupLabels: Labels
        var alerts: [ManagedAlert]
        /// Milliseconds.
        var time: Int64
        var timeIntervals: [String: [TimeInterval]]
    }

    /// Runs until cancelled: flushes due groups (each in its own task, at most
    /// `concurrencyPerReceiver` per receiver), then sleeps until the next timer or a change.
    public func run() async {
        await withDiscardingTaskGroup { tasks in
            while !Task.isCancelled {
                let (jobs, next) = takeDue(now: time.now())
                for job in jobs {
                    tasks.addTask { [self] in
                        let succeeded = await flush(job)
                        finish(job, succeeded: succeeded)
                    }
                }
                await withTaskGroup(of: Void.self) { race in
                    race.addTask { [time] in try? await time.sleep(until: next) }
                    race.addTask { [self] in await waitForWake() }
                    await race.next()
                    race.cancelAll()
                }
            }
        }
    }

    /// Marks due groups in flight and returns their flushes and when to look again; also removes
    /// empty groups and collects resolved alerts, expired silences and old log entries.
    func takeDue(now: Int64) -> ([FlushJob], Int64) {
        var collected: (alerts: [UInt64], silences: [String], entries: [String]) = ([], [], [])
        let result = state.withLock { state -> ([FlushJob], Int64) in
            if now >= state.nextMaintenance {
                state.groups = state.groups.filter { !$0.value.alerts.isEmpty || $0.value.inFlight }
                state.nextMaintenance = now + options.maintenanceInterval
            }
            if state.nextGC == 0 { state.nextGC = now + options.gcInterval }
            if now >= state.nextGC && state.compiled != nil {
                collected = Self.collectGarbage(&state, now: now &* 1_000_000, retention: options.retention)
                state.nextGC = now + options.gcInterval
            }
            var jobs: [FlushJob] = []
            var next = min(state.nextMaintenance, state.nextGC)
            guard let compiled = state.compiled else { return ([], next) }
            // Read in place: copying every group at every wake-up costs more than the rest.
            for index in state.groups.indices {
                guard !state.groups.values[index].inFlight else { continue }
                let due = state.groups.values[index].nextFlush
                guard due <= now else {
                    next = min(next, due)
                    continue
                }
                let id = state.groups.keys[index]
                let group = state.groups.values[index]
                let receiver = group.route.receiver
                guard state.inFlight[receiver, default: 0] < options.concurrencyPerReceiver else { continue }
                state.inFlight[receiver, default: 0] += 1
                state.groups.values[index].inFlight = true
                state.groups.values[index].hasFlushed = true
                state.groups.values[index].nextFlush = now + group.route.groupInterval
                jobs.append(FlushJob(id: id, generation: state.generation, route: group.route, receiver: compiled.receivers[receiver],
                                     groupKey: group.groupKey, groupLabels: group.labels, alerts: Array(group.alerts.values),
                                     time: now, timeIntervals: compiled.settings.timeIntervals))
            }
            return (jobs, next)
        }
        if !collected.alerts.isEmpty || !collected.silences.isEmpty || !collected.entries.isEmpty {
            database.withLock { db in
                do {
                    try db.delete(alerts: collected.alerts)
                    try db.delete(silences: collected.silences)
                    try db.delete(entries: collected.entries)
                } catch {
                    logger.error("Cannot collect Alertmanager state", metadata: ["err": "\(error)"])
                }
            }
        }
        return result
    }

    /// Resolved alerts no aggregation group still has to notify, silences expired longer than the
    /// retention and expired log entries.
    static func collectGarbage(_ state: inout State, now: Int64, retention: Int64) -> ([UInt64], [String], [String]) {
        var pending = Set<UInt64>()
        for group in state.groups.values { pending.formUnion(group.alerts.keys) }
        let alerts = state.alerts.values.filter { $0.resolved(at: now) && !pending.contains($0.fingerprint) }.map(\.fingerprint)
        for fingerprint in alerts {
            state.alerts[fingerprint] = nil
            state.memberships[fingerprint] = nil
        }
        state.compiled?.inhibitor.collect(now: now)
        let silences = state.silences.values.filter { $0.silence.endsAt &+ retention &* 1_000_000 < now }.map(\.silence.id)
        for id in silences { state.silences[id] = nil }
        let entries = state.nflog.values.filter { $0.expiresAt < now }.map(\.key)
        for key in entries { state.nflog[key] = nil }
        return (alerts, silences, entries)
    }

    /// After a flush: frees the receiver's slot and, when everything was delivered, drops the
    /// resolved alerts that were notified and not updated since.
    func finish(_ job: FlushJob, succeeded: Bool) {
        state.withLock { state in
            state.inFlight[job.route.receiver, default: 1] -= 1
            guard state.generation == job.generation, state.groups[job.id] != nil else { return }
            state.groups[job.id]!.inFlight = false
            guard succeeded else { return }
            let now = job.time &* 1_000_000
            for alert in job.alerts where alert.resolved(at: now) {
                if state.groups[job.id]!.alerts[alert.fingerprint]?.updatedAt == alert.updatedAt {
                    state.groups[job.id]!.alerts[alert.fingerprint] = nil
                }
            }
        }
        wake()
    }

    /// Alertmanager's notification pipeline for one flush: active and mute time intervals,
    /// inhibition and silences, then for each webhook: dedup against the notification log, delivery
    /// with retries until the next flush is due, and the log entry. True when nothing failed.
    func flush(_ job: FlushJob) async -> Bool {
        let now = job.time &* 1_000_000
        var alerts = job.alerts.map { alert -> ManagedAlert in
            var copy = alert
            if !copy.resolved(at: now) { copy.endsAt = 0 }
            return copy
        }
        alerts.sort { AlertOrder.precedes($0.labels, $1.labels) }
        if !job.route.activeTimeIntervals.isEmpty
            && !job.route.activeTimeIntervals.contains(where: { job.timeIntervals[$0]?.contains { $0.contains(now) } ?? false }) {
            return true
        }
        if job.route.muteTimeIntervals.contains(where: { job.timeIntervals[$0]?.contains { $0.contains(now) } ?? false }) {
            return true
        }
        // Inhibited and silenced alerts leave together, in one pass under the lock; the time
        // intervals above depend on the clock only, so the order does not change the outcome.
        alerts = state.withLock { state in
            alerts.filter { alert in
                state.compiled?.inhibitor.inhibitedBy(alert.labels, now: now) == nil && Self.silencedBy(alert.labels, in: state, now: now).isEmpty
            }
        }
        guard !alerts.isEmpty, let receiver = job.receiver else { return true }
        let firing = Set(alerts.filter { !$0.resolved(at: now) }.map(\.fingerprint))
        let resolved = Set(alerts.filter { $0.resolved(at: now) }.map(\.fingerprint))
        let notified = alerts
        return await withTaskGroup(of: Bool.self) { integrations in
            for (index, webhook) in receiver.webhooks.enumerated() {
                integrations.addTask { [self] in
                    await notify(job, webhook: webhook, index: index, alerts: notified, firing: firing, resolved: resolved)
                }
            }
            var all = true
            for await ok in integrations where !ok { all = false }
            return all
        }
    }

    /// Dedup, delivery and logging for one webhook of the receiver.
    func notify(_ job: FlushJob, webhook: WebhookSpec, index: Int, alerts: [ManagedAlert], firing: Set<UInt64>,
                resolved: Set<UInt64>) async -> Bool {
        let now = job.time &* 1_000_000
        let receiverName = job.route.receiver
        let key = NotificationLog.key(receiver: receiverName, integration: index, groupKey: job.groupKey)
        let entry = state.withLock { $0.nflog[key] }
        guard NotificationLog.needsUpdate(entry, firing: firing, resolved: resolved, sendResolved: webhook.sendResolved,
                                          repeatInterval: job.route.repeatInterval, now: now) else { return true }
        metrics.notifications.labels("webhook").inc()
        var sent = alerts
        if !webhook.sendResolved { sent = alerts.filter { !$0.resolved(at: now) } }
        if !sent.isEmpty {
            var truncated = 0
            if webhook.maxAlerts > 0 && sent.count > webhook.maxAlerts {
                truncated = sent.count - webhook.maxAlerts
                sent = Array(sent.prefix(webhook.maxAlerts))
            }
            let body = WebhookMessage.body(receiver: receiverName, alerts: sent, groupLabels: job.groupLabels,
                                           externalURL: options.externalURL, groupKey: job.groupKey, truncated: truncated, now: now)
            let deadline = job.time + max(job.route.groupInterval, options.minDeliveryTimeout)
            guard await deliver(body, to: webhook, receiver: receiverName, deadline: deadline) else {
                metrics.notificationsFailed.labels("webhook").inc()
                return false
            }
        }
        let logged = NotificationLog.Entry(key: key, timestamp: now, firing: firing, resolved: resolved,
                                           expiresAt: now &+ 2 &* job.route.repeatInterval &* 1_000_000)
        await offload.run { [self] in
            database.withLock { db in
                do {
                    try db.save(entry: logged)
                } catch {
                    logger.error("Cannot write the notification log", metadata: ["err": "\(error)"])
                }
            }
            state.withLock { $0.nflog[key] = logged }
        }
        return true
    }

    /// Posts until a 2xx, a 4xx (not worth retrying) or the deadline, backing off exponentially
    /// with jitter between attempts.
    func deliver(_ body: [UInt8], to webhook: WebhookSpec, receiver: String, deadline: Int64) async -> Bool {
        var backoff = Double(options.minBackoff)
        var attempt = 0
        var lastError = ""
        while !Task.isCancelled {
            attempt += 1
            guard let url = webhookURL(webhook) else { return false }
            let started = ContinuousClock.now
            do {
                let (status, answer) = try await transport.post(url: url, body: body, settings: webhook.http, deadline: deadline)
                metrics.requests.labels("webhook").inc()
                metrics.latency.labels("webhook").observe((ContinuousClock.now - started).seconds)
                if (200..<300).contains(status) { return true }
                metrics.requestsFailed.labels("webhook").inc()
                lastError = "unexpected status code \(status): \(answer)"
                if status < 500 {
                    logger.error("Notify for alerts failed", metadata: ["receiver": "\(receiver)", "attempts": "\(attempt)",
                                                                        "err": "\(lastError)"])
                    return false
                }
            } catch {
                metrics.requests.labels("webhook").inc()
                metrics.requestsFailed.labels("webhook").inc()
                lastError = "\(error)"
            }
            let wait = Int64(backoff * Double.random(in: 0.5...1.5))
            backoff = min(backoff * 1.5, Double(options.maxBackoff))
            if time.now() + wait >= deadline { break }
            if attempt == 1 || attempt % 10 == 0 {
                logger.warning("Notify attempt failed, will retry later", metadata: ["receiver": "\(receiver)", "attempts": "\(attempt)",
                                                                                      "err": "\(lastError)"])
            }
            let until = time.now() + wait
            state.withLock { $0.backingOff += 1 }
            defer { state.withLock { $0.backingOff -= 1 } }
            do { try await time.sleep(until: until) } catch { break }
        }
        logger.error("Notify for alerts failed", metadata: ["receiver": "\(receiver)", "attempts": "\(attempt)", "err": "\(lastError)"])
        return false
    }

    /// `url`, or the first line of `url_file`, read at each notification.
    func webhookURL(_ webhook: WebhookSpec) -> String? {
        if let url = webhook.url { return url }
        guard let file = webhook.urlFile, let text = try? FileIO.readText(file) else {
            logger.error("Cannot read webhook url_file", metadata: ["file": "\(webhook.urlFile ?? "")"])
            return nil
        }
        return text.trimmingWhitespace()
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
