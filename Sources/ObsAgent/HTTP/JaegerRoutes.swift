import Hummingbird
import NIOPosix
import ObsCore
import TraceCollector

/// Jaeger's query API (the one its UI and Grafana's Jaeger data source use) under `/jaeger`:
/// services, operations, trace search, trace by id, and the service dependency graph computed from
/// parent/child spans of different services. Spans are shown in Jaeger's model: microsecond times,
/// typed tags, `CHILD_OF` references, one process per resource. Errors are Jaeger's
/// `{"data":null,"errors":[{"code","msg"}]}`.
struct JaegerRoutes {
    let stores: Stores
    static let prefix = "/jaeger"

    func register(on router: Router<some RequestContext>) {
        let p = Self.prefix
        router.get("\(p)/api/services") { request, _ in try await answer(request) { _ in try services() } }
        router.get("\(p)/api/services/:service/operations") { request, context in
            let service = context.parameters.get("service") ?? ""
            return try await answer(request) { _ in try operations(URLQuery.unescape(service, plusAsSpace: false) ?? service, typed: false) }
        }
        router.get("\(p)/api/operations") { request, _ in
            try await answer(request) { parameters in try operations(parameters.first("service") ?? "", typed: true) }
        }
        router.get("\(p)/api/traces") { request, _ in try await answer(request) { try search($0) } }
        router.get("\(p)/api/traces/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await answer(request) { _ in try trace(id) }
        }
        router.get("\(p)/api/dependencies") { request, _ in try await answer(request) { try dependencies($0) } }
    }

    private func answer(_ request: Request, _ body: @escaping @Sendable (APIParameters) throws -> String) async throws -> Response {
        do {
            let parameters = try await APIParameters.read(request)
            return Response.json(try await NIOThreadPool.singleton.runIfActive { try body(parameters) })
        } catch let error as APIError {
            let body = "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":\(error.status.code),\"msg\":"
                + JSONText.quote(error.message) + "}]}"
            return Response(status: error.status, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: body)))
        } catch let error as TraceQLParser.Failure {
            let body = "{\"data\":null,\"errors\":[{\"code\":400,\"msg\":" + JSONText.quote(error.description) + "}]}"
            return Response(status: .badRequest, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: body)))
        }
    }

    static func envelope(_ data: String, total: Int = 0) -> String {
        "{\"data\":\(data),\"total\":\(total),\"limit\":0,\"offset\":0,\"errors\":null}"
    }

    func services() throws -> String {
        let catalogue = try TraceSearch(store: try stores.traces()).catalogue()
        let names = catalogue.services.sorted()
        return Self.envelope("[" + names.map(JSONText.quote).joined(separator: ",") + "]", total: names.count)
    }

    func operations(_ service: String, typed: Bool) throws -> String {
        guard !service.isEmpty else { throw APIError(.badData, "parameter 'service' is required") }
        let catalogue = try TraceSearch(store: try stores.traces()).catalogue()
        let names = (catalogue.operations[service] ?? []).sorted()
        let items = names.map { typed ? "{\"name\":" + JSONText.quote($0) + ",\"spanKind\":\"\"}" : JSONText.quote($0) }
        return Self.envelope("[" + items.joined(separator: ",") + "]", total: names.count)
    }

    func trace(_ text: String) throws -> String {
        guard let id = TraceID(hex: text) else { throw APIError(.badData, "malformed trace id \"\(text)\"") }
        guard let batches = try stores.traces().trace(id) else { throw APIError(.notFound, "trace not found") }
        return Self.envelope("[" + JaegerModel.trace(id, batches) + "]", total: 1)
    }

    /// Microseconds since the epoch.
    static func microseconds(_ parameters: APIParameters, _ name: String) throws -> UInt64? {
        try parameters.unsignedTime(name, scale: 1000,
                                    "unable to parse param '\(name)': \"\(parameters.first(name) ?? "")\" is not microseconds before 2116")
    }

    func search(_ parameters: APIParameters) throws -> String {
        var request = TraceSearch.Request()
        var conditions: [SpanFilter] = []
        if let service = parameters.first("service"), !service.isEmpty {
            conditions.append(.compare(.attribute(scope: .resource, key: "service.name"), .equal, .string(service)))
        }
        if let operation = parameters.first("operation"), !operation.isEmpty {
            conditions.append(.compare(.name, .equal, .string(operation)))
        }
        for text in parameters.all("tags") + parameters.all("tag") where !text.isEmpty {
            conditions += try Self.tags(text)
        }
        request.filter = try SpanFilter.conjunction(conditions)
        let end = try Self.microseconds(parameters, "end") ?? UInt64(Date().timeIntervalSince1970 * 1e9)
        request.end = end
        if let start = try Self.microseconds(parameters, "start") {
            request.start = start
        } else if let lookback = try parameters.goDuration("lookback", "unable to parse param 'lookback': \"\(parameters.first("lookback") ?? "")\"") {
            request.start = end - min(end, lookback)
        }
        request.minDuration = try TempoRoutes.duration(parameters, "minDuration")
        request.maxDuration = try TempoRoutes.duration(parameters, "maxDuration")
        if let limit = try parameters.integer("limit", in: 0...Int.max, default: nil,
                                              "unable to parse param 'limit': \"\(parameters.first("limit") ?? "")\"") {
            request.limit = limit == 0 ? 20 : limit
        }
        let store = try stores.traces()
        let matches = try TraceSearch(store: store).find(request)
        // Whole traces, as Jaeger returns them: every span, not only the matching ones.
        let traces = try matches.compactMap { match in try store.trace(match.summary.traceID).map { JaegerModel.trace(match.summary.traceID, $0) } }
        return Self.envelope("[" + traces.joined(separator: ",") + "]", total: traces.count)
    }

    /// Jaeger's `tags` parameter: a JSON object, or `key:value` / `key=value` pairs.
    static func tags(_ text: String) throws -> [SpanFilter] {
        var pairs: [(String, String)] = []
        if text.hasPrefix("{") {
            guard let object = try? Array(text.utf8).withUnsafeBytes({ try JSONReader.anyDocument($0) }) as? [String: Any] else {
                throw APIError(.badData, "malformed 'tags' parameter: \(text)")
            }
            pairs = object.map { ($0.key, "\($0.value)") }
        } else {
            for item in text.split(separator: " ") {
                guard let split = item.firstIndex(where: { $0 == ":" || $0 == "=" }) else {
                    throw APIError(.badData, "malformed 'tags' parameter: \"\(item)\" is not key:value")
                }
                pairs.append((String(item[..<split]), String(item[item.index(after: split)...])))
            }
        }
        return pairs.sorted { $0.0 < $1.0 }.map { pair in
            let (key, value) = pair
            let condition: SpanFilter
            switch key {
            case "error": condition = .compare(.status, value == "true" ? .equal : .notEqual, .status(.error))
            case "span.kind": condition = .compare(.kind, .equal, .kind(SpanKind.allCases.first { $0.name == value } ?? .unspecified))
            default: condition = .compare(.attribute(scope: .any, key: key), .equal, .string(value))
            }
            return condition
        }
    }

    /// Calls between services over `[endTs - lookback, endTs]` (milliseconds): a span whose parent
    /// belongs to another service is one call from the parent's service to the span's.
    func dependencies(_ parameters: APIParameters) throws -> String {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let end = try parameters.unsignedTime("endTs", scale: 1_000_000,
                                              "unable to parse param 'endTs': \"\(parameters.first("endTs") ?? "")\"") ?? now * 1_000_000
        let lookback = try parameters.unsignedTime("lookback", scale: 1_000_000,
                                                   "unable to parse param 'lookback': \"\(parameters.first("lookback") ?? "")\"") ?? 86_400_000_000_000
        let start = end - min(end, lookback)
        var services: [TraceID: [UInt64: String]] = [:]
        var parents: [TraceID: [(child: UInt64, parent: UInt64)]] = [:]
        try stores.traces().scan(start: start, end: end) { summary, batches in
            for batch in batches {
                let service = batch.serviceName
                for scope in batch.scopes {
                    for span in scope.spans {
                        services[summary.traceID, default: [:]][span.spanID] = service
                        if span.parentSpanID != 0 { parents[summary.traceID, default: []].append((span.spanID, span.parentSpanID)) }
                    }
                }
            }
            return true
        }
        var calls: [String: [String: Int]] = [:]
        for (trace, links) in parents {
            let owners = services[trace] ?? [:]
            for link in links {
                guard let child = owners[link.child], let parent = owners[link.parent], child != parent else { continue }
                calls[parent, default: [:]][child, default: 0] += 1
            }
        }
        let edges = calls.keys.sorted().flatMap { parent in
            calls[parent]!.keys.sorted().map { child in
                "{\"parent\":" + JSONText.quote(parent) + ",\"child\":" + JSONText.quote(child) + ",\"callCount\":\(calls[parent]![child]!)}"
            }
        }
        return Self.envelope("[" + edges.joined(separator: ",") + "]", total: edges.count)
    }
}

/// Spans in Jaeger's JSON model.
enum JaegerModel {
    static func trace(_ id: TraceID, _ batches: [ResourceSpans]) -> String {
        var processes: [String] = []
        var spans: [String] = []
        for (index, batch) in batches.enumerated() {
            let process = "p\(index + 1)"
            processes.append(JSONText.quote(process) + ":{\"serviceName\":" + JSONText.quote(batch.serviceName) + ",\"tags\":"
                + tags(batch.resource.filter { $0.key != "service.name" }) + "}")
            for scope in batch.scopes {
                for span in scope.spans { spans.append(self.span(span, process: process, scope: scope.scope)) }
            }
        }
        return "{\"traceID\":\"\(id.hex)\",\"spans\":[" + spans.joined(separator: ",") + "],\"processes\":{"
            + processes.joined(separator: ",") + "},\"warnings\":null}"
    }

    static func span(_ span: Span, process: String, scope: InstrumentationScope) -> String {
        var extra: [Attribute] = []
        if span.kind != .unspecified { extra.append(Attribute("span.kind", .string(span.kind.name))) }
        if span.statusCode == .error { extra.append(Attribute("error", .bool(true))) }
        if span.statusCode != .unset { extra.append(Attribute("otel.status_code", .string(span.statusCode == .error ? "ERROR" : "OK"))) }
        if !span.statusMessage.isEmpty { extra.append(Attribute("otel.status_description", .string(span.statusMessage))) }
        if !scope.name.isEmpty { extra.append(Attribute("otel.scope.name", .string(scope.name))) }
        if !scope.version.isEmpty { extra.append(Attribute("otel.scope.version", .string(scope.version))) }
        var references: [String] = []
        if span.parentSpanID != 0 {
            references.append("{\"refType\":\"CHILD_OF\",\"traceID\":\"\(span.traceID.hex)\",\"spanID\":\"\(SpanID.hex(span.parentSpanID))\"}")
        }
        for link in span.links {
            references.append("{\"refType\":\"FOLLOWS_FROM\",\"traceID\":\"\(link.traceID.hex)\",\"spanID\":\"\(SpanID.hex(link.spanID))\"}")
        }
        let logs = span.events.map { event in
            "{\"timestamp\":\(event.time / 1000),\"fields\":" + tags([Attribute("event", .string(event.name))] + event.attributes) + "}"
        }
        return "{\"traceID\":\"\(span.traceID.hex)\",\"spanID\":\"\(SpanID.hex(span.spanID))\",\"operationName\":" + JSONText.quote(span.name)
            + ",\"references\":[" + references.joined(separator: ",") + "],\"startTime\":\(span.start / 1000),\"duration\":\(span.duration / 1000)"
            + ",\"tags\":" + tags(span.attributes + extra) + ",\"logs\":[" + logs.joined(separator: ",") + "],\"processID\":\"\(process)\""
            + ",\"warnings\":null,\"flags\":\(span.flags & 0xFF)}"
    }

    static func tags(_ attributes: [Attribute]) -> String {
        "[" + attributes.map { attribute in
            let (type, value): (String, String)
            switch attribute.value {
            case let .bool(flag): (type, value) = ("bool", flag ? "true" : "false")
            case let .int(number): (type, value) = ("int64", String(number))
            case let .double(number): (type, value) = ("float64", number.isFinite ? "\(number)" : JSONText.quote("\(number)"))
            case let .bytes(bytes): (type, value) = ("binary", JSONText.quote(Data(bytes).base64EncodedString()))
            default: (type, value) = ("string", JSONText.quote(attribute.value.text))
            }
            return "{\"key\":" + JSONText.quote(attribute.key) + ",\"type\":\"\(type)\",\"value\":\(value)}"
        }.joined(separator: ",") + "]"
    }
}
