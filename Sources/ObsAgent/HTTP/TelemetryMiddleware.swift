import Hummingbird
import Logging
import NIOCore
import ObsCore

/// Runs around every route: rejects oversized bodies up front, turns every error into the Prometheus
/// error JSON, and counts requests and latency by handler and status code.
struct TelemetryMiddleware<Context: RequestContext>: RouterMiddleware {
    let requests: CounterFamily
    let latency: HistogramFamily
    let maxBodySize: Int

    init(metrics: MetricsRegistry, maxBodySize: Int) {
        requests = metrics.counter(
            "obs_http_requests_total", help: "Counter of HTTP requests by handler and status code.",
            labelNames: ["handler", "code"])
        latency = metrics.histogram(
            "obs_http_request_duration_seconds", help: "Histogram of latencies for HTTP requests by handler.",
            labelNames: ["handler"])
        self.maxBodySize = maxBodySize
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodySize {
            response = APIError(.tooLarge, "request body of \(length) bytes exceeds the limit of \(maxBodySize) bytes").responseValue
        } else {
            do {
                response = try await next(request, context)
            } catch let error as APIError {
                response = error.responseValue
            } catch let error as any HTTPResponseError {
                let message = error.status == .notFound
                    ? "\(request.method) \(request.uri.path) not found"
                    : (error as? HTTPError)?.body ?? error.status.reasonPhrase
                response = APIError(APIError.kind(for: error.status), message, status: error.status).responseValue
            } catch {
                context.logger.error("Request failed", metadata: ["path": "\(request.uri.path)", "err": "\(error)"])
                response = APIError(.internalError, "\(error)").responseValue
            }
        }
        // Unmatched paths are labelled "NotFound" by the router, which keeps the label set bounded.
        let handler = context.endpointPath ?? "NotFound"
        requests.labels(handler, String(response.status.code)).inc()
        let elapsed = ContinuousClock.now - start
        latency.labels(handler).observe(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        return response
    }
}

extension APIError {
    var responseValue: Response { Response.json(body, status: status) }
}
