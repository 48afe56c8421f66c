import AsyncHTTPClient
import OutboundHTTP
import Logging
import NIOCore
import NIOHTTP1
import ObsCore
import Synchronization

/// What `/api/v1/targets` shows of one target.
public struct TargetStatus: Sendable {
    public var pool: String
    public var labels: Labels
    public var discoveredLabels: Labels
    public var url: String
    public var interval: Int64
    public var timeout: Int64
    /// "up", "down" or "unknown" (not scraped yet).
    public var health = "unknown"
    public var lastError = ""
    /// Wall-clock milliseconds of the last scrape's start, nil before the first.
    public var lastScrape: Int64?
    public var lastDuration = 0.0
}

/// A target relabeling dropped, with the labels discovery gave it.
public struct DroppedTarget: Sendable {
    public var pool: String
    public var discoveredLabels: Labels
}

/// Runs every job's discovery and one scrape loop per target, and keeps what the API shows.
/// Thread-safe. `run()` lives as long as the daemon; `apply(_:)` swaps the jobs on reload.
public final class ScrapeManager: Sendable {
    /// Where samples go; nil while storage is not open (scrapes are then skipped).
    public typealias StoreProvider = @Sendable () -> (any MetricsAppendable)?

    private struct Running {
        var job: ScrapeJob
        var target: ScrapeTarget
        var task: Task<Void, Never>
    }

    private struct State {
        var jobs: [ScrapeJob] = []
        /// Discovered groups per job and source.
        var groups: [String: [String: TargetGroup]] = [:]
        /// Loops by job and target URL + labels.
        var running: [String: Running] = [:]
        var status: [String: TargetStatus] = [:]
        var dropped: [DroppedTarget] = []
        var metadata: [String: [String: MetricMetadata]] = [:]
        /// Running Kubernetes discoveries, by job and position in its config.
        var kubernetes: [String: (config: KubernetesSDConfig, task: Task<Void, Never>)] = [:]
    }

    private let state = Mutex(State())
    private let store: StoreProvider
    /// By redirect policy and proxy, as the jobs' client settings ask.
    private let clients: OutboundClients
    private let logger: Logger
    private let fileDiscovery: FileDiscovery

    /// Where scrape loops read the time and wait for their slots.
    private let time: any TimeSource

    public init(store: @escaping StoreProvider, time: any TimeSource = SystemTimeSource(), logger: Logger) {
        self.store = store
        self.time = time
        self.logger = logger
        clients = OutboundClients { $0.timeout.connect = .seconds(10) }
        fileDiscovery = FileDiscovery(time: time, logger: logger)
    }

    /// Replaces the jobs: static groups are taken at once, file discovery on its next pass.
    public func apply(_ jobs: [ScrapeJob]) {
        state.withLock { state in
            state.jobs = jobs
            // Kubernetes groups survive a reload; their discoveries keep running if unchanged.
            state.groups = state.groups.mapValues { $0.filter { $0.key.hasPrefix("kubernetes:") } }
            for job in jobs {
                for (i, group) in job.staticGroups.enumerated() {
                    var copy = group
                    copy.source = "static/\(i)"
                    state.groups[job.name, default: [:]][copy.source] = copy
                }
            }
        }
        fileDiscovery.configure(jobs)
        startKubernetes(jobs)
        sync()
    }

    /// Keeps unchanged Kubernetes discoveries running (and their groups), starts new ones and stops
    /// those no longer configured.
    private func startKubernetes(_ jobs: [ScrapeJob]) {
        var wanted: [String: (job: String, config: KubernetesSDConfig)] = [:]
        for job in jobs {
            for (i, config) in job.kubernetesDiscovery.enumerated() { wanted["kubernetes:\(job.name):\(i)"] = (job.name, config) }
        }
        state.withLock { state in
            for (source, running) in state.kubernetes where wanted[source]?.config != running.config {
                running.task.cancel()
                state.kubernetes[source] = nil
                state.groups = state.groups.mapValues { $0.filter { !$0.key.hasPrefix(source + "/") } }
            }
            for (source, entry) in wanted where state.kubernetes[source] == nil {
                let discovery = KubernetesDiscovery(config: entry.config, source: source, logger: logger) { [weak self] groups in
                    self?.replaceGroups(job: entry.job, source: source, with: groups)
                }
                state.kubernetes[source] = (entry.config, Task { await discovery.run() })
            }
        }
    }

    /// Replaces the groups one discovery gave a job.
    private func replaceGroups(job: String, source: String, with groups: [TargetGroup]) {
        state.withLock { state in
            guard state.kubernetes[source] != nil else { return }
            var current = (state.groups[job] ?? [:]).filter { !$0.key.hasPrefix(source + "/") }
            for group in groups { current[group.source] = group }
            state.groups[job] = current
        }
        sync()
    }

    /// Re-reads discovery files as they change and keeps the loops in step, until cancelled; then
    /// stops every loop (their series go stale) and waits for them.
    public func run() async {
        while !Task.isCancelled {
            let changed = fileDiscovery.poll()
            if !changed.isEmpty {
                state.withLock { state in
                    for (job, groups) in changed {
                        state.groups[job, default: [:]] = state.groups[job, default: [:]].filter { !$0.key.hasPrefix("file:") }
                        for group in groups { state.groups[job, default: [:]][group.source] = group }
                    }
                }
                sync()
            }
            try? await Task.sleep(for: .seconds(1))
        }
        let tasks = state.withLock { state in
            let tasks = state.running.values.map(\.task) + state.kubernetes.values.map(\.task)
            state.running = [:]
            state.kubernetes = [:]
            return tasks
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        await clients.shutdown()
    }

    public func activeTargets() -> [TargetStatus] {
        state.withLock { Array($0.status.values) }.sorted { ($0.pool, $0.labels) < ($1.pool, $1.labels) }
    }

    public func droppedTargets() -> [DroppedTarget] {
        state.withLock { $0.dropped }
    }

    /// Metadata (`# TYPE`, `# HELP`, `# UNIT`) per target key, then per metric family.
    public func metadata() -> [(target: TargetStatus, families: [String: MetricMetadata])] {
        state.withLock { state in
            state.metadata.compactMap { key, families in state.status[key].map { ($0, families) } }
        }
    }

    // MARK: Targets

    /// Computes every job's targets from its groups and starts and stops loops to match.
    private func sync() {
        state.withLock { state in
            var wanted: [String: (ScrapeJob, ScrapeTarget)] = [:]
            var dropped: [DroppedTarget] = []
            for job in state.jobs {
                for group in (state.groups[job.name] ?? [:]).values.sorted(by: { $0.source < $1.source }) {
                    for entry in group.targets {
                        let built = ScrapeTarget.build(entry, group: group, job: job)
                        guard let target = built.target else {
                            dropped.append(DroppedTarget(pool: job.name, discoveredLabels: built.discovered))
                            continue
                        }
                        wanted[Self.key(job.name, target)] = (job, target)
                    }
                }
            }
            state.dropped = dropped
            // A loop whose job changed in any setting it reads starts anew with the new job.
            for (key, running) in state.running where wanted[key] == nil || !wanted[key]!.0.scrapesLike(running.job) {
                running.task.cancel()
                state.running[key] = nil
                state.status[key] = nil
                state.metadata[key] = nil
            }
            for (key, (job, target)) in wanted where state.running[key] == nil {
                state.status[key] = TargetStatus(pool: job.name, labels: target.labels, discoveredLabels: target.discoveredLabels,
                                                 url: target.url, interval: job.interval, timeout: job.timeout)
                let task = Task { [self] in await loop(key: key, job: job, target: target) }
                state.running[key] = Running(job: job, target: target, task: task)
            }
            // A running target whose discovery metadata changed (a pod's service appeared, a label
            // that relabeling drops) keeps its loop, and shows what discovery says now.
            for (key, (_, target)) in wanted where state.status[key]?.discoveredLabels != target.discoveredLabels {
                state.status[key]?.discoveredLabels = target.discoveredLabels
            }
        }
    }

    static func key(_ job: String, _ target: ScrapeTarget) -> String {
        job + "\u{0}" + target.url + "\u{0}" + target.labels.description
    }

    // MARK: Loop

    private func loop(key: String, job: ScrapeJob, target: ScrapeTarget) async {
        let cache = ScrapeCache()
        // Targets are spread over the interval by a stable hash, as Prometheus does.
        let offset = Int64(ScrapeCache.hash(Array(key.utf8)) % UInt64(job.interval))
        let now = time.now()
        var next = now - (now % job.interval) + offset
        if next < now { next += job.interval }
        var lastTimestamp: Int64?
        // One appender for the loop's life: its buffers keep their capacity from scrape to scrape.
        var appender: (any MetricsAppender)?
        while !Task.isCancelled {
            do { try await time.sleep(until: next) } catch { break }
            let timestamp = time.now()
            if appender == nil { appender = store()?.bufferedAppender() }
            if appender != nil {
                await scrape(key: key, job: job, target: target, cache: cache, timestamp: timestamp, appender: &appender!)
            }
            lastTimestamp = timestamp
            next += job.interval
            // After a long stall, skip the missed slots rather than scraping back to back.
            while next <= time.now() { next += job.interval }
        }
        // The target went away: its series end now. Written from a fresh task, because this one is
        // cancelled and storage refuses work from cancelled tasks. A loop replaced by one with new
        // settings (a reload) hands its series on instead, as Prometheus does.
        let replaced = state.withLock { $0.running[key] != nil }
        if !replaced, let lastTimestamp, let store = store() {
            await Task {
                var appender = store.bufferedAppender()
                let timestamp = max(time.now(), lastTimestamp + 1)
                cache.markAllStale(at: timestamp, into: &appender)
                cache.appendReportStaleness(timestamp: timestamp, target: target, into: &appender)
                try? await appender.commit()
            }.value
        }
    }

    private func scrape(key: String, job: ScrapeJob, target: ScrapeTarget, cache: ScrapeCache, timestamp: Int64,
                        appender: inout any MetricsAppender) async {
        let clock = ContinuousClock()
        let started = clock.now
        var problem: String?
        var outcome = ScrapeCache.Outcome()
        do {
            let (body, format) = try await fetch(target.url, job: job)
            outcome = body.withUnsafeReadableBytes { bytes in
                cache.append(bytes, format: format, timestamp: timestamp, target: target, job: job, into: &appender)
            }
            problem = outcome.problem
        } catch {
            problem = "\(error)"
        }
        if problem != nil {
            appender.rollback()
            cache.markAllStale(at: timestamp, into: &appender)
        }
        let duration = Double((clock.now - started).components.attoseconds) / 1e18 + Double((clock.now - started).components.seconds)
        cache.appendReport(outcome, up: problem == nil, duration: duration, timestamp: timestamp, target: target, into: &appender)
        do {
            try await appender.commit()
        } catch {
            appender.rollback()
            logger.error("Storing scraped samples failed", metadata: ["target": "\(target.url)", "err": "\(error)"])
        }
        if let problem {
            logger.debug("Scrape failed", metadata: ["target": "\(target.url)", "err": "\(problem)"])
        }
        let families = cache.takeMetadataChange() ? cache.metadata : nil
        state.withLock { state in
            guard state.status[key] != nil else { return }
            state.status[key]!.health = problem == nil ? "up" : "down"
            state.status[key]!.lastError = problem ?? ""
            state.status[key]!.lastScrape = timestamp
            state.status[key]!.lastDuration = duration
            if let families { state.metadata[key] = families }
        }
    }

    /// Scrape errors, worded as Prometheus words them.
    struct ScrapeFailure: Error, CustomStringConvertible {
        var description: String
    }

    static let accept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

    private func fetch(_ url: String, job: ScrapeJob) async throws -> (ByteBuffer, ExpositionFormat) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: Self.accept)
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        request.headers.add(name: "User-Agent", value: "obs-agent")
        request.headers.add(name: "X-Prometheus-Scrape-Timeout-Seconds", value: String(Double(job.timeout) / 1000))
        do {
            try job.http.apply(to: &request)
        } catch {
            throw ScrapeFailure(description: error.description)
        }
        let limit = job.bodySizeLimit > 0 ? job.bodySizeLimit : 1 << 30
        let deadline = NIODeadline.now() + .milliseconds(job.timeout)
        let response: HTTPClientResponse
        do {
            response = try await clients.client(for: job.http, url: url).execute(request, deadline: deadline)
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            throw ScrapeFailure(description: "Get \"\(url)\": context deadline exceeded")
        } catch {
            throw ScrapeFailure(description: "Get \"\(url)\": \(error)")
        }
        guard response.status == .ok else {
            throw ScrapeFailure(description: "server returned HTTP status \(response.status.code) \(response.status.reasonPhrase)")
        }
        var body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw ScrapeFailure(description: "body size limit exceeded")
        } catch {
            throw ScrapeFailure(description: "reading the response body: \(error)")
        }
        if response.headers.first(name: "Content-Encoding")?.lowercased() == "gzip" {
            var decoded = ByteBuffer()
            do {
                let inflater = try Inflater(format: .gzip, maxDecodedSize: limit)
                try inflater.inflate(body, into: &decoded)
                try inflater.finish()
            } catch {
                throw ScrapeFailure(description: "decompressing the gzip body: \(error)")
            }
            body = decoded
        }
        return (body, ExpositionFormat(contentType: response.headers.first(name: "Content-Type")))
    }
}
