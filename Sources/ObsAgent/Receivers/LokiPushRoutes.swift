import Hummingbird
import LogIngest
import Logging
import NIOCore
import ObsCore

/// `POST /loki/api/v1/push`: Loki's push API, JSON or snappy-compressed protobuf, optionally
/// gzip-encoded. Answers 204 once every accepted entry is in the WAL; 400 in Loki's words when some
/// entries were refused (the others are stored) or the body is unreadable.
struct LokiPushRoutes {
    let stores: Stores
    let maxBodySize: Int
    let maxDecodedSize: Int
    let counters: ReceiverCounters
    let logger: Logger

    func register(on router: Router<some RequestContext>) {
        router.post("/loki/api/v1/push") { request, _ in try await handle(request) }
    }

    func handle(_ request: Request) async throws -> Response {
        let store = try stores.logs()
        let body: ByteBuffer
        do {
            body = try await RequestBody.read(request, maxBodySize: maxBodySize, maxDecodedSize: maxDecodedSize)
        } catch let failure as RequestBody.Failure {
            return Response.text(failure.description + "\n", status: failure.status)
        }
        let contentType = (request.headers[.contentType] ?? "application/x-protobuf").lowercased()
        let push: LokiPushRequest
        do {
            if contentType.hasPrefix("application/json") {
                push = try body.withUnsafeReadableBytes { try LokiPushRequest(json: $0) }
            } else if contentType.hasPrefix("application/x-protobuf") || contentType.hasPrefix("application/octet-stream") {
                let decoded: ByteBuffer
                do {
                    decoded = try Snappy.uncompress(body, maxDecodedSize: maxDecodedSize)
                } catch {
                    return Response.text("decompressing the snappy body: \(error)\n", status: .badRequest)
                }
                push = try LokiPushRequest(protobuf: decoded)
            } else {
                return Response.text("unsupported Content-Type \"\(contentType)\": want application/json or application/x-protobuf\n",
                                     status: .unsupportedMediaType)
            }
        } catch {
            return Response.text("\(error)\n", status: .badRequest)
        }

        var appender = store.appender()
        var problems: [String] = []
        var rejected = 0
        for stream in push.streams {
            for entry in stream.entries {
                do {
                    try appender.append(stream.labels, entry)
                } catch {
                    rejected += 1
                    if problems.count < 10 { problems.append(error.description) }
                }
            }
        }
        do {
            try await appender.commit()
        } catch {
            logger.error("Loki push commit failed", metadata: ["err": "\(error)"])
            // Nothing of this request was acknowledged; the client may send it again.
            let status: HTTPResponse.Status = if case LogIngestError.unavailable = error { .serviceUnavailable } else { .internalServerError }
            return Response.text("storing entries failed: \(error)\n", status: status)
        }
        let total = push.entryCount
        counters.stored.inc(Double(total - rejected))
        counters.rejected.inc(Double(rejected))
        guard problems.isEmpty else {
            logger.debug("Loki push entries rejected", metadata: ["rejected": "\(rejected)", "first": "\(problems[0])"])
            return Response.text(problems.joined(separator: "\n") + "\ntotal ignored: \(rejected) out of \(total)\n", status: .badRequest)
        }
        return Response(status: .noContent)
    }
}
