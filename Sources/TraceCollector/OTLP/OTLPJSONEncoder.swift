import ObsCore

/// Spans as OTLP/JSON (`resourceSpans` objects: hex ids, 64-bit numbers as strings, enums as
/// numbers), for Tempo's JSON answers.
public enum OTLPJSONEncoder {
    public static func resourceSpans(_ batches: [ResourceSpans]) -> String {
        "[" + batches.map(resourceSpans).joined(separator: ",") + "]"
    }

    static func resourceSpans(_ batch: ResourceSpans) -> String {
        var out = "{\"resource\":{\"attributes\":" + attributes(batch.resource)
        if batch.droppedResourceAttributes > 0 { out += ",\"droppedAttributesCount\":\(batch.droppedResourceAttributes)" }
        out += "},\"scopeSpans\":[" + batch.scopes.map { scope in
            var text = "{\"scope\":{\"name\":" + JSONText.quote(scope.scope.name) + ",\"version\":" + JSONText.quote(scope.scope.version)
            if !scope.scope.attributes.isEmpty { text += ",\"attributes\":" + attributes(scope.scope.attributes) }
            text += "},\"spans\":[" + scope.spans.map(span).joined(separator: ",") + "]"
            if !scope.schemaURL.isEmpty { text += ",\"schemaUrl\":" + JSONText.quote(scope.schemaURL) }
            return text + "}"
        }.joined(separator: ",") + "]"
        if !batch.schemaURL.isEmpty { out += ",\"schemaUrl\":" + JSONText.quote(batch.schemaURL) }
        return out + "}"
    }

    public static func span(_ span: Span) -> String {
        var out = "{\"traceId\":\"\(span.traceID.hex)\",\"spanId\":\"\(SpanID.hex(span.spanID))\""
        if span.parentSpanID != 0 { out += ",\"parentSpanId\":\"\(SpanID.hex(span.parentSpanID))\"" }
        if !span.traceState.isEmpty { out += ",\"traceState\":" + JSONText.quote(span.traceState) }
        out += ",\"name\":" + JSONText.quote(span.name) + ",\"kind\":\(span.kind.rawValue)"
        out += ",\"startTimeUnixNano\":\"\(span.start)\",\"endTimeUnixNano\":\"\(span.end)\""
        out += ",\"attributes\":" + attributes(span.attributes)
        if span.droppedAttributes > 0 { out += ",\"droppedAttributesCount\":\(span.droppedAttributes)" }
        if !span.events.isEmpty {
            out += ",\"events\":[" + span.events.map { event in
                "{\"timeUnixNano\":\"\(event.time)\",\"name\":" + JSONText.quote(event.name) + ",\"attributes\":" + attributes(event.attributes) + "}"
            }.joined(separator: ",") + "]"
        }
        if !span.links.isEmpty {
            out += ",\"links\":[" + span.links.map { link in
                "{\"traceId\":\"\(link.traceID.hex)\",\"spanId\":\"\(SpanID.hex(link.spanID))\",\"attributes\":" + attributes(link.attributes) + "}"
            }.joined(separator: ",") + "]"
        }
        out += ",\"status\":{"
        var status: [String] = []
        if span.statusCode != .unset { status.append("\"code\":\(span.statusCode.rawValue)") }
        if !span.statusMessage.isEmpty { status.append("\"message\":" + JSONText.quote(span.statusMessage)) }
        out += status.joined(separator: ",") + "}"
        if span.flags != 0 { out += ",\"flags\":\(span.flags)" }
        return out + "}"
    }

    public static func attributes(_ attributes: [Attribute]) -> String {
        "[" + attributes.map { "{\"key\":" + JSONText.quote($0.key) + ",\"value\":" + value($0.value) + "}" }.joined(separator: ",") + "]"
    }

    public static func value(_ value: AttributeValue) -> String {
        switch value {
        case let .string(text): "{\"stringValue\":" + JSONText.quote(text) + "}"
        case let .bool(flag): "{\"boolValue\":\(flag)}"
        case let .int(number): "{\"intValue\":\"\(number)\"}"
        case let .double(number): number.isFinite ? "{\"doubleValue\":\(number)}" : "{\"doubleValue\":\"\(number.isNaN ? "NaN" : (number > 0 ? "Infinity" : "-Infinity"))\"}"
        case let .bytes(bytes): "{\"bytesValue\":\"" + Data(bytes).base64EncodedString() + "\"}"
        case let .array(values): "{\"arrayValue\":{\"values\":[" + values.map(self.value).joined(separator: ",") + "]}}"
        case let .map(entries): "{\"kvlistValue\":{\"values\":" + attributes(entries) + "}}"
        case .empty: "{}"
        }
    }
}
