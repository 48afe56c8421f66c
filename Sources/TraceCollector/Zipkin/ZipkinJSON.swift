import ObsCore

/// Zipkin v2 JSON spans (`POST /api/v2/spans`, what Envoy and Istio send) as OTLP spans: the local
/// endpoint's service becomes the resource's `service.name`, tags become string attributes,
/// annotations become events, an `error` tag sets the error status, and the remote endpoint is
/// kept as `peer.service`, `net.peer.ip` and `net.peer.port`. 64-bit trace ids are widened to 128.
public enum ZipkinJSON {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    struct Endpoint {
        var serviceName = ""
        var ipv4 = ""
        var ipv6 = ""
        var port: Int64 = 0
    }

    public static func decode(_ body: UnsafeRawBufferPointer) throws -> DecodedSpans {
        var result = DecodedSpans()
        var reader = JSONReader(body)
        var byService: [String: [Span]] = [:]
        var order: [String] = []
        guard try reader.peek() == .array else { throw Invalid(description: "expected a JSON array of spans") }
        try reader.array { reader in
            let (span, service, reason) = try self.span(&reader)
            guard let span else {
                result.rejected += 1
                if result.firstError == nil { result.firstError = reason }
                return
            }
            if byService[service] == nil { order.append(service) }
            byService[service, default: []].append(span)
        }
        guard reader.isAtEnd() else { throw Invalid(description: "unexpected data after the span array") }
        for service in order {
            let resource = [Attribute("service.name", .string(service.isEmpty ? "unknown_service" : service))]
            result.batches.append(ResourceSpans(resource: resource, scopes: [ScopeSpans(scope: InstrumentationScope(name: "zipkin"),
                                                                                         spans: byService[service]!)]))
        }
        return result
    }

    static func span(_ reader: inout JSONReader) throws -> (Span?, String, String) {
        var traceHex = "", idHex = "", parentHex = "", kind = "", name = ""
        var timestamp: Int64 = 0, duration: Int64 = 0
        var local = Endpoint(), remote = Endpoint()
        var tags: [Attribute] = []
        var annotations: [SpanEvent] = []
        try reader.object { reader, key in
            switch key {
            case "traceId": traceHex = try OTLPJSON.string(&reader)
            case "id": idHex = try OTLPJSON.string(&reader)
            case "parentId": parentHex = try OTLPJSON.string(&reader)
            case "kind": kind = try OTLPJSON.string(&reader)
            case "name": name = try OTLPJSON.string(&reader)
            case "timestamp": timestamp = try OTLPJSON.integer(&reader)
            case "duration": duration = try OTLPJSON.integer(&reader)
            case "localEndpoint": local = try endpoint(&reader)
            case "remoteEndpoint": remote = try endpoint(&reader)
            case "tags":
                try reader.object { reader, key in tags.append(Attribute(key, .string(try OTLPJSON.string(&reader)))) }
            case "annotations":
                try reader.array { reader in
                    var event = SpanEvent(time: 0, name: "", attributes: [])
                    try reader.object { reader, key in
                        switch key {
                        case "timestamp": event.time = Self.nanoseconds(try OTLPJSON.integer(&reader)) ?? 0
                        case "value": event.name = try OTLPJSON.string(&reader)
                        default: try reader.skip()
                        }
                    }
                    annotations.append(event)
                }
            default: try reader.skip()
            }
        }
        guard traceHex.utf8.count == 16 || traceHex.utf8.count == 32, let traceID = TraceID(hex: traceHex) else {
            return (nil, "", "span \"\(name)\": traceId must be 16 or 32 hex digits, got \"\(traceHex)\"")
        }
        guard idHex.utf8.count == 16, let spanID = SpanID.from(hex: idHex), spanID != 0 else {
            return (nil, "", "span \"\(name)\": id must be 16 hex digits, got \"\(idHex)\"")
        }
        // Microseconds from the client, checked: both within 2^62 ns, so their sum fits too.
        guard let start = Self.nanoseconds(timestamp), let length = Self.nanoseconds(duration) else {
            return (nil, "", "span \"\(name)\": timestamp or duration out of range")
        }
        var span = Span(traceID: traceID, spanID: spanID, name: name, start: start, end: start + length)
        if !parentHex.isEmpty {
            guard parentHex.utf8.count == 16, let parent = SpanID.from(hex: parentHex) else {
                return (nil, "", "span \"\(name)\": parentId must be 16 hex digits, got \"\(parentHex)\"")
            }
            span.parentSpanID = parent
        }
        switch kind {
        case "SERVER": span.kind = .server
        case "CLIENT": span.kind = .client
        case "PRODUCER": span.kind = .producer
        case "CONSUMER": span.kind = .consumer
        default: span.kind = .unspecified
        }
        span.attributes = tags
        if let error = tags.first(where: { $0.key == "error" }) {
            span.statusCode = .error
            span.statusMessage = error.value.text
        }
        if !remote.serviceName.isEmpty { span.attributes.append(Attribute("peer.service", .string(remote.serviceName))) }
        let peer = remote.ipv4.isEmpty ? remote.ipv6 : remote.ipv4
        if !peer.isEmpty { span.attributes.append(Attribute("net.peer.ip", .string(peer))) }
        if remote.port > 0 { span.attributes.append(Attribute("net.peer.port", .int(remote.port))) }
        span.events = annotations
        return (span, local.serviceName, "")
    }

    static func endpoint(_ reader: inout JSONReader) throws -> Endpoint {
        var endpoint = Endpoint()
        if try reader.peek() == .null {
            try reader.skip()
            return endpoint
        }
        try reader.object { reader, key in
            switch key {
            case "serviceName": endpoint.serviceName = try OTLPJSON.string(&reader)
            case "ipv4": endpoint.ipv4 = try OTLPJSON.string(&reader)
            case "ipv6": endpoint.ipv6 = try OTLPJSON.string(&reader)
            case "port": endpoint.port = try OTLPJSON.integer(&reader)
            default: try reader.skip()
            }
        }
        return endpoint
    }

    /// Zipkin's microseconds as nanoseconds (negative as zero); nil past `CheckedTime.maxNanoseconds`.
    static func nanoseconds(_ microseconds: Int64) -> UInt64? {
        CheckedTime.scaled(max(0, microseconds), by: 1000, limit: CheckedTime.maxNanoseconds).map { UInt64($0) }
    }
}
