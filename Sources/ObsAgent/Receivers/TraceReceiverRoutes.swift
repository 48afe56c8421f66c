import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ObsCore
import TraceCollector

/// `POST /v1/traces` (OTLP/HTTP, protobuf or JSON, optionally gzip) and `POST /api/v2/spans`
/// (Zipkin v2 JSON). Spans are answered only once they are in the trace WAL. OTLP answers as its
/// spec says: 200 with an `ExportTraceServiceResponse` in the request's encoding, carrying a
/// partial success (rejected span count and the first reason) when spans had invalid ids; 400 with
/// a `google.rpc.Status` for an unreadable body; 415 for other content types. Zipkin answers 202,
/// or 400 with the reason in plain text.
struct TraceReceiverRoutes {
    let stores: Stores
    let maxBodySize: Int
    let maxDecodedSize: Int
    let counters: ReceiverCounters
    let spanMetrics: SpanMetrics
    let logger: Logger

    func register(on router: Router<some RequestContext>) {
        router.post("/v1/traces") { request, _ in try await otlp(request) }
        router.post("/api/v2/spans") { request, _ in try await zipkin(request) }
    }

    func store(_ export: SplitExport) async throws {
        let store = try stores.traces()
        try await NIOThreadPool.singleton.runIfActive { try store.append(export) }
        spanMetrics.record(export.spans)
        counters.stored.inc(Double(export.spanCount))
        counters.rejected.inc(Double(export.rejected))
    }

    /// Spans decoded from JSON (OTLP or Zipkin) take the protobuf path from here on.
    static func split(_ decoded: DecodedSpans) throws -> SplitExport {
        var export = try OTLPSplitter.split(OTLPEncoder.encode(decoded.batches))
        export.rejected += decoded.rejected
        export.firstError = decoded.firstError ?? export.firstError
        return export
    }

    func otlp(_ request: Request) async throws -> Response {
        let contentType = (request.headers[.contentType] ?? "").lowercased()
        let json = contentType.hasPrefix("application/json")
        guard json || contentType.hasPrefix("application/x-protobuf") || contentType.hasPrefix("application/protobuf") else {
            return Self.status(.unsupportedMediaType, code: 3,
                               "unsupported Content-Type \"\(contentType)\": want application/x-protobuf or application/json", json: true)
        }
        let decoded: SplitExport
        do {
            let body = try await RequestBody.read(request, maxBodySize: maxBodySize, maxDecodedSize: maxDecodedSize)
            decoded = json ? try Self.split(try body.withUnsafeReadableBytes { try OTLPJSON.decode($0) }) : try OTLPSplitter.split(body)
        } catch let failure as RequestBody.Failure {
            return Self.status(failure.status, code: 3, failure.description, json: json)
        } catch {
            return Self.status(.badRequest, code: 3, "cannot decode the OTLP request: \(error)", json: json)
        }
        do {
            try await store(decoded)
        } catch let error as APIError {
            return Self.status(error.status, code: 14, error.message, json: json)
        } catch {
            logger.error("Storing spans failed", metadata: ["err": "\(error)"])
            return Self.status(.serviceUnavailable, code: 14, "storing spans failed: \(error)", json: json)
        }
        // ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1 { int64 rejected_spans = 1; string error_message = 2 } }
        if json {
            guard decoded.rejected > 0 else { return Response.json("{}") }
            return Response.json("{\"partialSuccess\":{\"rejectedSpans\":\"\(decoded.rejected)\",\"errorMessage\":"
                + JSONText.quote(decoded.firstError ?? "") + "}}")
        }
        return Response(status: .ok, headers: [.contentType: "application/x-protobuf"], body: .init(byteBuffer: decoded.exportResponse))
    }

    /// A `google.rpc.Status` (code, message) in the request's encoding, as OTLP/HTTP errors are.
    static func status(_ status: HTTPResponse.Status, code: Int, _ message: String, json: Bool) -> Response {
        if json {
            return Response(status: status, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: "{\"code\":\(code),\"message\":\(JSONText.quote(message))}")))
        }
        var writer = ProtobufWriter()
        writer.writeVarint(field: 1, UInt64(code))
        writer.writeString(field: 2, message)
        return Response(status: status, headers: [.contentType: "application/x-protobuf"], body: .init(byteBuffer: writer.buffer))
    }

    func zipkin(_ request: Request) async throws -> Response {
        let contentType = (request.headers[.contentType] ?? "application/json").lowercased()
        guard contentType.hasPrefix("application/json") else {
            return Response.text("unsupported Content-Type \"\(contentType)\": want application/json (Zipkin v2 JSON)\n",
                                 status: .unsupportedMediaType)
        }
        let decoded: SplitExport
        do {
            let body = try await RequestBody.read(request, maxBodySize: maxBodySize, maxDecodedSize: maxDecodedSize)
            decoded = try Self.split(try body.withUnsafeReadableBytes { try ZipkinJSON.decode($0) })
        } catch let failure as RequestBody.Failure {
            return Response.text(failure.description + "\n", status: failure.status)
        } catch {
            return Response.text("cannot decode the Zipkin spans: \(error)\n", status: .badRequest)
        }
        do {
            try await store(decoded)
        } catch let error as APIError {
            return Response.text(error.message + "\n", status: error.status)
        }
        if decoded.rejected > 0 {
            return Response.text("\(decoded.rejected) spans refused, the others stored: \(decoded.firstError ?? "")\n", status: .badRequest)
        }
        return Response(status: .accepted)
    }
}
