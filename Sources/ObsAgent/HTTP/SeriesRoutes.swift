import Hummingbird
import MetricsTSDB
import ObsCore

/// `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values`, in Prometheus's JSON shapes,
/// answered from the metrics store. GET and form-encoded POST, as Grafana sends them.
struct SeriesRoutes {
    let stores: Stores

    func register(on router: Router<some RequestContext>) {
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/api/v1/series", method: method) { request, _ in try await series(request) }
            router.on("/api/v1/labels", method: method) { request, _ in try await labels(request) }
        }
        router.get("/api/v1/label/:name/values") { request, context in
            try await values(request, name: context.parameters.get("name") ?? "")
        }
        router.get("/api/v1/status/tsdb") { request, _ in try await tsdbStatus(request) }
    }

    /// Head cardinality in Prometheus's shape; `limit` (default 10) caps each list.
    func tsdbStatus(_ request: Request) async throws -> Response {
        let parameters = try await APIParameters.read(request)
        let limit = try parameters.limit() ?? 10
        let stats = try stores.metrics().headStatistics(limit: limit)
        func list(_ entries: [HeadStatistics.Entry]) -> String {
            "[" + entries.map { "{\"name\":\(JSONText.quote($0.name)),\"value\":\($0.value)}" }.joined(separator: ",") + "]"
        }
        let data = "{\"headStats\":{\"numSeries\":\(stats.numSeries),\"numLabelPairs\":\(stats.numLabelPairs),"
            + "\"chunkCount\":\(stats.chunkCount),\"minTime\":\(stats.minTime),\"maxTime\":\(stats.maxTime)},"
            + "\"seriesCountByMetricName\":\(list(stats.seriesCountByMetricName)),"
            + "\"labelValueCountByLabelName\":\(list(stats.labelValueCountByLabelName)),"
            + "\"memoryInBytesByLabelName\":\(list(stats.memoryInBytesByLabelName)),"
            + "\"seriesCountByLabelValuePair\":\(list(stats.seriesCountByLabelValuePair))}"
        return Response.json(APIEnvelope.success(data))
    }

    func series(_ request: Request) async throws -> Response {
        let parameters = try await APIParameters.read(request)
        let selectors = try parameters.matchers(required: true)
        let (start, end) = try parameters.timeRange()
        let limit = try parameters.limit()
        let querier = try stores.metrics().querier(minTime: start, maxTime: end)
        var seen = Set<Labels>()
        var all: [Labels] = []
        for matchers in selectors {
            for series in try querier.select(matchers) where seen.insert(series.labels).inserted {
                all.append(series.labels)
            }
        }
        all.sort()
        let truncated = limit.map { all.count > $0 } ?? false
        if let limit, truncated { all = Array(all.prefix(limit)) }
        var out = "["
        for (index, labels) in all.enumerated() {
            if index > 0 { out += "," }
            out += "{" + labels.map { "\(JSONText.quote($0.name)):\(JSONText.quote($0.value))" }.joined(separator: ",") + "}"
        }
        out += "]"
        return Response.json(APIEnvelope.success(out, warnings: truncated ? ["results truncated due to limit"] : []))
    }

    func labels(_ request: Request) async throws -> Response {
        try await stringList(request) { querier, matchers in try querier.labelNames(matchers) }
    }

    func values(_ request: Request, name: String) async throws -> Response {
        guard !name.isEmpty else { throw APIError(.badData, "invalid label name: \"\"") }
        return try await stringList(request) { querier, matchers in try querier.labelValues(name, matchers) }
    }

    /// The union over every `match[]` selector (or all series without one) of what `collect` finds,
    /// sorted and limited.
    private func stringList(
        _ request: Request, collect: (any MetricsQuerier, [LabelMatcher]) throws -> [String]
    ) async throws -> Response {
        let parameters = try await APIParameters.read(request)
        let selectors = try parameters.matchers(required: false)
        let (start, end) = try parameters.timeRange()
        let querier = try stores.metrics().querier(minTime: start, maxTime: end)
        var found = Set<String>()
        for matchers in selectors.isEmpty ? [[]] : selectors {
            found.formUnion(try collect(querier, matchers))
        }
        return Response.json(stringList(found.sorted(), limit: try parameters.limit()))
    }

    private func stringList(_ items: [String], limit: Int?) -> String {
        let truncated = limit.map { items.count > $0 } ?? false
        let shown = limit.map { Array(items.prefix($0)) } ?? items
        return APIEnvelope.success("[" + shown.map(JSONText.quote).joined(separator: ",") + "]",
                                   warnings: truncated ? ["results truncated due to limit"] : [])
    }
}

/// The `{"status":"success","data":…}` envelope, with optional `warnings`.
enum APIEnvelope {
    static func success(_ data: String, warnings: [String] = []) -> String {
        var out = "{\"status\":\"success\",\"data\":\(data)"
        if !warnings.isEmpty {
            out += ",\"warnings\":[" + warnings.map(JSONText.quote).joined(separator: ",") + "]"
        }
        return out + "}"
    }
}
