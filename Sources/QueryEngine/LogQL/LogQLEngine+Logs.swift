import ObsCore

/// One line a log query returns: its stream's labels, its structured metadata and the labels after
/// the pipeline (stream, metadata and parsed together).
public struct LogLine: Sendable, Equatable {
    public var timestamp: Int64
    public var line: String
    public var stream: Labels
    public var metadata: Labels
    public var labels: Labels

    /// Labels the pipeline added or changed: neither the stream's nor the metadata's.
    public var parsed: Labels {
        Labels(labels.filter { label in stream[label.name] != label.value && metadata[label.name] != label.value })
    }
}

public struct LogsResult: Sendable {
    /// Newest first for `backward`, oldest first for `forward`.
    public var lines: [LogLine]
    public var stats: LogQLStats
}

extension LogQLEngine {
    /// The first `limit` lines in `direction` of `query` with `start <= timestamp < end`.
    public func logs(_ query: LogQuery, start: Int64, end: Int64, direction: LogDirection,
                     limit: Int) throws(LogQLError) -> LogsResult {
        guard limit <= options.maxEntries else {
            throw .limit("max entries limit per query exceeded, limit > max_entries_limit_per_query (\(limit) > \(options.maxEntries))")
        }
        let began = ContinuousClock.now
        let pipeline = try Self.pipeline(query)
        let filter = pipeline.pushdownFilter
        let exact = pipeline.pushdownIsExact
        let forward = direction == .forward
        // Chunks nearest the reading end first, so a filled limit lets later chunks be skipped.
        var chunks = try self.chunks(query.matchers, start: start, end: end)
        let chunksRef = chunks.count
        chunks.sort { forward ? $0.minTime < $1.minTime : $0.maxTime > $1.maxTime }
        let partials = try scan(chunks, deadline: began + options.timeout, make: { LineCollector(limit: limit, forward: forward) },
                                skip: { collector, chunk in collector.cannotImprove(chunk) }) { collector, chunk, decoder in
            let stream = chunk.labels
            try chunk.scan(start: start, end: end, filter: filter, decoder: decoder) { entry in
                guard collector.wants(entry.timestamp) else { return }
                let text = String(decoding: entry.line, as: UTF8.self)
                if exact && entry.metadata.isEmpty {
                    collector.add(LogLine(timestamp: entry.timestamp, line: text, stream: stream, metadata: entry.metadata,
                                          labels: stream))
                    return
                }
                let input = entry.metadata.isEmpty ? stream : Labels(stream.pairs + entry.metadata.pairs)
                guard let output = pipeline.process(line: text, labels: input, timestamp: entry.timestamp) else { return }
                collector.add(LogLine(timestamp: entry.timestamp, line: output.line, stream: stream, metadata: entry.metadata,
                                      labels: output.labels))
            }
        }
        var merged = LineCollector(limit: limit, forward: forward)
        var stats = LogQLStats()
        for (collector, partial) in partials {
            for line in collector.lines { merged.add(line) }
            stats.add(partial)
        }
        stats.chunksRef = chunksRef
        let lines = merged.result()
        stats.entriesReturned = lines.count
        stats.seconds = Self.seconds(since: began)
        return LogsResult(lines: lines, stats: stats)
    }

    static func seconds(since began: ContinuousClock.Instant) -> Double {
        let elapsed = (ContinuousClock.now - began).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }
}

/// Keeps the first `limit` lines in reading order out of many, in bounded memory: lines are
/// gathered up to twice the limit, then sorted and cut back, which fixes a threshold that later
/// lines and whole chunks are checked against.
struct LineCollector {
    let limit: Int
    let forward: Bool
    private(set) var lines: [LogLine] = []
    /// The last kept timestamp once `limit` lines are known to precede it.
    private var threshold: Int64?

    init(limit: Int, forward: Bool) {
        self.limit = limit
        self.forward = forward
    }

    private func before(_ a: LogLine, _ b: LogLine) -> Bool {
        if a.timestamp != b.timestamp { return forward ? a.timestamp < b.timestamp : a.timestamp > b.timestamp }
        return a.stream < b.stream
    }

    func wants(_ timestamp: Int64) -> Bool {
        guard let threshold else { return true }
        return forward ? timestamp <= threshold : timestamp >= threshold
    }

    /// Whether no line of `chunk` can be among the kept ones.
    func cannotImprove(_ chunk: any LogChunk) -> Bool {
        guard let threshold else { return false }
        return forward ? chunk.minTime > threshold : chunk.maxTime < threshold
    }

    mutating func add(_ line: LogLine) {
        guard wants(line.timestamp) else { return }
        lines.append(line)
        if lines.count >= 2 * limit + 64 { compact() }
    }

    private mutating func compact() {
        lines.sort(by: before)
        if lines.count >= limit {
            lines.removeLast(lines.count - limit)
            threshold = lines.last?.timestamp
        }
    }

    mutating func result() -> [LogLine] {
        compact()
        return lines
    }
}
