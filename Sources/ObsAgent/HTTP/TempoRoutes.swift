import Hummingbird
import NIOCore
import NIOPosix
import ObsCore
import TraceCollector

/// Tempo's query API, as Grafana's Tempo data source uses it: `/api/echo`, `/api/status/buildinfo`,
/// trace by id (`/api/v2/traces/<id>` and `/api/traces/<id>`, protobuf with
/// `Accept: application/protobuf`, else OTLP JSON), `/api/search` (`q=` TraceQL spanset filter or
/// `tags=`, `minDuration`, `maxDuration`, `limit`, `spss`, `start`/`end` in Unix seconds), and the
/// tag name and value listings in both versions. Errors are plain text, as Tempo writes them.
struct TempoRoutes {
    let stores: Stores

    static let defaultLimit = 20
    static let defaultSpansPerSpanSet = 3
    static let intrinsics = ["duration", "kind", "name", "rootName", "rootServiceName", "status", "statusMessage", "traceDuration"]

    func register(on router: Router<some RequestContext>) {
        router.get("/api/echo") { _, _ in Response.text("echo") }
        router.get("/api/status/buildinfo") { _, _ in
            Response.json("{\"version\":" + JSONText.quote(BuildInfo.version) + ",\"revision\":\"\",\"branch\":"
                + JSONText.quote(BuildInfo.branch) + ",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":"
                + JSONText.quote(BuildInfo.compilerVersion) + "}")
        }
        router.get("/api/v2/traces/:id") { request, context in try await trace(request, context.parameters.get("id") ?? "", v2: true) }
        router.get("/api/traces/:id") { request, context in try await trace(request, context.parameters.get("id") ?? "", v2: false) }
        router.get("/api/search") { request, _ in try await answer(request) { try search($0) } }
        router.get("/api/v2/search/tags") { request, _ in try await answer(request) { try tags($0, v2: true) } }
        router.get("/api/search/tags") { request, _ in try await answer(request) { try tags($0, v2: false) } }
        router.get("/api/v2/search/tag/:tag/values") { request, context in
            let tag = context.parameters.get("tag") ?? ""
            return try await answer(request) { try tagValues($0, tag: tag, v2: true) }
        }
        router.get("/api/search/tag/:tag/values") { request, context in
            let tag = context.parameters.get("tag") ?? ""
            return try await answer(request) { try tagValues($0, tag: tag, v2: false) }
        }
    }

    private func answer(_ request: Request, _ body: @escaping @Sendable (APIParameters) throws -> String) async throws -> Response {
        try await PlainTextAPI.answer(request) { parameters in
            do {
                return try body(parameters)
            } catch let error as TraceQLParser.Failure {
                throw APIError(.badData, "invalid TraceQL query: \(error)")
            }
        }
    }

    func trace(_ request: Request, _ text: String, v2: Bool) async throws -> Response {
        guard let id = TraceID(hex: URLQuery.unescape(text, plusAsSpace: false) ?? text) else {
            return Response.text("invalid trace id \"\(text)\": want up to 32 hex digits\n", status: .badRequest)
        }
        let store: TraceStore
        do {
            store = try stores.traces()
        } catch let error as APIError {
            return Response.text(error.message + "\n", status: error.status)
        }
        guard let batches = try await NIOThreadPool.singleton.runIfActive({ try store.trace(id) }) else {
            return Response.text("trace not found\n", status: .notFound)
        }
        let accept = request.headers[.accept] ?? ""
        if accept.contains("application/protobuf") || accept.contains("application/x-protobuf") {
            // tempopb.Trace is OTLP's TracesData: resource_spans = 1; TraceByIDResponse wraps it as trace = 1.
            var body = OTLPEncoder.encode(batches)
            if v2 {
                var writer = ProtobufWriter()
                writer.writeBytes(field: 1, body)
                body = writer.buffer
            }
            return Response(status: .ok, headers: [.contentType: "application/protobuf"], body: .init(byteBuffer: body))
        }
        let spans = OTLPJSONEncoder.resourceSpans(batches)
        return Response.json(v2 ? "{\"trace\":{\"resourceSpans\":" + spans + "}}" : "{\"batches\":" + spans + "}")
    }

    /// Unix seconds to nanoseconds (`start`, `end`).
    static func seconds(_ parameters: APIParameters, _ name: String) throws -> UInt64? {
        try parameters.unsignedTime(name, scale: 1_000_000_000,
                                    "invalid \(name) \"\(parameters.first(name) ?? "")\": want Unix seconds before 2116")
    }

    static func duration(_ parameters: APIParameters, _ name: String) throws -> UInt64? {
        try parameters.goDuration(name, "invalid \(name) \"\(parameters.first(name) ?? "")\": want a duration such as 100ms")
    }

    func search(_ parameters: APIParameters) throws -> String {
        var request = TraceSearch.Request()
        if let query = parameters.first("q"), !query.isEmpty {
            request.filter = try TraceQLParser.parse(query)
        } else if let tags = parameters.first("tags"), !tags.isEmpty {
            request.filter = try TraceQLParser.parseTags(tags)
        }
        request.start = try Self.seconds(parameters, "start") ?? 0
        request.end = try Self.seconds(parameters, "end").map { $0 + 999_999_999 } ?? .max
        guard request.end >= request.start else { throw APIError(.badData, "invalid start and end: end is before start") }
        request.minDuration = try Self.duration(parameters, "minDuration")
        request.maxDuration = try Self.duration(parameters, "maxDuration")
        if let limit = try parameters.integer("limit", in: 1...Int.max, default: nil,
                                              "invalid limit \"\(parameters.first("limit") ?? "")\": want a positive integer") {
            request.limit = limit
        }
        let perSet = try parameters.integer("spss", in: 1...Int.max, default: Self.defaultSpansPerSpanSet,
                                            "invalid spss \"\(parameters.first("spss") ?? "")\": want a positive integer")!
        let matches = try TraceSearch(store: try stores.traces()).find(request)
        let traces = matches.map { match -> String in
            let summary = match.summary
            let spans = match.spans.prefix(perSet).map { matched -> String in
                "{\"spanID\":\"\(SpanID.hex(matched.span.spanID))\",\"name\":" + JSONText.quote(matched.span.name)
                    + ",\"startTimeUnixNano\":\"\(matched.span.start)\",\"durationNanos\":\"\(matched.span.duration)\""
                    + ",\"attributes\":" + OTLPJSONEncoder.attributes([Attribute("service.name", .string(matched.service))]) + "}"
            }.joined(separator: ",")
            let spanSet = "{\"spans\":[\(spans)],\"matched\":\(match.spans.count)}"
            let rootService = summary.rootName.isEmpty ? "<root span not yet received>" : summary.rootService
            return "{\"traceID\":\"\(summary.traceID.hex)\",\"rootServiceName\":" + JSONText.quote(rootService)
                + ",\"rootTraceName\":" + JSONText.quote(summary.rootName) + ",\"startTimeUnixNano\":\"\(summary.start)\""
                + ",\"durationMs\":\(summary.duration / 1_000_000),\"spanSet\":\(spanSet),\"spanSets\":[\(spanSet)]}"
        }
        return "{\"traces\":[" + traces.joined(separator: ",") + "],\"metrics\":{\"inspectedTraces\":\(matches.count)}}"
    }

    func tags(_ parameters: APIParameters, v2: Bool) throws -> String {
        let start = try Self.seconds(parameters, "start") ?? 0
        let end = try Self.seconds(parameters, "end").map { $0 + 999_999_999 } ?? .max
        let catalogue = try TraceSearch(store: try stores.traces()).catalogue(start: start, end: end)
        func list(_ names: some Sequence<String>) -> String { "[" + names.sorted().map(JSONText.quote).joined(separator: ",") + "]" }
        guard v2 else { return "{\"tagNames\":" + list(catalogue.resourceKeys.union(catalogue.spanKeys)) + "}" }
        let scope = parameters.first("scope") ?? "all"
        var scopes: [String] = []
        if ["all", "resource", "none", ""].contains(scope) {
            scopes.append("{\"name\":\"resource\",\"tags\":" + list(catalogue.resourceKeys) + "}")
        }
        if ["all", "span", "none", ""].contains(scope) { scopes.append("{\"name\":\"span\",\"tags\":" + list(catalogue.spanKeys) + "}") }
        if ["all", "intrinsic", ""].contains(scope) { scopes.append("{\"name\":\"intrinsic\",\"tags\":" + list(Self.intrinsics) + "}") }
        return "{\"scopes\":[" + scopes.joined(separator: ",") + "]}"
    }

    func tagValues(_ parameters: APIParameters, tag raw: String, v2: Bool) throws -> String {
        let tag = URLQuery.unescape(raw, plusAsSpace: false) ?? raw
        let field: SpanField
        switch tag {
        case "name", "span:name": field = .name
        case "status", "span:status": field = .status
        case "kind", "span:kind": field = .kind
        case "statusMessage", "span:statusMessage": field = .statusMessage
        default:
            if tag.hasPrefix("resource.") {
                field = .attribute(scope: .resource, key: String(tag.dropFirst(9)))
            } else if tag.hasPrefix("span.") {
                field = .attribute(scope: .span, key: String(tag.dropFirst(5)))
            } else {
                field = .attribute(scope: .any, key: tag.hasPrefix(".") ? String(tag.dropFirst()) : tag)
            }
        }
        let start = try Self.seconds(parameters, "start") ?? 0
        let end = try Self.seconds(parameters, "end").map { $0 + 999_999_999 } ?? .max
        let values = try TraceSearch(store: try stores.traces()).values(of: field, start: start, end: end)
        let typed = values.map { value -> (type: String, text: String) in
            switch value {
            case let .string(text): ("string", text)
            case let .number(number): (number == number.rounded() ? "int" : "float", NumberText.text(number))
            case let .bool(flag): ("bool", flag ? "true" : "false")
            case let .duration(nanoseconds): ("duration", "\(nanoseconds)ns")
            case let .status(code): ("keyword", code.name)
            case let .kind(kind): ("keyword", kind.name)
            case let .pattern(regex): ("string", regex.source)
            }
        }.sorted { $0.text < $1.text }
        if v2 {
            return "{\"tagValues\":[" + typed.map { "{\"type\":\"\($0.type)\",\"value\":" + JSONText.quote($0.text) + "}" }.joined(separator: ",") + "]}"
        }
        return "{\"tagValues\":[" + typed.map { JSONText.quote($0.text) }.joined(separator: ",") + "]}"
    }
}
