import HTTPTypes
import Hummingbird
import LogIngest
import NIOPosix
import ObsCore
import QueryEngine

/// `/loki/api/v1/query_range` and `/loki/api/v1/query`: log queries answered as `streams` (newest
/// first unless `direction=forward`, at most `limit` lines, 100 by default), metric queries as
/// `matrix` (range) or `vector`/`scalar` (instant), each with Loki's `stats` block. With the
/// `X-Loki-Response-Encoding-Flags: categorize-labels` header, streams carry only stream labels and
/// each line its structured metadata and parsed labels, as Grafana 12 asks. Errors are plain text,
/// as Loki writes them.
struct LokiQueryRoutes {
    let stores: Stores
    let gate: QueryGate

    static let defaultLimit = 100
    /// The engine's own cap (`max_entries_limit_per_query`), also the most a tail may ask for.
    static let maxLimit = 5000
    static let defaultRange: Int64 = 3_600_000_000_000
    static let maxPoints: Int64 = 11_000
    static let encodingFlags = HTTPField.Name("X-Loki-Response-Encoding-Flags")!

    func register(on router: Router<some RequestContext>) {
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/loki/api/v1/query_range", method: method) { request, _ in try await answer(request, instant: false) }
            router.on("/loki/api/v1/query", method: method) { request, _ in try await answer(request, instant: true) }
        }
    }

    private func answer(_ request: Request, instant: Bool) async throws -> Response {
        do {
            let parameters = try await APIParameters.read(request)
            let categorize = request.headers[values: Self.encodingFlags]
                .contains { $0.split(separator: ",").contains { $0.trimmingSpaces() == "categorize-labels" } }
            let engine = LogQLEngine(querier: try stores.logs())
            let body = try await gate.run {
                try await Self.run { try Self.evaluate(parameters, instant: instant, categorize: categorize, engine: engine) }
            }
            return Response.json(body)
        } catch let error as APIError {
            return Response.text(error.message + "\n", status: error.status)
        }
    }

    /// Runs the query on the blocking pool, mapping engine errors to Loki's status codes.
    static func run(_ body: @escaping @Sendable () throws -> String) async throws -> String {
        do {
            return try await NIOThreadPool.singleton.runIfActive(body)
        } catch let error as LogQLError {
            switch error {
            case .badQuery, .pipeline, .limit: throw APIError(.badData, error.description)
            case .timeout: throw APIError(.timeout, error.description, status: .gatewayTimeout)
            case .storage: throw APIError(.internalError, error.description)
            }
        }
    }

    static func evaluate(_ parameters: APIParameters, instant: Bool, categorize: Bool, engine: LogQLEngine) throws -> String {
        guard let text = parameters.first("query"), !text.isEmpty else { throw APIError(.badData, "query parameter is required") }
        let expr: LogQLExpr
        do {
            expr = try LogQLParser.parse(text)
        } catch {
            throw APIError(.badData, error.description)
        }
        let now = WallClock.milliseconds() * 1_000_000
        guard case let .logs(query) = expr else {
            if instant {
                let at = try parameters.lokiTime("time") ?? now
                let result = try engine.metric(expr, start: at, end: at, step: 0, instant: true)
                return metricJSON(result)
            }
            let (start, end) = try range(parameters, now: now)
            let step = try self.step(parameters, start: start, end: end)
            return metricJSON(try engine.metric(expr, start: start, end: end, step: step, instant: false))
        }
        if instant { throw APIError(.badData, "log queries are not supported as an instant query type, please change your query to a range query type") }
        let limit = try parameters.integer("limit", in: 0...Int.max, default: defaultLimit,
                                            "invalid limit \"\(parameters.first("limit") ?? "")\": want a non-negative integer")!
        let direction: LogDirection
        switch parameters.first("direction")?.lowercased() ?? "backward" {
        case "backward": direction = .backward
        case "forward": direction = .forward
        case let other: throw APIError(.badData, "invalid direction \"\(other)\": want forward or backward")
        }
        let (start, end) = try range(parameters, now: now)
        // Loki's range is inclusive at both ends for log queries.
        var result = try engine.logs(query, start: start, end: end + 1, direction: direction, limit: limit)
        if let interval = try parameters.lokiDuration("interval") {
            result.lines = thinned(result.lines, interval: interval)
        }
        return streamsJSON(result, categorize: categorize)
    }

    /// Loki's `interval` for log queries: per stream, only lines at least `interval` after the
    /// last one kept (in reading order).
    static func thinned(_ lines: [LogLine], interval: Int64) -> [LogLine] {
        guard interval > 0 else { return lines }
        var kept: [Labels: Int64] = [:]
        return lines.filter { line in
            if let last = kept[line.labels], abs(line.timestamp - last) < interval { return false }
            kept[line.labels] = line.timestamp
            return true
        }
    }

    /// `start`/`end` (or `since`) in nanoseconds; the last hour by default.
    static func range(_ parameters: APIParameters, now: Int64) throws -> (Int64, Int64) {
        let end = try parameters.lokiTime("end") ?? now
        var start = try parameters.lokiTime("start") ?? end - defaultRange
        if let since = try parameters.lokiDuration("since") {
            start = end - since
        }
        guard end >= start else { throw APIError(.badData, "invalid query, through < from (\(end) < \(start))") }
        return (start, end)
    }

    /// `step` or `interval` as seconds or a duration; by default about 250 points, at least 1s.
    static func step(_ parameters: APIParameters, start: Int64, end: Int64) throws -> Int64 {
        var step = max((end - start) / 250 / 1_000_000_000 * 1_000_000_000, 1_000_000_000)
        if let given = try parameters.lokiDuration(parameters.first("step") != nil ? "step" : "interval") {
            guard given > 0 else { throw APIError(.badData, "invalid step \"\(parameters.first("step") ?? parameters.first("interval") ?? "")\": want a positive duration or number of seconds") }
            step = given
        }
        guard (end - start) / step <= maxPoints else {
            throw APIError(.badData, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
        }
        return step
    }

    static func metricJSON(_ result: LogQLMetricResult) -> String {
        var data = ""
        QueryJSON.data(result.value, into: &data)
        data.removeLast()
        return "{\"status\":\"success\",\"data\":" + data + ",\"stats\":" + statsJSON(result.stats) + "}}"
    }

    static func streamsJSON(_ result: LogsResult, categorize: Bool) -> String {
        var grouped: [Labels: [LogLine]] = [:]
        var order: [Labels] = []
        for line in result.lines {
            let key = categorize ? line.stream : line.labels
            if grouped[key] == nil { order.append(key) }
            grouped[key, default: []].append(line)
        }
        var out = "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":["
        for (index, labels) in order.enumerated() {
            if index > 0 { out += "," }
            out += "{\"stream\":"
            QueryJSON.labels(labels, into: &out)
            out += ",\"values\":["
            for (position, line) in grouped[labels]!.enumerated() {
                if position > 0 { out += "," }
                out += "[\"\(line.timestamp)\"," + JSONText.quote(line.line)
                if categorize {
                    var extra: [String] = []
                    if !line.metadata.isEmpty {
                        var text = "\"structuredMetadata\":"
                        QueryJSON.labels(line.metadata, into: &text)
                        extra.append(text)
                    }
                    let parsed = line.parsed
                    if !parsed.isEmpty {
                        var text = "\"parsed\":"
                        QueryJSON.labels(parsed, into: &text)
                        extra.append(text)
                    }
                    out += ",{" + extra.joined(separator: ",") + "}"
                }
                out += "]"
            }
            out += "]}"
        }
        out += "],\"stats\":" + statsJSON(result.stats)
        if categorize { out += ",\"encodingFlags\":[\"categorize-labels\"]" }
        return out + "}}"
    }

    /// Loki's `stats`: the summary and the store's chunk figures Grafana's query inspector shows.
    static func statsJSON(_ stats: LogQLStats) -> String {
        let seconds = max(stats.seconds, 1e-9)
        return "{\"summary\":{\"bytesProcessedPerSecond\":\(Int(Double(stats.totalBytes) / seconds)),"
            + "\"linesProcessedPerSecond\":\(Int(Double(stats.totalLines) / seconds)),"
            + "\"totalBytesProcessed\":\(stats.totalBytes),\"totalLinesProcessed\":\(stats.totalLines),"
            + "\"execTime\":\(stats.seconds),\"queueTime\":0,\"subqueries\":0,"
            + "\"totalEntriesReturned\":\(stats.entriesReturned),\"splits\":0,\"shards\":0},"
            + "\"querier\":{\"store\":{\"totalChunksRef\":\(stats.chunksRef),\"totalChunksDownloaded\":\(stats.chunksScanned),"
            + "\"chunksDownloadTime\":0,\"chunk\":{\"headChunkBytes\":\(stats.headChunkBytes),\"headChunkLines\":\(stats.headChunkLines),"
            + "\"decompressedBytes\":\(stats.decompressedBytes),\"decompressedLines\":\(stats.decompressedLines),"
            + "\"compressedBytes\":\(stats.compressedBytes),\"totalDuplicates\":0}}}}"
    }
}
