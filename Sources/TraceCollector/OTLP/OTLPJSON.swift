import ObsCore

/// `ExportTraceServiceRequest` in OTLP/JSON: lowerCamelCase field names, trace and span ids as hex,
/// 64-bit integers as strings or numbers, enums as numbers or their names, bytes as base64. Unknown
/// fields are skipped, as the spec asks. Malformed JSON throws; spans with invalid ids are rejected
/// one by one.
public enum OTLPJSON {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    public static func decode(_ body: UnsafeRawBufferPointer) throws -> DecodedSpans {
        var result = DecodedSpans()
        var reader = JSONReader(body)
        try reader.object { reader, key in
            guard key == "resourceSpans" else { return try reader.skip() }
            try reader.array { reader in
                if let batch = try resourceSpans(&reader, into: &result) { result.batches.append(batch) }
            }
        }
        guard reader.isAtEnd() else { throw Invalid(description: "unexpected data after the request object") }
        return result
    }

    static func resourceSpans(_ reader: inout JSONReader, into result: inout DecodedSpans) throws -> ResourceSpans? {
        var batch = ResourceSpans(resource: [], scopes: [])
        try reader.object { reader, key in
            switch key {
            case "resource":
                try reader.object { reader, key in
                    switch key {
                    case "attributes": batch.resource = try attributes(&reader)
                    case "droppedAttributesCount": batch.droppedResourceAttributes = UInt32(truncatingIfNeeded: try integer(&reader))
                    default: try reader.skip()
                    }
                }
            case "scopeSpans", "instrumentationLibrarySpans":
                try reader.array { reader in batch.scopes.append(try scopeSpans(&reader, into: &result)) }
            case "schemaUrl": batch.schemaURL = try string(&reader)
            default: try reader.skip()
            }
        }
        batch.scopes.removeAll { $0.spans.isEmpty }
        return batch.scopes.isEmpty ? nil : batch
    }

    static func scopeSpans(_ reader: inout JSONReader, into result: inout DecodedSpans) throws -> ScopeSpans {
        var scope = ScopeSpans(scope: InstrumentationScope(), spans: [])
        try reader.object { reader, key in
            switch key {
            case "scope", "instrumentationLibrary":
                try reader.object { reader, key in
                    switch key {
                    case "name": scope.scope.name = try string(&reader)
                    case "version": scope.scope.version = try string(&reader)
                    case "attributes": scope.scope.attributes = try attributes(&reader)
                    case "droppedAttributesCount": scope.scope.droppedAttributes = UInt32(truncatingIfNeeded: try integer(&reader))
                    default: try reader.skip()
                    }
                }
            case "spans":
                try reader.array { reader in
                    let (span, reason) = try self.span(&reader)
                    result.accept(span, reason: reason, into: &scope.spans)
                }
            case "schemaUrl": scope.schemaURL = try string(&reader)
            default: try reader.skip()
            }
        }
        return scope
    }

    static func span(_ reader: inout JSONReader) throws -> (Span?, String) {
        var traceHex = "", spanHex = "", parentHex = ""
        var span = Span(traceID: TraceID(high: 0, low: 1), spanID: 0, name: "", start: 0, end: 0)
        try reader.object { reader, key in
            switch key {
            case "traceId": traceHex = try string(&reader)
            case "spanId": spanHex = try string(&reader)
            case "parentSpanId": parentHex = try string(&reader)
            case "traceState": span.traceState = try string(&reader)
            case "name": span.name = try string(&reader)
            case "kind": span.kind = SpanKind(rawValue: try enumeration(&reader, names: spanKindNames)) ?? .unspecified
            case "startTimeUnixNano": span.start = UInt64(bitPattern: try integer(&reader))
            case "endTimeUnixNano": span.end = UInt64(bitPattern: try integer(&reader))
            case "attributes": span.attributes = try attributes(&reader)
            case "droppedAttributesCount": span.droppedAttributes = UInt32(truncatingIfNeeded: try integer(&reader))
            case "events":
                try reader.array { reader in span.events.append(try event(&reader)) }
            case "droppedEventsCount": span.droppedEvents = UInt32(truncatingIfNeeded: try integer(&reader))
            case "links":
                try reader.array { reader in if let link = try self.link(&reader) { span.links.append(link) } }
            case "droppedLinksCount": span.droppedLinks = UInt32(truncatingIfNeeded: try integer(&reader))
            case "status":
                try reader.object { reader, key in
                    switch key {
                    case "code": span.statusCode = StatusCode(rawValue: try enumeration(&reader, names: statusNames)) ?? .unset
                    case "message": span.statusMessage = try string(&reader)
                    default: try reader.skip()
                    }
                }
            case "flags": span.flags = UInt32(truncatingIfNeeded: try integer(&reader))
            default: try reader.skip()
            }
        }
        guard traceHex.utf8.count == 32, let traceID = TraceID(hex: traceHex) else {
            return (nil, "span \"\(span.name)\": traceId must be 32 hex digits and not all zero, got \"\(traceHex)\"")
        }
        guard spanHex.utf8.count == 16, let spanID = SpanID.from(hex: spanHex), spanID != 0 else {
            return (nil, "span \"\(span.name)\": spanId must be 16 hex digits and not all zero, got \"\(spanHex)\"")
        }
        if !parentHex.isEmpty {
            guard parentHex.utf8.count == 16, let parent = SpanID.from(hex: parentHex) else {
                return (nil, "span \"\(span.name)\": parentSpanId must be 16 hex digits, got \"\(parentHex)\"")
            }
            span.parentSpanID = parent
        }
        span.traceID = traceID
        span.spanID = spanID
        return (span, "")
    }

    static func event(_ reader: inout JSONReader) throws -> SpanEvent {
        var event = SpanEvent(time: 0, name: "", attributes: [])
        try reader.object { reader, key in
            switch key {
            case "timeUnixNano": event.time = UInt64(bitPattern: try integer(&reader))
            case "name": event.name = try string(&reader)
            case "attributes": event.attributes = try attributes(&reader)
            case "droppedAttributesCount": event.droppedAttributes = UInt32(truncatingIfNeeded: try integer(&reader))
            default: try reader.skip()
            }
        }
        return event
    }

    static func link(_ reader: inout JSONReader) throws -> SpanLink? {
        var traceHex = "", spanHex = ""
        var link = SpanLink(traceID: TraceID(high: 0, low: 1), spanID: 0)
        try reader.object { reader, key in
            switch key {
            case "traceId": traceHex = try string(&reader)
            case "spanId": spanHex = try string(&reader)
            case "traceState": link.traceState = try string(&reader)
            case "attributes": link.attributes = try attributes(&reader)
            case "droppedAttributesCount": link.droppedAttributes = UInt32(truncatingIfNeeded: try integer(&reader))
            case "flags": link.flags = UInt32(truncatingIfNeeded: try integer(&reader))
            default: try reader.skip()
            }
        }
        guard let traceID = TraceID(hex: traceHex), spanHex.utf8.count == 16, let spanID = SpanID.from(hex: spanHex) else { return nil }
        link.traceID = traceID
        link.spanID = spanID
        return link
    }

    static func attributes(_ reader: inout JSONReader) throws -> [Attribute] {
        var result: [Attribute] = []
        try reader.array { reader in result.append(try attribute(&reader, depth: 0)) }
        return result
    }

    static func attribute(_ reader: inout JSONReader, depth: Int) throws -> Attribute {
        var attribute = Attribute("", .empty)
        try reader.object { reader, key in
            switch key {
            case "key": attribute.key = try string(&reader)
            case "value": attribute.value = try anyValue(&reader, depth: depth)
            default: try reader.skip()
            }
        }
        return attribute
    }

    static func anyValue(_ reader: inout JSONReader, depth: Int) throws -> AttributeValue {
        guard depth < 32 else { throw Invalid(description: "attribute values nested too deeply") }
        if try reader.peek() == .null {
            try reader.skip()
            return .empty
        }
        var value = AttributeValue.empty
        try reader.object { reader, key in
            switch key {
            case "stringValue": value = .string(try string(&reader))
            case "boolValue":
                guard try reader.peek() == .bool else { throw Invalid(description: "boolValue must be true or false") }
                let start = reader.offset
                try reader.skip()
                value = .bool(reader.offset - start == 4)
            case "intValue": value = .int(try integer(&reader))
            case "doubleValue": value = .double(try double(&reader))
            case "bytesValue":
                let text = try string(&reader)
                guard let data = Data(base64Encoded: text) else { throw Invalid(description: "bytesValue is not base64") }
                value = .bytes(Array(data))
            case "arrayValue":
                var values: [AttributeValue] = []
                try reader.object { reader, key in
                    guard key == "values" else { return try reader.skip() }
                    try reader.array { reader in values.append(try anyValue(&reader, depth: depth + 1)) }
                }
                value = .array(values)
            case "kvlistValue":
                var attributes: [Attribute] = []
                try reader.object { reader, key in
                    guard key == "values" else { return try reader.skip() }
                    try reader.array { reader in attributes.append(try attribute(&reader, depth: depth + 1)) }
                }
                value = .map(attributes)
            default: try reader.skip()
            }
        }
        return value
    }

    static func string(_ reader: inout JSONReader) throws -> String {
        if try reader.peek() == .null {
            try reader.skip()
            return ""
        }
        guard try reader.peek() == .string else { throw Invalid(description: "expected a string at byte \(reader.offset)") }
        return try reader.string()
    }

    /// An int64 written as a JSON number or a decimal string (OTLP/JSON writes 64-bit values as strings).
    static func integer(_ reader: inout JSONReader) throws -> Int64 {
        let text: String
        switch try reader.peek() {
        case .string: text = try reader.string()
        case .number: text = try reader.numberText()
        case .null:
            try reader.skip()
            return 0
        default: throw Invalid(description: "expected an integer at byte \(reader.offset)")
        }
        if let value = Int64(text) { return value }
        if let value = UInt64(text) { return Int64(bitPattern: value) }
        if let value = Double(text), value == value.rounded(), abs(value) < 9.2e18 { return Int64(value) }
        throw Invalid(description: "\"\(text)\" is not an integer")
    }

    static func double(_ reader: inout JSONReader) throws -> Double {
        let text: String
        switch try reader.peek() {
        case .string: text = try reader.string()
        case .number: text = try reader.numberText()
        default: throw Invalid(description: "expected a number at byte \(reader.offset)")
        }
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let value = Double(text) else { throw Invalid(description: "\"\(text)\" is not a number") }
            return value
        }
    }

    static let spanKindNames = ["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT",
                                "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"]
    static let statusNames = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]

    /// An enum as its number or its name.
    static func enumeration(_ reader: inout JSONReader, names: [String]) throws -> Int {
        if try reader.peek() == .string {
            let name = try reader.string()
            guard let index = names.firstIndex(of: name) else { throw Invalid(description: "unknown enum value \"\(name)\"") }
            return index
        }
        return Int(truncatingIfNeeded: try integer(&reader))
    }
}
