import ObsCore

/// Turns one scrape's body into appended samples for one target, remembering series between
/// scrapes so that a steady-state scrape neither parses labels nor hashes label sets again, and so
/// that series that vanish get staleness markers. One per target, used by one task at a time (its
/// scrape loop, then the loop's final staleness write), hence the unchecked sendability.
public final class ScrapeCache: @unchecked Sendable {
    private var state = ScrapeCacheState()

    public init() {}

    /// What one scrape appended.
    public struct Outcome: Sendable {
        public var scraped = 0
        public var postRelabeling = 0
        public var seriesAdded = 0
        public var problem: String?
    }

    /// `# HELP`, `# TYPE` and `# UNIT` seen, by metric family, for the metadata APIs.
    public var metadata: [String: MetricMetadata] { state.metadata }

    /// Parses `body` and appends its samples at `timestamp` (unless the exposition carries its own
    /// and the job honours them). On a parse error or a broken limit, appends nothing and reports
    /// the problem; the caller then rolls back and marks the target down.
    public func append<Appender: MetricsAppender>(_ body: UnsafeRawBufferPointer, format: ExpositionFormat, timestamp: Int64,
                                                  target: ScrapeTarget, job: ScrapeJob, into appender: inout Appender) -> Outcome {
        state.append(body, format: format, timestamp: timestamp, target: target, job: job, into: &appender)
    }

    /// A failed scrape or a target that went away: every series of the last scrape goes stale.
    public func markAllStale(at timestamp: Int64, into appender: inout any MetricsAppender) {
        state.markAllStale(at: timestamp, into: &appender)
    }

    /// Appends `up`, `scrape_duration_seconds` and the sample counts with the target's labels.
    public func appendReport(_ outcome: Outcome, up: Bool, duration: Double, timestamp: Int64, target: ScrapeTarget,
                             into appender: inout any MetricsAppender) {
        state.appendReport(outcome, up: up, duration: duration, timestamp: timestamp, target: target, into: &appender)
    }

    /// The synthetic series go stale with the target.
    public func appendReportStaleness(timestamp: Int64, target: ScrapeTarget, into appender: inout any MetricsAppender) {
        state.appendReportStaleness(timestamp: timestamp, target: target, into: &appender)
    }

    /// Whether `metadata` changed since the last call.
    public func takeMetadataChange() -> Bool {
        state.takeMetadataChange()
    }

    /// A fast 64-bit hash of series bytes, eight bytes a step (not for anything adversarial: a
    /// collision only costs a comparison).
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var i = 0
        while i + 8 <= bytes.count {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count {
            tail |= UInt64(bytes[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 29)
    }

    static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { hash($0) }
    }
}

/// The state behind `ScrapeCache`, a value so that a scrape works on it through one exclusive
/// access instead of one checked access per field use.
struct ScrapeCacheState {
    struct Entry {
        /// The series bytes as scraped, at `keyStart..<keyStart + keyCount` in `keyBytes`.
        var keyStart: Int
        let keyCount: Int
        /// The labels to store under, nil when `metric_relabel_configs` drop the series.
        let labels: Labels?
        var ref: SeriesRef?
        /// The scrape that last saw the series.
        var lastSeen: Int
        /// The exposition gave the last sample its own timestamp: such series get no staleness
        /// marker unless the job asks for `track_timestamps_staleness`.
        var explicitTimestamp = false
        /// The next entry whose key has the same hash, -1 at the end of the chain.
        var nextSameHash = -1
    }

    private var entries: [Entry] = []
    /// Every entry's series bytes, back to back in first-seen order, which is the exposition's
    /// order: a steady-state scrape reads them front to back.
    private var keyBytes: [UInt8] = []
    /// The entry the next sample most likely belongs to: the one after the last hit. Targets
    /// expose their series in the same order every time, so most lookups end here without a hash.
    private var predicted = 0
    /// The first entry with a given hash of its series bytes; others are chained through the entries.
    private var byHash: [UInt64: Int] = [:]
    private var iteration = 0
    /// Labels and references of the synthetic series (`up`, …), made once.
    private var reportRefs: [String: SeriesRef] = [:]
    /// `# HELP`, `# TYPE` and `# UNIT` seen, by metric family, for the metadata APIs.
    private(set) var metadata: [String: MetricMetadata] = [:]
    /// Set when a scrape changed `metadata`; cleared by `takeMetadataChange`.
    private var metadataChanged = false
    /// Hashes of the comment lines of the last successful scrape, in order: an exposition repeats
    /// its comments in the same order, so each is compared with the one at the same position.
    private var knownComments: [UInt64] = []
    private var comments: [UInt64] = []
    /// The family each comment line of `knownComments` (and of the scrape in progress) names.
    private var knownFamilies: [String] = []
    private var families: [String] = []


    typealias Outcome = ScrapeCache.Outcome

    /// Parses `body` and appends its samples at `timestamp` (unless the exposition carries its own
    /// and the job honours them). On a parse error or a broken limit, appends nothing and reports
    /// the problem; the caller then rolls back and marks the target down.
    mutating func append<Appender: MetricsAppender>(_ body: UnsafeRawBufferPointer, format: ExpositionFormat, timestamp: Int64, target: ScrapeTarget,
                       job: ScrapeJob, into appender: inout Appender) -> Outcome {
        iteration += 1
        predicted = 0
        var outcome = Outcome()
        var parser = ExpositionParser(body, format: format)
        parser.lazyMetadata = true
        parser.lazyLabels = true
        comments.removeAll(keepingCapacity: true)
        families.removeAll(keepingCapacity: true)
        var commentsChanged = false
        do throws(ExpositionError) {
            while let entry = try parser.next() {
                switch entry {
                // A comment line seen unchanged in the last scrape is skipped without building strings.
                case .metadata:
                    let hash = ScrapeCache.hash(parser.lineBytes)
                    let position = comments.count
                    comments.append(hash)
                    if position < knownComments.count && knownComments[position] == hash {
                        families.append(knownFamilies[position])
                        continue
                    }
                    commentsChanged = true
                    switch parser.metadataEntry() {
                    case let .help(name, text):
                        metadata[name, default: MetricMetadata()].help = text
                        families.append(name)
                    case let .type(name, type):
                        metadata[name, default: MetricMetadata()].type = type.rawValue
                        families.append(name)
                    case let .unit(name, unit):
                        metadata[name, default: MetricMetadata()].unit = unit
                        families.append(name)
                    default:
                        families.append("")
                    }
                    metadataChanged = true
                case let .help(name, text):
                    if metadata[name]?.help != text { metadata[name, default: MetricMetadata()].help = text; metadataChanged = true }
                case let .type(name, type):
                    if metadata[name]?.type != type.rawValue { metadata[name, default: MetricMetadata()].type = type.rawValue; metadataChanged = true }
                case let .unit(name, unit):
                    if metadata[name]?.unit != unit { metadata[name, default: MetricMetadata()].unit = unit; metadataChanged = true }
                case .sample:
                    outcome.scraped += 1
                    let index = try lookup(&parser, target: target, job: job, outcome: &outcome)
                    guard let labels = entries[index].labels else { continue }
                    outcome.postRelabeling += 1
                    if job.sampleLimit > 0 && outcome.postRelabeling > job.sampleLimit {
                        outcome.problem = "sample limit exceeded"
                        return outcome
                    }
                    let time = job.honorTimestamps ? parser.timestamp ?? timestamp : timestamp
                    entries[index].explicitTimestamp = job.honorTimestamps && parser.timestamp != nil && !job.trackTimestampsStaleness
                    do {
                        let ref = try appender.append(labels, ref: entries[index].ref, timestamp: time, value: parser.value)
                        entries[index].ref = ref
                        if let exemplar = parser.exemplar(defaultTimestamp: time) {
                            // A bad exemplar is dropped, never the sample or the scrape (as in Prometheus).
                            try? appender.appendExemplar(ref, exemplar)
                        }
                    } catch {
                        // Out of order, duplicate or too old: the sample is skipped, the scrape goes on.
                    }
                }
            }
        } catch {
            outcome.problem = error.description
            return outcome
        }
        if commentsChanged || comments.count != knownComments.count {
            // Families whose comments are gone from the exposition leave the metadata too.
            let present = Set(families)
            let before = metadata.count
            metadata = metadata.filter { present.contains($0.key) }
            if metadata.count != before { metadataChanged = true }
        }
        swap(&knownComments, &comments)
        swap(&knownFamilies, &families)
        appendStaleMarkers(olderThan: iteration, at: timestamp, into: &appender)
        return outcome
    }

    /// The cache entry for the parser's current series, created (labels parsed, relabeled and
    /// checked against the limits) on first sight.
    private mutating func lookup(_ parser: inout ExpositionParser, target: ScrapeTarget, job: ScrapeJob,
                        outcome: inout Outcome) throws(ExpositionError) -> Int {
        let found = parser.withSeriesBytes { bytes -> (index: Int?, hash: UInt64) in
            if predicted < entries.count && keyMatches(predicted, bytes) { return (predicted, 0) }
            let hash = ScrapeCache.hash(bytes)
            var candidate = byHash[hash] ?? -1
            while candidate >= 0 {
                if keyMatches(candidate, bytes) { return (candidate, hash) }
                candidate = entries[candidate].nextSameHash
            }
            return (nil, hash)
        }
        if let index = found.index {
            entries[index].lastSeen = iteration
            predicted = index + 1
            return index
        }
        let hash = found.hash
        let labels = try makeLabels(parser.labels(), target: target, job: job)
        let index = entries.count
        let keyStart = keyBytes.count
        parser.withSeriesBytes { keyBytes.append(contentsOf: $0) }
        entries.append(Entry(keyStart: keyStart, keyCount: keyBytes.count - keyStart, labels: labels, ref: nil,
                             lastSeen: iteration, nextSameHash: byHash[hash] ?? -1))
        byHash[hash] = index
        predicted = index + 1
        if labels != nil { outcome.seriesAdded += 1 }
        return index
    }

    /// Scraped labels joined with the target's: the target wins unless `honor_labels`, and a
    /// scraped label it overrides is kept as `exported_<name>`. Then `metric_relabel_configs` and
    /// the label limits.
    private mutating func makeLabels(_ scraped: [Label], target: ScrapeTarget, job: ScrapeJob) throws(ExpositionError) -> Labels? {
        var merged: [String: String] = [:]
        for label in scraped { merged[label.name] = label.value }
        for label in target.labels {
            if job.honorLabels {
                if merged[label.name] == nil || merged[label.name] == "" { merged[label.name] = label.value }
            } else {
                if let existing = merged[label.name], !existing.isEmpty {
                    var exported = "exported_" + label.name
                    while merged[exported] != nil { exported = "exported_" + exported }
                    merged[exported] = existing
                }
                merged[label.name] = label.value
            }
        }
        guard let relabeled = Relabeler.apply(job.metricRelabelConfigs, to: Labels(merged.map { Label($0.key, $0.value) })) else {
            return nil
        }
        guard relabeled.metricName?.isEmpty == false else { return nil }
        if job.labelLimit > 0 && relabeled.count > job.labelLimit {
            throw ExpositionError(line: 0, message: "label_limit exceeded (metric: \(relabeled.metricName ?? ""), number of labels: \(relabeled.count), limit: \(job.labelLimit))")
        }
        for label in relabeled {
            if job.labelNameLengthLimit > 0 && label.name.utf8.count > job.labelNameLengthLimit {
                throw ExpositionError(line: 0, message: "label_name_length_limit exceeded (metric: \(relabeled.metricName ?? ""), label name: \(label.name), length: \(label.name.utf8.count), limit: \(job.labelNameLengthLimit))")
            }
            if job.labelValueLengthLimit > 0 && label.value.utf8.count > job.labelValueLengthLimit {
                throw ExpositionError(line: 0, message: "label_value_length_limit exceeded (metric: \(relabeled.metricName ?? ""), label name: \(label.name), value: \"\(label.value)\", length: \(label.value.utf8.count), limit: \(job.labelValueLengthLimit))")
            }
        }
        return relabeled
    }

    /// Series seen by the previous scrape and not by this one get a staleness marker.
    private mutating func appendStaleMarkers<Appender: MetricsAppender>(olderThan current: Int, at timestamp: Int64, into appender: inout Appender) {
        for index in entries.indices where entries[index].lastSeen == current - 1 && !entries[index].explicitTimestamp {
            guard let labels = entries[index].labels else { continue }
            _ = try? appender.append(labels, ref: entries[index].ref, timestamp: timestamp, value: staleMarker)
        }
        // Series gone for a while are forgotten, so the cache follows the target's churn.
        if entries.count > 1000 && entries.contains(where: { current - $0.lastSeen > 10 }) { compact(keepingAfter: current - 10) }
    }

    /// A failed scrape or a target that went away: every series of the last scrape goes stale.
    mutating func markAllStale(at timestamp: Int64, into appender: inout any MetricsAppender) {
        iteration += 1
        appendStaleMarkers(olderThan: iteration, at: timestamp, into: &appender)
    }

    private func keyMatches(_ index: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let entry = entries[index]
        guard entry.keyCount == bytes.count else { return false }
        return keyBytes.withUnsafeBytes { memcmp($0.baseAddress! + entry.keyStart, bytes.baseAddress!, bytes.count) == 0 }
    }

    private mutating func compact(keepingAfter floor: Int) {
        entries.removeAll { $0.lastSeen < floor }
        var kept: [UInt8] = []
        byHash.removeAll(keepingCapacity: true)
        for index in entries.indices {
            let start = entries[index].keyStart
            let hash = keyBytes.withUnsafeBytes { ScrapeCache.hash(UnsafeRawBufferPointer(rebasing: $0[start..<start + entries[index].keyCount])) }
            entries[index].keyStart = kept.count
            kept.append(contentsOf: keyBytes[start..<start + entries[index].keyCount])
            entries[index].nextSameHash = byHash[hash] ?? -1
            byHash[hash] = index
        }
        keyBytes = kept
    }

    /// Appends `up`, `scrape_duration_seconds` and the sample counts with the target's labels.
    mutating func appendReport(_ outcome: Outcome, up: Bool, duration: Double, timestamp: Int64, target: ScrapeTarget,
                             into appender: inout any MetricsAppender) {
        let values: [(String, Double)] = [
            ("up", up ? 1 : 0),
            ("scrape_duration_seconds", duration),
            ("scrape_samples_scraped", Double(outcome.scraped)),
            ("scrape_samples_post_metric_relabeling", Double(outcome.postRelabeling)),
            ("scrape_series_added", Double(outcome.seriesAdded)),
        ]
        for (name, value) in values {
            let labels = target.labels.setting(Labels.metricName, to: name)
            if let ref = try? appender.append(labels, ref: reportRefs[name], timestamp: timestamp, value: value) {
                reportRefs[name] = ref
            }
        }
    }

    /// The synthetic series go stale with the target.
    mutating func appendReportStaleness(timestamp: Int64, target: ScrapeTarget, into appender: inout any MetricsAppender) {
        for name in ["up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"] {
            _ = try? appender.append(target.labels.setting(Labels.metricName, to: name), ref: reportRefs[name],
                                     timestamp: timestamp, value: staleMarker)
        }
    }

    /// Whether `metadata` changed since the last call.
    mutating func takeMetadataChange() -> Bool {
        defer { metadataChanged = false }
        return metadataChanged
    }

}

/// Prometheus's staleness marker: a NaN with this exact bit pattern.
let staleMarker = Double(bitPattern: 0x7FF0_0000_0000_0002)

extension ExpositionParser {
    mutating func withSeriesBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(seriesBytes)
    }
}

/// What a metric family's comments say about it.
public struct MetricMetadata: Sendable, Equatable {
    public var type = "unknown"
    public var help = ""
    public var unit = ""
}
