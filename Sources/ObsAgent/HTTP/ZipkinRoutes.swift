import Hummingbird
import NIOPosix
import ObsCore
import TraceCollector

/// Zipkin's v2 query API under `/zipkin` (and at the root of the optional Zipkin listener):
/// services, span names, traces by service and span name, and trace by id, with spans in Zipkin's
/// JSON model (microsecond times, string tags, upper-case kinds). Errors are plain text.
struct ZipkinRoutes {
    /// `annotationQuery` terms without a value ask only that the key is present.
    static let anyValue = try! LinearRegex(".*", dotMatchesNewline: true)
    let stores: Stores
    let prefix: String

    func register(on router: Router<some RequestContext>) {
        router.get("\(prefix)/api/v2/services") { request, _ in try await answer(request) { _ in try services() } }
        router.get("\(prefix)/api/v2/spans") { request, _ in try await answer(request) { try spanNames($0) } }
        router.get("\(prefix)/api/v2/traces") { request, _ in try await answer(request) { try traces($0) } }
        router.get("\(prefix)/api/v2/trace/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await answer(request) { _ in try trace(id) }
        }
    }

    private func answer(_ request: Request, _ body: @escaping @Sendable (APIParameters) throws -> String) async throws -> Response {
        try await PlainTextAPI.answer(request, body)
    }

    func services() throws -> String {
        let names = try TraceSearch(store: try stores.traces()).catalogue().services.sorted()
        return "[" + names.map(JSONText.quote).joined(separator: ",") + "]"
    }

    func spanNames(_ parameters: APIParameters) throws -> String {
        guard let service = parameters.first("serviceName"), !service.isEmpty else {
            throw APIError(.badData, "serviceName is required")
        }
        let names = (try TraceSearch(store: try stores.traces()).catalogue().operations[service] ?? []).sorted()
        return "[" + names.map(JSONText.quote).joined(separator: ",") + "]"
    }

    func traces(_ parameters: APIParameters) throws -> String {
        var request = TraceSearch.Request()
        var conditions: [SpanFilter] = []
        if let service = parameters.first("serviceName"), !service.isEmpty {
            conditions.append(.compare(.attribute(scope: .resource, key: "service.name"), .equal, .string(service)))
        }
        if let name = parameters.first("spanName"), !name.isEmpty, name != "all" {
            conditions.append(.compare(.name, .equal, .string(name)))
        }
        if let query = parameters.first("annotationQuery"), !query.isEmpty {
            // `key=value and key2` pairs: tags that must be present (with the value when given).
            for term in query.components(separatedBy: " and ") where !term.isEmpty {
                let parts = term.split(separator: "=", maxSplits: 1).map(String.init)
                let field = SpanField.attribute(scope: .span, key: parts[0])
                conditions.append(parts.count == 2 ? .compare(field, .equal, .string(parts[1])) : .compare(field, .regex, .pattern(Self.anyValue)))
            }
        }
        do {
            request.filter = try SpanFilter.conjunction(conditions)
        } catch {
            throw APIError(.badData, "annotationQuery: \(error)")
        }
        let end = try parameters.unsignedTime("endTs", scale: 1_000_000,
                                              "endTs must be epoch milliseconds before 2116, got \"\(parameters.first("endTs") ?? "")\"")
            ?? UInt64(WallClock.milliseconds()) * 1_000_000
        let lookback = try parameters.unsignedTime("lookback", scale: 1_000_000,
                                                   "lookback must be milliseconds, got \"\(parameters.first("lookback") ?? "")\"") ?? 86_400_000_000_000
        request.end = end
        request.start = end - min(end, lookback)
        // Zipkin's durations are microseconds.
        request.minDuration = try parameters.unsignedTime("minDuration", scale: 1000,
                                                          "minDuration must be microseconds, got \"\(parameters.first("minDuration") ?? "")\"")
        request.maxDuration = try parameters.unsignedTime("maxDuration", scale: 1000,
                                                          "maxDuration must be microseconds, got \"\(parameters.first("maxDuration") ?? "")\"")
        request.limit = try parameters.integer("limit", in: 1...Int.max, default: 10,
                                               "limit must be a positive integer, got \"\(parameters.first("limit") ?? "")\"")!
        let store = try stores.traces()
        let matches = try TraceSearch(store: store).find(request)
        let traces = try matches.compactMap { match in try store.trace(match.summary.traceID).map(ZipkinModel.spans) }
        return "[" + traces.joined(separator: ",") + "]"
    }

    func trace(_ text: String) throws -> String {
        guard text.utf8.count == 16 || text.utf8.count == 32, let id = TraceID(hex: text) else {
            throw APIError(.badData, "traceId must be 16 or 32 hex digits, got \"\(text)\"")
        }
        guard let batches = try stores.traces().trace(id) else { throw APIError(.notFound, "trace \(text) not found") }
        return ZipkinModel.spans(batches)
    }
}

/// Spans in Zipkin's v2 JSON model.
enum ZipkinModel {
    static func spans(_ batches: [ResourceSpans]) -> String {
        var spans: [String] = []
        for batch in batches {
            for scope in batch.scopes {
                for span in scope.spans { spans.append(self.span(span, service: batch.serviceName)) }
            }
        }
        return "[" + spans.joined(separator: ",") + "]"
    }

    static func span(_ span: Span, service: String) -> String {
        // A 64-bit trace id stays 16 digits, as Zipkin clients sent it.
        let traceID = span.traceID.high == 0 ? SpanID.hex(span.traceID.low) : span.traceID.hex
        var out = "{\"traceId\":\"\(traceID)\",\"id\":\"\(SpanID.hex(span.spanID))\""
        if span.parentSpanID != 0 { out += ",\"parentId\":\"\(SpanID.hex(span.parentSpanID))\"" }
        out += ",\"name\":" + JSONText.quote(span.name)
        switch span.kind {
        case .server: out += ",\"kind\":\"SERVER\""
        case .client: out += ",\"kind\":\"CLIENT\""
        case .producer: out += ",\"kind\":\"PRODUCER\""
        case .consumer: out += ",\"kind\":\"CONSUMER\""
        case .unspecified, .internal: break
        }
        out += ",\"timestamp\":\(span.start / 1000),\"duration\":\(span.duration / 1000)"
        out += ",\"localEndpoint\":{\"serviceName\":" + JSONText.quote(service) + "}"
        var tags = span.attributes.map { ($0.key, $0.value.text) }
        if span.statusCode == .error && !tags.contains(where: { $0.0 == "error" }) {
            tags.append(("error", span.statusMessage.isEmpty ? "true" : span.statusMessage))
        }
        out += ",\"tags\":{" + tags.map { JSONText.quote($0.0) + ":" + JSONText.quote($0.1) }.joined(separator: ",") + "}"
        if !span.events.isEmpty {
            out += ",\"annotations\":[" + span.events.map { "{\"timestamp\":\($0.time / 1000),\"value\":" + JSONText.quote($0.name) + "}" }
                .joined(separator: ",") + "]"
        }
        return out + "}"
    }
}
