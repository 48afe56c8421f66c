import NIOCore
import ObsCore

/// What an OTLP export request held: the spans worth keeping, grouped as sent, and the spans
/// refused (bad ids) with the first reason, for OTLP's partial-success answer.
public struct DecodedSpans: Sendable, Equatable {
    public var batches: [ResourceSpans] = []
    public var rejected = 0
    public var firstError: String?

    public init() {}

    public var spanCount: Int { batches.reduce(0) { $0 + $1.spanCount } }

    /// Keeps `span` if its ids are valid; otherwise counts it as rejected.
    mutating func accept(_ span: Span?, reason: String, into spans: inout [Span]) {
        if let span {
            spans.append(span)
        } else {
            rejected += 1
            if firstError == nil { firstError = reason }
        }
    }
}

/// `ExportTraceServiceRequest` in protobuf, read field by field with the numbers of
/// opentelemetry-proto's `trace/v1/trace.proto`, `common/v1/common.proto` and
/// `resource/v1/resource.proto`. Malformed wire data throws; spans with invalid ids are rejected
/// one by one.
public enum OTLPProtobuf {
    static let codec = "otlp"

    public static func decode(_ body: ByteBuffer) throws -> DecodedSpans {
        var result = DecodedSpans()
        var request = ProtobufReader(body, codec: codec)
        while let (number, type) = try request.nextField() {
            guard number == 1, type == .lengthDelimited else { try request.skip(type); continue }
            var message = try request.message()
            if let batch = try resourceSpans(&message, into: &result) { result.batches.append(batch) }
        }
        return result
    }

    static func resourceSpans(_ reader: inout ProtobufReader, into result: inout DecodedSpans) throws -> ResourceSpans? {
        var batch = ResourceSpans(resource: [], scopes: [])
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited):
                var resource = try reader.message()
                while let (field, kind) = try resource.nextField() {
                    switch (field, kind) {
                    case (1, .lengthDelimited): batch.resource.append(try attribute(&resource))
                    case (2, .varint): batch.droppedResourceAttributes = UInt32(truncatingIfNeeded: try resource.varint())
                    default: try resource.skip(kind)
                    }
                }
            case (2, .lengthDelimited):
                var message = try reader.message()
                batch.scopes.append(try scopeSpans(&message, into: &result))
            case (3, .lengthDelimited): batch.schemaURL = try reader.string()
            default: try reader.skip(type)
            }
        }
        batch.scopes.removeAll { $0.spans.isEmpty }
        return batch.scopes.isEmpty ? nil : batch
    }

    static func scopeSpans(_ reader: inout ProtobufReader, into result: inout DecodedSpans) throws -> ScopeSpans {
        var scope = ScopeSpans(scope: InstrumentationScope(), spans: [])
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited):
                var message = try reader.message()
                while let (field, kind) = try message.nextField() {
                    switch (field, kind) {
                    case (1, .lengthDelimited): scope.scope.name = try message.string()
                    case (2, .lengthDelimited): scope.scope.version = try message.string()
                    case (3, .lengthDelimited): scope.scope.attributes.append(try attribute(&message))
                    case (4, .varint): scope.scope.droppedAttributes = UInt32(truncatingIfNeeded: try message.varint())
                    default: try message.skip(kind)
                    }
                }
            case (2, .lengthDelimited):
                var message = try reader.message()
                let (span, reason) = try span(&message)
                result.accept(span, reason: reason, into: &scope.spans)
            case (3, .lengthDelimited): scope.schemaURL = try reader.string()
            default: try reader.skip(type)
            }
        }
        return scope
    }

    static func bytes(_ reader: inout ProtobufReader) throws -> [UInt8] {
        let slice = try reader.lengthDelimited()
        return Array(slice.readableBytesView)
    }

    /// A span, or nil with the reason when its ids are invalid.
    static func span(_ reader: inout ProtobufReader) throws -> (Span?, String) {
        var traceBytes: [UInt8] = [], spanBytes: [UInt8] = [], parentBytes: [UInt8] = []
        var span = Span(traceID: TraceID(high: 0, low: 0), spanID: 0, name: "", start: 0, end: 0)
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited): traceBytes = try bytes(&reader)
            case (2, .lengthDelimited): spanBytes = try bytes(&reader)
            case (3, .lengthDelimited): span.traceState = try reader.string()
            case (4, .lengthDelimited): parentBytes = try bytes(&reader)
            case (5, .lengthDelimited): span.name = try reader.string()
            case (6, .varint): span.kind = SpanKind(rawValue: Int(truncatingIfNeeded: try reader.varint())) ?? .unspecified
            case (7, .fixed64): span.start = try reader.fixed64()
            case (8, .fixed64): span.end = try reader.fixed64()
            case (9, .lengthDelimited): span.attributes.append(try attribute(&reader))
            case (10, .varint): span.droppedAttributes = UInt32(truncatingIfNeeded: try reader.varint())
            case (11, .lengthDelimited):
                var message = try reader.message()
                span.events.append(try event(&message))
            case (12, .varint): span.droppedEvents = UInt32(truncatingIfNeeded: try reader.varint())
            case (13, .lengthDelimited):
                var message = try reader.message()
                if let link = try link(&message) { span.links.append(link) }
            case (14, .varint): span.droppedLinks = UInt32(truncatingIfNeeded: try reader.varint())
            case (15, .lengthDelimited):
                var message = try reader.message()
                while let (field, kind) = try message.nextField() {
                    switch (field, kind) {
                    case (2, .lengthDelimited): span.statusMessage = try message.string()
                    case (3, .varint): span.statusCode = StatusCode(rawValue: Int(truncatingIfNeeded: try message.varint())) ?? .unset
                    default: try message.skip(kind)
                    }
                }
            case (16, .fixed32): span.flags = try reader.fixed32()
            default: try reader.skip(type)
            }
        }
        guard let traceID = TraceID(bytes: traceBytes) else {
            return (nil, "span \"\(span.name)\": trace id must be 16 bytes and not all zero, got \(traceBytes.count) bytes")
        }
        guard let spanID = SpanID.from(bytes: spanBytes), spanID != 0 else {
            return (nil, "span \"\(span.name)\": span id must be 8 bytes and not all zero, got \(spanBytes.count) bytes")
        }
        if !parentBytes.isEmpty {
            guard let parent = SpanID.from(bytes: parentBytes) else {
                return (nil, "span \"\(span.name)\": parent span id must be 8 bytes, got \(parentBytes.count) bytes")
            }
            span.parentSpanID = parent
        }
        span.traceID = traceID
        span.spanID = spanID
        return (span, "")
    }

    static func event(_ reader: inout ProtobufReader) throws -> SpanEvent {
        var event = SpanEvent(time: 0, name: "", attributes: [])
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .fixed64): event.time = try reader.fixed64()
            case (2, .lengthDelimited): event.name = try reader.string()
            case (3, .lengthDelimited): event.attributes.append(try attribute(&reader))
            case (4, .varint): event.droppedAttributes = UInt32(truncatingIfNeeded: try reader.varint())
            default: try reader.skip(type)
            }
        }
        return event
    }

    /// A link, or nil when its ids are invalid (the span is kept without it).
    static func link(_ reader: inout ProtobufReader) throws -> SpanLink? {
        var traceBytes: [UInt8] = [], spanBytes: [UInt8] = []
        var link = SpanLink(traceID: TraceID(high: 0, low: 1), spanID: 0)
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited): traceBytes = try bytes(&reader)
            case (2, .lengthDelimited): spanBytes = try bytes(&reader)
            case (3, .lengthDelimited): link.traceState = try reader.string()
            case (4, .lengthDelimited): link.attributes.append(try attribute(&reader))
            case (5, .varint): link.droppedAttributes = UInt32(truncatingIfNeeded: try reader.varint())
            case (6, .fixed32): link.flags = try reader.fixed32()
            default: try reader.skip(type)
            }
        }
        guard let traceID = TraceID(bytes: traceBytes), let spanID = SpanID.from(bytes: spanBytes) else { return nil }
        link.traceID = traceID
        link.spanID = spanID
        return link
    }

    /// A `KeyValue` message at the reader's current length-delimited field.
    /// How deep arrays and maps may nest in an attribute value; ingest refuses deeper ones.
    public static let maxValueDepth = 32

    static func attribute(_ reader: inout ProtobufReader, depth: Int = 0) throws -> Attribute {
        var message = try reader.message()
        var attribute = Attribute("", .empty)
        while let (number, type) = try message.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited): attribute.key = try message.string()
            case (2, .lengthDelimited):
                var value = try message.message()
                attribute.value = try anyValue(&value, depth: depth)
            default: try message.skip(type)
            }
        }
        return attribute
    }

    static func anyValue(_ reader: inout ProtobufReader, depth: Int) throws -> AttributeValue {
        guard depth < maxValueDepth else { throw CoreError.corrupt(codec: codec, detail: "attribute values nested too deeply") }
        var value = AttributeValue.empty
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited): value = .string(try reader.string())
            case (2, .varint): value = .bool(try reader.varint() != 0)
            case (3, .varint): value = .int(Int64(bitPattern: try reader.varint()))
            case (4, .fixed64): value = .double(Double(bitPattern: try reader.fixed64()))
            case (5, .lengthDelimited):
                var array = try reader.message()
                var values: [AttributeValue] = []
                while let (field, kind) = try array.nextField() {
                    guard field == 1, kind == .lengthDelimited else { try array.skip(kind); continue }
                    var element = try array.message()
                    values.append(try anyValue(&element, depth: depth + 1))
                }
                value = .array(values)
            case (6, .lengthDelimited):
                var list = try reader.message()
                var attributes: [Attribute] = []
                while let (field, kind) = try list.nextField() {
                    guard field == 1, kind == .lengthDelimited else { try list.skip(kind); continue }
                    attributes.append(try attribute(&list, depth: depth + 1))
                }
                value = .map(attributes)
            case (7, .lengthDelimited): value = .bytes(try bytes(&reader))
            default: try reader.skip(type)
            }
        }
        return value
    }
}
