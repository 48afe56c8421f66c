import Hummingbird
import NIOPosix
import ObsCore
import QueryEngine

/// The Prometheus query API: `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query`,
/// `/api/v1/parse_query`, plus the metadata and exemplar endpoints Grafana calls. GET and
/// form-encoded POST. Queries run on the blocking thread pool, never on the cooperative one.
struct QueryRoutes {
    let stores: Stores
    let state: AgentState
    let engine: PromQLEngine
    let gate: QueryGate
    /// Prometheus refuses range queries with more points per series than this.
    static let maxPointsPerSeries: Int64 = 11_000

    func register(on router: Router<some RequestContext>) {
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/api/v1/query", method: method) { request, _ in try await instant(request) }
            router.on("/api/v1/query_range", method: method) { request, _ in try await range(request) }
            router.on("/api/v1/format_query", method: method) { request, _ in try await format(request) }
            router.on("/api/v1/parse_query", method: method) { request, _ in try await parse(request) }
            router.on("/api/v1/query_exemplars", method: method) { request, _ in try await exemplars(request) }
        }
    }

    func instant(_ request: Request) async throws -> Response {
        let parameters = try await APIParameters.read(request)
        let query = try parameters.query()
        let time = try parameters.queryTime("time", default: WallClock.milliseconds())
        let engine = try engine(for: parameters)
        let store = try stores.metrics()
        // The answer is encoded on the blocking pool too: large results take a while to write.
        return Response.json(try await run { QueryJSON.envelope(try engine.instantQuery(query, at: time, on: store)) })
    }

    func range(_ request: Request) async throws -> Response {
        let parameters = try await APIParameters.read(request)
        let query = try parameters.query()
        guard parameters.first("start") != nil else { throw APIError(.badData, "invalid parameter \"start\": cannot parse \"\" to a valid timestamp") }
        guard parameters.first("end") != nil else { throw APIError(.badData, "invalid parameter \"end\": cannot parse \"\" to a valid timestamp") }
        let start = try parameters.queryTime("start", default: 0)
        let end = try parameters.queryTime("end", default: 0)
        guard end >= start else { throw APIError(.badData, "invalid parameter \"end\": end timestamp must not be before start time") }
        let step = try parameters.duration("step")
        guard step > 0 else {
            throw APIError(.badData, "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer")
        }
        guard (end - start) / step < Self.maxPointsPerSeries else {
            throw APIError(.badData, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
        }
        let engine = try engine(for: parameters)
        let store = try stores.metrics()
        return Response.json(try await run {
            QueryJSON.envelope(try engine.rangeQuery(query, start: start, end: end, step: step, on: store))
        })
    }

    func format(_ request: Request) async throws -> Response {
        let parameters = try await APIParameters.read(request)
        let query = try parameters.query()
        do {
            let expr = try PromQLParser.parse(query)
            return Response.json(APIEnvelope.success(JSONText.quote(PromQLPrinter.pretty(expr))))
        } catch {
            throw APIError(.badData, "invalid parameter \"query\": \(error)")
        }
    }

    func parse(_ request: Request) async throws -> Response {
        let parameters = try await APIParameters.read(request)
        let query = try parameters.query()
        do {
            let expr = try PromQLParser.parse(query)
            return Response.json(APIEnvelope.success(PromQLPrinter.treeJSON(expr)))
        } catch {
            throw APIError(.badData, "invalid parameter \"query\": \(error)")
        }
    }

    func exemplars(_ request: Request) async throws -> Response {
        let parameters = try await APIParameters.read(request)
        let query = try parameters.query()
        let (start, end) = try parameters.timeRange()
        let expression: Expr
        do {
            expression = try PromQLParser.parse(query)
        } catch {
            throw APIError(.badData, "invalid parameter \"query\": \(error)")
        }
        let found = try stores.metrics().exemplars(expression.selectorMatchers, start: start, end: end)
        // `[{"seriesLabels": {…}, "exemplars": [{"labels": {…}, "value": "6", "timestamp": 1600096945.479}]}]`
        var out = "["
        for (index, entry) in found.enumerated() {
            if index > 0 { out += "," }
            out += "{\"seriesLabels\":"
            QueryJSON.labels(entry.series, into: &out)
            out += ",\"exemplars\":["
            for (position, exemplar) in entry.exemplars.enumerated() {
                if position > 0 { out += "," }
                out += "{\"labels\":"
                QueryJSON.labels(exemplar.labels, into: &out)
                out += ",\"value\":\"" + formatValue(exemplar.value) + "\",\"timestamp\":" + QueryJSON.timestamp(exemplar.timestamp) + "}"
            }
            out += "]}"
        }
        return Response.json(APIEnvelope.success(out + "]"))
    }

    /// The engine with this request's `timeout` and `lookback_delta`, when given.
    private func engine(for parameters: APIParameters) throws -> PromQLEngine {
        var engine = self.engine
        // Subqueries without a step use the configured evaluation interval, which a reload can change.
        engine.options.defaultSubqueryStep = state.config.global.evaluationInterval.milliseconds
        if parameters.first("timeout") != nil {
            let timeout = try parameters.duration("timeout")
            if timeout > 0 { engine.options.timeout = min(engine.options.timeout, .milliseconds(timeout)) }
        }
        if parameters.first("lookback_delta") != nil {
            let lookback = try parameters.duration("lookback_delta")
            if lookback > 0 { engine.options.lookbackDelta = lookback }
        }
        return engine
    }

    /// Runs a query on the blocking pool and maps engine errors to the API's error types.
    private func run(_ body: @escaping @Sendable () throws -> String) async throws -> String {
        do {
            return try await gate.run { try await NIOThreadPool.singleton.runIfActive(body) }
        } catch let error as PromQLError {
            switch error {
            case .parse, .syntax: throw APIError(.badData, "invalid parameter \"query\": \(error)")
            case .execution, .tooManySamples: throw APIError(.execution, "\(error)")
            case .timeout: throw APIError(.timeout, "\(error)")
            case .canceled: throw APIError(.canceled, "\(error)")
            }
        }
    }
}

extension APIParameters {
    /// The `query` parameter; absent or empty is Prometheus's parse error.
    func query() throws -> String {
        guard let query = first("query"), !query.isEmpty else {
            throw APIError(.badData, "invalid parameter \"query\": 1:1: parse error: no expression found in input")
        }
        return query
    }

    /// A time for the query engine, which works within ±2^53 ms of the epoch.
    func queryTime(_ name: String, default fallback: Int64) throws -> Int64 {
        let value = try time(name, default: fallback)
        guard abs(value) <= 1 << 53 else {
            throw APIError(.badData, "invalid parameter \"\(name)\": cannot parse \"\(first(name) ?? "")\" to a valid timestamp")
        }
        return value
    }
}
