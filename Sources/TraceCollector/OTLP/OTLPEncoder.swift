import NIOCore
import ObsCore

/// Spans as an OTLP `ExportTraceServiceRequest` (the same bytes as Tempo's `TracesData`): the
/// store's block format, the WAL's record payload and Tempo's `application/protobuf` answers. Fields
/// holding their default value are left out, as proto3 writers do.
public enum OTLPEncoder {
    public static func encode(_ batches: [ResourceSpans]) -> ByteBuffer {
        var writer = ProtobufWriter()
        for batch in batches {
            writer.writeMessage(field: 1) { writer in resourceSpans(batch, into: &writer) }
        }
        return writer.buffer
    }

    static func resourceSpans(_ batch: ResourceSpans, into writer: inout ProtobufWriter) {
        writer.writeMessage(field: 1) { writer in
            for attribute in batch.resource { writer.writeMessage(field: 1) { keyValue(attribute, into: &$0) } }
            if batch.droppedResourceAttributes > 0 { writer.writeVarint(field: 2, UInt64(batch.droppedResourceAttributes)) }
        }
        for scope in batch.scopes {
            writer.writeMessage(field: 2) { writer in
                writer.writeMessage(field: 1) { writer in
                    if !scope.scope.name.isEmpty { writer.writeString(field: 1, scope.scope.name) }
                    if !scope.scope.version.isEmpty { writer.writeString(field: 2, scope.scope.version) }
                    for attribute in scope.scope.attributes { writer.writeMessage(field: 3) { keyValue(attribute, into: &$0) } }
                    if scope.scope.droppedAttributes > 0 { writer.writeVarint(field: 4, UInt64(scope.scope.droppedAttributes)) }
                }
                for span in scope.spans { writer.writeMessage(field: 2) { self.span(span, into: &$0) } }
                if !scope.schemaURL.isEmpty { writer.writeString(field: 3, scope.schemaURL) }
            }
        }
        if !batch.schemaURL.isEmpty { writer.writeString(field: 3, batch.schemaURL) }
    }

    static func span(_ span: Span, into writer: inout ProtobufWriter) {
        writer.writeBytes(field: 1, span.traceID.bytes)
        writer.writeBytes(field: 2, SpanID.bytes(span.spanID))
        if !span.traceState.isEmpty { writer.writeString(field: 3, span.traceState) }
        if span.parentSpanID != 0 { writer.writeBytes(field: 4, SpanID.bytes(span.parentSpanID)) }
        writer.writeString(field: 5, span.name)
        if span.kind != .unspecified { writer.writeVarint(field: 6, UInt64(span.kind.rawValue)) }
        writer.writeFixed64(field: 7, span.start)
        writer.writeFixed64(field: 8, span.end)
        for attribute in span.attributes { writer.writeMessage(field: 9) { keyValue(attribute, into: &$0) } }
        if span.droppedAttributes > 0 { writer.writeVarint(field: 10, UInt64(span.droppedAttributes)) }
        for event in span.events {
            writer.writeMessage(field: 11) { writer in
                writer.writeFixed64(field: 1, event.time)
                if !event.name.isEmpty { writer.writeString(field: 2, event.name) }
                for attribute in event.attributes { writer.writeMessage(field: 3) { keyValue(attribute, into: &$0) } }
                if event.droppedAttributes > 0 { writer.writeVarint(field: 4, UInt64(event.droppedAttributes)) }
            }
        }
        if span.droppedEvents > 0 { writer.writeVarint(field: 12, UInt64(span.droppedEvents)) }
        for link in span.links {
            writer.writeMessage(field: 13) { writer in
                writer.writeBytes(field: 1, link.traceID.bytes)
                writer.writeBytes(field: 2, SpanID.bytes(link.spanID))
                if !link.traceState.isEmpty { writer.writeString(field: 3, link.traceState) }
                for attribute in link.attributes { writer.writeMessage(field: 4) { keyValue(attribute, into: &$0) } }
                if link.droppedAttributes > 0 { writer.writeVarint(field: 5, UInt64(link.droppedAttributes)) }
                if link.flags != 0 { writer.writeFixed32(field: 6, link.flags) }
            }
        }
        if span.droppedLinks > 0 { writer.writeVarint(field: 14, UInt64(span.droppedLinks)) }
        if span.statusCode != .unset || !span.statusMessage.isEmpty {
            writer.writeMessage(field: 15) { writer in
                if !span.statusMessage.isEmpty { writer.writeString(field: 2, span.statusMessage) }
                if span.statusCode != .unset { writer.writeVarint(field: 3, UInt64(span.statusCode.rawValue)) }
            }
        }
        if span.flags != 0 { writer.writeFixed32(field: 16, span.flags) }
    }

    static func keyValue(_ attribute: Attribute, into writer: inout ProtobufWriter) {
        writer.writeString(field: 1, attribute.key)
        writer.writeMessage(field: 2) { anyValue(attribute.value, into: &$0) }
    }

    static func anyValue(_ value: AttributeValue, into writer: inout ProtobufWriter) {
        switch value {
        case let .string(text): writer.writeString(field: 1, text)
        case let .bool(flag): writer.writeVarint(field: 2, flag ? 1 : 0)
        case let .int(number): writer.writeVarint(field: 3, UInt64(bitPattern: number))
        case let .double(number): writer.writeFixed64(field: 4, number.bitPattern)
        case let .array(values):
            writer.writeMessage(field: 5) { writer in
                for element in values { writer.writeMessage(field: 1) { anyValue(element, into: &$0) } }
            }
        case let .map(attributes):
            writer.writeMessage(field: 6) { writer in
                for attribute in attributes { writer.writeMessage(field: 1) { keyValue(attribute, into: &$0) } }
            }
        case let .bytes(bytes): writer.writeBytes(field: 7, bytes)
        case .empty: break
        }
    }
}

extension DecodedSpans {
    /// The `ExportTraceServiceResponse` for this request: empty on full success, else a partial
    /// success (`rejected_spans` = 1, `error_message` = 2 inside field 1).
    public var exportResponse: ByteBuffer {
        var writer = ProtobufWriter()
        if rejected > 0 {
            writer.writeMessage(field: 1) { writer in
                writer.writeVarint(field: 1, UInt64(rejected))
                writer.writeString(field: 2, firstError ?? "")
            }
        }
        return writer.buffer
    }
}
