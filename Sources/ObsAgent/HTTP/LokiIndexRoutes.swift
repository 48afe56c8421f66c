import Hummingbird
import LogIngest
import ObsCore
import QueryEngine

/// `/loki/api/v1/index/stats`, `/loki/api/v1/index/volume`, `/loki/api/v1/index/volume_range` and
/// `/loki/api/v1/format_query`. Stats come from chunk headers without decoding; volumes are
/// `sum by (…) (bytes_over_time(…))` on the LogQL engine, so they count exactly the bytes of the
/// lines in range. Errors are plain text, as Loki writes them.
struct LokiIndexRoutes {
    let stores: Stores
    let gate: QueryGate

    static let defaultVolumeLimit = 100

    func register(on router: Router<some RequestContext>) {
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/loki/api/v1/index/stats", method: method) { request, _ in try await answer(request) { try stats($0) } }
            router.on("/loki/api/v1/index/volume", method: method) { request, _ in
                try await answer(request) { try volume($0, range: false) }
            }
            router.on("/loki/api/v1/index/volume_range", method: method) { request, _ in
                try await answer(request) { try volume($0, range: true) }
            }
            router.on("/loki/api/v1/format_query", method: method) { request, _ in try await answer(request) { try format($0) } }
        }
    }

    private func answer(_ request: Request, _ body: @escaping @Sendable (APIParameters) throws -> String) async throws -> Response {
        do {
            let parameters = try await APIParameters.read(request)
            return Response.json(try await gate.run { try await LokiQueryRoutes.run { try body(parameters) } })
        } catch let error as APIError {
            return Response.text(error.message + "\n", status: error.status)
        }
    }

    static func selector(_ parameters: APIParameters) throws -> LogQuery {
        guard let text = parameters.first("query"), !text.isEmpty else { throw APIError(.badData, "query parameter is required") }
        do {
            return try LogQLParser.parseLogQuery(text)
        } catch {
            throw APIError(.badData, error.description)
        }
    }

    /// `{"streams","chunks","bytes","entries"}` of the chunks the selector reads in range.
    func stats(_ parameters: APIParameters) throws -> String {
        let query = try Self.selector(parameters)
        let (start, end) = try LokiLabelRoutes.range(parameters)
        let chunks = try stores.logs().chunks(query.matchers, start: start, end: end)
        let streams = Set(chunks.map(\.labels)).count
        let bytes = chunks.reduce(0) { $0 + $1.rawLength }
        let entries = chunks.reduce(0) { $0 + $1.count }
        return "{\"streams\":\(streams),\"chunks\":\(chunks.count),\"bytes\":\(bytes),\"entries\":\(entries)}"
    }

    /// Bytes per group of streams: grouped by `targetLabels` or else the selector's label names
    /// (`aggregateBy=series`), or per label name (`aggregateBy=labels`), largest first, at most
    /// `limit` groups. Instant: over `[start, end]` at `end`; range: per `step`.
    func volume(_ parameters: APIParameters, range: Bool) throws -> String {
        let query = try Self.selector(parameters)
        let (start, end) = try LokiQueryRoutes.range(parameters, now: WallClock.milliseconds() * 1_000_000)
        let limit = try parameters.first("limit").map { text in
            guard let value = Int(text), value > 0 else { throw APIError(.badData, "invalid limit \"\(text)\": want a positive integer") }
            return value
        } ?? Self.defaultVolumeLimit
        let targets = parameters.first("targetLabels").map { $0.split(separator: ",").map { $0.trimmingSpaces() } }
            .map { $0.filter { !$0.isEmpty } } ?? []
        var names = targets.isEmpty ? Array(Set(query.matchers.map(\.name))).sorted() : targets
        let byLabels = parameters.first("aggregateBy") == "labels"
        if byLabels && targets.isEmpty {
            names = try stores.logs().streams(query.matchers, start: start, end: end + 1)
                .reduce(into: Set<String>()) { set, labels in for label in labels { set.insert(label.name) } }.sorted()
        }
        let engine = LogQLEngine(querier: try stores.logs())
        let step = range ? try LokiQueryRoutes.step(parameters, start: start, end: end) : end - start + 1
        let window = RangeAggregation(operation: .bytesOverTime, query: LogQuery(matchers: query.matchers, stages: []), range: step)
        // One aggregation per label name when aggregating by labels, one over all names otherwise.
        var volumes: [(metric: String, points: [Point])] = []
        for group in byLabels ? names.map { [$0] } : [names] {
            let expr = LogQLExpr.vectorAggregation(VectorAggregation(operation: .sum, grouping: Grouping(without: false, labels: group),
                                                                     expr: .rangeAggregation(window)))
            let result = try engine.metric(expr, start: range ? start : end, end: end, step: step, instant: !range)
            var found: [(Labels, [Point])] = []
            switch result.value {
            case let .vector(samples): found = samples.map { ($0.labels, [$0.point]) }
            case let .matrix(list): found = list.map { ($0.labels, $0.points) }
            case .scalar, .string: break
            }
            for (labels, points) in found where !points.isEmpty {
                var metric = ""
                if byLabels {
                    // Per label name, as Loki: the name with an empty value.
                    metric = "{" + JSONText.quote(group[0]) + ":\"\"}"
                } else {
                    QueryJSON.labels(labels, into: &metric)
                }
                volumes.append((metric, points))
            }
        }
        func total(_ points: [Point]) -> Double { points.reduce(0) { $0 + $1.f } }
        volumes.sort { (total($0.points), $1.metric) > (total($1.points), $0.metric) }
        var out = "{\"status\":\"success\",\"data\":{\"resultType\":\"" + (range ? "matrix" : "vector") + "\",\"result\":["
        for (index, volume) in volumes.prefix(limit).enumerated() {
            if index > 0 { out += "," }
            out += "{\"metric\":" + volume.metric
            if range {
                out += ",\"values\":["
                for (position, point) in volume.points.enumerated() {
                    if position > 0 { out += "," }
                    QueryJSON.pair(point, into: &out)
                }
                out += "]}"
            } else {
                out += ",\"value\":"
                QueryJSON.pair(volume.points[0], into: &out)
                out += "}"
            }
        }
        return out + "]}}"
    }

    func format(_ parameters: APIParameters) throws -> String {
        guard let text = parameters.first("query"), !text.isEmpty else { throw APIError(.badData, "query parameter is required") }
        do {
            return "{\"status\":\"success\",\"data\":" + JSONText.quote(try LogQLParser.parse(text).description) + "}"
        } catch {
            throw APIError(.badData, error.description)
        }
    }
}
