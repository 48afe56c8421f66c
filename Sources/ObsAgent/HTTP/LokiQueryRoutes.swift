import Hummingbird
import LogIngest
import ObsCore
import QueryEngine

/// `/loki/api/v1/query_range` for log queries: the streams of a selector through its pipeline, in
/// Loki's `streams` result shape, newest first unless `direction=forward`, at most `limit` lines
/// (100 by default); constant metric expressions (`vector(1)+vector(1)`, Grafana's health check) as
/// scalars, vectors and matrices. Other metric queries and instant log queries are refused with a
/// clear message until the LogQL engine evaluates them. Errors are plain text, as Loki writes them.
struct LokiQueryRoutes {
    let stores: Stores

    static let defaultLimit = 100
    static let defaultRange: Int64 = 3_600_000_000_000

    func register(on router: Router<some RequestContext>) {
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/loki/api/v1/query_range", method: method) { request, _ in try await answer(request, instant: false) }
            router.on("/loki/api/v1/query", method: method) { request, _ in try await answer(request, instant: true) }
        }
    }

    private func answer(_ request: Request, instant: Bool) async throws -> Response {
        do {
            let parameters = try await APIParameters.read(request)
            return Response.json(try evaluate(parameters, instant: instant))
        } catch let error as APIError {
            return Response.text(error.message + "\n", status: error.status)
        }
    }

    private func evaluate(_ parameters: APIParameters, instant: Bool) throws -> String {
        guard let text = parameters.first("query"), !text.isEmpty else { throw APIError(.badData, "query parameter is required") }
        let expr: LogQLExpr
        do {
            expr = try LogQLParser.parse(text)
        } catch {
            throw APIError(.badData, error.description)
        }
        if let constant = LogQLConstant.evaluate(expr) { return try Self.constant(constant, parameters, instant: instant) }
        guard case let .logs(query) = expr else {
            throw APIError(.badData, "metric queries are not supported by obs-agent yet: \(text)")
        }
        if instant { throw APIError(.badData, "log queries are not supported as an instant query type, please change your query to a range query type") }
        let limit = try parameters.first("limit").map { text in
            guard let value = Int(text), value > 0 else { throw APIError(.badData, "invalid limit \"\(text)\": want a positive integer") }
            return value
        } ?? Self.defaultLimit
        let direction: LogDirection
        switch parameters.first("direction")?.lowercased() ?? "backward" {
        case "backward": direction = .backward
        case "forward": direction = .forward
        case let other: throw APIError(.badData, "invalid direction \"\(other)\": want forward or backward")
        }
        let end = try parameters.first("end").map(Self.time) ?? WallClock.milliseconds() * 1_000_000
        var start = try parameters.first("start").map(Self.time) ?? end - Self.defaultRange
        if let since = parameters.first("since") {
            guard let duration = LogQLValues.durationNanoseconds(since) else { throw APIError(.badData, "invalid since \"\(since)\"") }
            start = end - duration
        }
        guard end >= start else { throw APIError(.badData, "invalid query, through < from (\(end) < \(start))") }
        let pipeline: LogPipeline
        do {
            pipeline = try LogPipeline(query.stages)
        } catch {
            throw APIError(.badData, "\(error)")
        }
        let clock = ContinuousClock()
        let began = clock.now
        // The pipeline may drop lines, so the limit applies to its output, not to the store's read.
        let streams = try stores.logs().select(query.matchers, start: start, end: end + 1, direction: direction, limit: .max,
                                               filter: pipeline.pushdownFilter)
        var all: [(labels: Labels, timestamp: Int64, line: String)] = []
        var processed = 0, bytes = 0
        for stream in streams {
            for entry in stream.entries {
                processed += 1
                bytes += entry.line.utf8.count
                let input = entry.metadata.isEmpty ? stream.labels : Labels(stream.labels.pairs + entry.metadata.pairs)
                if let output = pipeline.process(line: entry.line, labels: input) {
                    all.append((output.labels, entry.timestamp, output.line))
                }
            }
        }
        all.sort { direction == .forward ? $0.timestamp < $1.timestamp : $0.timestamp > $1.timestamp }
        var grouped: [Labels: [(Int64, String)]] = [:]
        var order: [Labels] = []
        for item in all.prefix(limit) {
            if grouped[item.labels] == nil { order.append(item.labels) }
            grouped[item.labels, default: []].append((item.timestamp, item.line))
        }
        let seconds = Double((clock.now - began).components.attoseconds) / 1e18 + Double((clock.now - began).components.seconds)
        let result = order.map { labels in
            "{\"stream\":{" + labels.map { "\(JSONText.quote($0.name)):\(JSONText.quote($0.value))" }.joined(separator: ",")
                + "},\"values\":[" + grouped[labels]!.map { "[\"\($0.0)\",\(JSONText.quote($0.1))]" }.joined(separator: ",") + "]}"
        }.joined(separator: ",")
        return "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[\(result)],"
            + "\"stats\":{\"summary\":{\"execTime\":\(seconds),\"totalLinesProcessed\":\(processed),\"totalBytesProcessed\":\(bytes),"
            + "\"totalEntriesReturned\":\(min(all.count, limit))}}}}"
    }

    /// A constant expression at `time` (instant) or at each `step` of `[start, end]`.
    static func constant(_ value: LogQLConstant.Value, _ parameters: APIParameters, instant: Bool) throws -> String {
        func sample(_ nanoseconds: Int64, _ number: Double) -> String {
            "[\(Double(nanoseconds) / 1e9),\(JSONText.quote(LogQLValues.format(number)))]"
        }
        if instant {
            let at = try parameters.first("time").map(time) ?? WallClock.milliseconds() * 1_000_000
            switch value {
            case let .scalar(number):
                return "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":\(sample(at, number)),\"stats\":{}}}"
            case let .vector(number):
                let result = number.map { "{\"metric\":{},\"value\":\(sample(at, $0))}" } ?? ""
                return "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[\(result)],\"stats\":{}}}"
            }
        }
        let end = try parameters.first("end").map(time) ?? WallClock.milliseconds() * 1_000_000
        let start = try parameters.first("start").map(time) ?? end - defaultRange
        guard end >= start else { throw APIError(.badData, "invalid query, through < from (\(end) < \(start))") }
        var step = max((end - start) / 250 / 1_000_000_000 * 1_000_000_000, 1_000_000_000)
        if let text = parameters.first("step") ?? parameters.first("interval") {
            if let seconds = Double(text), seconds > 0 {
                step = Int64(seconds * 1e9)
            } else if let nanoseconds = LogQLValues.durationNanoseconds(text), nanoseconds > 0 {
                step = nanoseconds
            } else {
                throw APIError(.badData, "invalid step \"\(text)\": want a positive duration or number of seconds")
            }
        }
        guard (end - start) / step <= 11_000 else {
            throw APIError(.badData, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
        }
        let number: Double?
        switch value {
        case let .scalar(x): number = x
        case let .vector(x): number = x
        }
        var points: [String] = []
        if let number {
            var at = start
            while at <= end {
                points.append(sample(at, number))
                at += step
            }
        }
        let result = points.isEmpty ? "" : "{\"metric\":{},\"values\":[" + points.joined(separator: ",") + "]}"
        return "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[\(result)],\"stats\":{}}}"
    }

    static func time(_ text: String) throws -> Int64 {
        guard let value = LokiLabelRoutes.time(text) else { throw APIError(.badData, "cannot parse \"\(text)\" to a valid timestamp") }
        return value
    }
}
