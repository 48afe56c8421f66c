import Hummingbird
import MetricsTSDB
import NIOPosix
import ObsCore

/// Prometheus's TSDB admin API: `snapshot`, `delete_series`, `clean_tombstones`. Off unless
/// `--web.enable-admin-api`, as in Prometheus, answering 503 `unavailable` then.
struct AdminRoutes {
    let stores: Stores
    let enabled: Bool

    func register(on router: Router<some RequestContext>) {
        for method in [HTTPRequest.Method.post, .put] {
            router.on("/api/v1/admin/tsdb/snapshot", method: method) { request, _ in try await snapshot(request) }
            router.on("/api/v1/admin/tsdb/delete_series", method: method) { request, _ in try await deleteSeries(request) }
            router.on("/api/v1/admin/tsdb/clean_tombstones", method: method) { _, _ in try await cleanTombstones() }
        }
    }

    private func store() throws -> MetricsStore {
        guard enabled else { throw APIError(.unavailable, "admin APIs disabled") }
        return try stores.metrics()
    }

    func snapshot(_ request: Request) async throws -> Response {
        let store = try store()
        let parameters = try await APIParameters.read(request)
        let skipHead: Bool
        switch parameters.first("skip_head") ?? "false" {
        case "true", "1", "t", "T", "TRUE", "True": skipHead = true
        case "false", "0", "f", "F", "FALSE", "False", "": skipHead = false
        case let other: throw APIError(.badData, "unable to parse boolean 'skip_head' argument: \(JSONText.quote(other))")
        }
        let name = try await NIOThreadPool.singleton.runIfActive { try store.snapshot(skipHead: skipHead) }
        return Response.json(APIEnvelope.success("{\"name\":\(JSONText.quote(name))}"))
    }

    func deleteSeries(_ request: Request) async throws -> Response {
        let store = try store()
        let parameters = try await APIParameters.read(request)
        let selectors = try parameters.matchers(required: true)
        let start = try parameters.time("start", default: .min)
        let end = try parameters.time("end", default: .max)
        for matchers in selectors {
            try await store.deleteSeries(matchers, minTime: start, maxTime: end)
        }
        return Response(status: .noContent)
    }

    func cleanTombstones() async throws -> Response {
        let store = try store()
        try await NIOThreadPool.singleton.runIfActive { try store.cleanTombstones() }
        return Response(status: .noContent)
    }
}
