import NIOCore
import ObsCore

/// What ingest needs to know of a span without decoding its attributes.
public struct SpanInfo: Sendable, Equatable {
    public var traceID: TraceID
    public var isRoot: Bool
    public var name: String
    public var kind: SpanKind
    public var start: UInt64
    public var end: UInt64
    public var status: StatusCode
    public var service: String

    public var duration: UInt64 { end >= start ? end - start : 0 }
}

/// An export split by trace, still as protobuf: for each trace, an `ExportTraceServiceRequest`
/// holding only its spans under copies of their resource and scope; plus the light facts of every
/// kept span and what was refused.
public struct SplitExport: Sendable {
    public var fragments: [TraceID: ByteBuffer] = [:]
    public var spans: [SpanInfo] = []
    /// Search index terms per trace (repeats are removed when a segment is written).
    public var terms: [TraceID: [IndexTerm]] = [:]
    public var rejected = 0
    public var firstError: String?

    public init() {}

    public var spanCount: Int { spans.count }

    /// The OTLP export response for this request (partial success when spans were refused).
    public var exportResponse: ByteBuffer {
        var decoded = DecodedSpans()
        decoded.rejected = rejected
        decoded.firstError = firstError
        return decoded.exportResponse
    }
}

/// Splits OTLP protobuf exports by trace at the wire level: span, resource and scope messages are
/// copied as bytes, never decoded beyond the few fields ingest needs (ids, name, kind, times,
/// status, the resource's `service.name`). This is the ingest path: what the WAL, head and segments
/// hold is these bytes.
public enum OTLPSplitter {
    static let codec = "otlp"

    public static func split(_ body: ByteBuffer) throws -> SplitExport {
        var result = SplitExport()
        var writers: [TraceID: ProtobufWriter] = [:]
        var request = ProtobufReader(body, codec: codec)
        while let (number, type) = try request.nextField() {
            guard number == 1, type == .lengthDelimited else { try request.skip(type); continue }
            try resourceSpans(try request.lengthDelimited(), into: &result, writers: &writers)
        }
        for (id, writer) in writers { result.fragments[id] = writer.buffer }
        return result
    }

    struct ScopeGroup {
        var scope: ByteBuffer?
        var schema: ByteBuffer?
        var spans: [TraceID: [ByteBuffer]] = [:]
        var order: [TraceID] = []
        var infos: [SpanInfo] = []
        var terms: [TraceID: [IndexTerm]] = [:]
        var refused: [String] = []
    }

    static func resourceSpans(_ message: ByteBuffer, into result: inout SplitExport, writers: inout [TraceID: ProtobufWriter]) throws {
        var reader = ProtobufReader(message, codec: codec)
        var resource: ByteBuffer?
        var schema: ByteBuffer?
        var scopes: [ScopeGroup] = []
        var service = "unknown_service"
        var resourceTerms: [IndexTerm] = []
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited):
                let bytes = try reader.lengthDelimited()
                resource = bytes
                service = try serviceName(bytes) ?? service
                var attributes = ProtobufReader(bytes, codec: codec)
                while let (field, kind) = try attributes.nextField() {
                    guard field == 1, kind == .lengthDelimited else { try attributes.skip(kind); continue }
                    guard try attributeTerm(try attributes.lengthDelimited(), scope: TermHash.resource, into: &resourceTerms) else {
                        throw CoreError.corrupt(codec: codec, detail: "a resource attribute value is nested deeper than \(OTLPProtobuf.maxValueDepth) levels")
                    }
                }
            case (2, .lengthDelimited):
                scopes.append(try scopeSpans(try reader.lengthDelimited()))
            case (3, .lengthDelimited):
                schema = try reader.lengthDelimited()
            default:
                try reader.skip(type)
            }
        }
        var traces: [TraceID] = []
        var seen = Set<TraceID>()
        for scope in scopes {
            for id in scope.order where seen.insert(id).inserted { traces.append(id) }
        }
        for id in traces {
            var writer = writers[id] ?? ProtobufWriter()
            writer.writeMessage(field: 1) { writer in
                if let resource { writer.writeBytes(field: 1, resource) }
                for scope in scopes {
                    guard let spans = scope.spans[id] else { continue }
                    writer.writeMessage(field: 2) { writer in
                        if let bytes = scope.scope { writer.writeBytes(field: 1, bytes) }
                        for span in spans { writer.writeBytes(field: 2, span) }
                        if let bytes = scope.schema { writer.writeBytes(field: 3, bytes) }
                    }
                }
                if let schema { writer.writeBytes(field: 3, schema) }
            }
            writers[id] = writer
        }
        for scope in scopes {
            for var info in scope.infos {
                info.service = service
                result.spans.append(info)
            }
            for (id, terms) in scope.terms {
                result.terms[id, default: []] += terms
                result.terms[id]! += resourceTerms
            }
            for reason in scope.refused {
                result.rejected += 1
                if result.firstError == nil { result.firstError = reason }
            }
        }
    }

    static func scopeSpans(_ message: ByteBuffer) throws -> ScopeGroup {
        var group = ScopeGroup()
        var reader = ProtobufReader(message, codec: codec)
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited): group.scope = try reader.lengthDelimited()
            case (2, .lengthDelimited):
                let span = try reader.lengthDelimited()
                var terms: [IndexTerm] = []
                let (info, reason) = try spanInfo(span, terms: &terms)
                guard let info else {
                    group.refused.append(reason)
                    continue
                }
                if group.spans[info.traceID] == nil { group.order.append(info.traceID) }
                group.spans[info.traceID, default: []].append(span)
                group.infos.append(info)
                group.terms[info.traceID, default: []] += terms
            case (3, .lengthDelimited): group.schema = try reader.lengthDelimited()
            default: try reader.skip(type)
            }
        }
        return group
    }

    /// The facts of one span message, or nil with the reason when its ids are invalid.
    /// The largest span message taken (attributes, events and links included); a larger one is
    /// refused on its own, as Tempo refuses traces past its size limit.
    public static let maxSpanBytes = 1 << 20

    static func spanInfo(_ message: ByteBuffer, terms: inout [IndexTerm]) throws -> (info: SpanInfo?, reason: String) {
        guard message.readableBytes <= maxSpanBytes else {
            return (nil, "a span of \(message.readableBytes) bytes is larger than the \(maxSpanBytes) allowed")
        }
        var reader = ProtobufReader(message, codec: codec)
        var traceBytes: ByteBuffer?, spanBytes: ByteBuffer?, parentBytes: ByteBuffer?
        var info = SpanInfo(traceID: TraceID(high: 0, low: 1), isRoot: true, name: "", kind: .unspecified, start: 0, end: 0,
                            status: .unset, service: "")
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited): traceBytes = try reader.lengthDelimited()
            case (2, .lengthDelimited): spanBytes = try reader.lengthDelimited()
            case (4, .lengthDelimited): parentBytes = try reader.lengthDelimited()
            case (5, .lengthDelimited): info.name = try reader.string()
            case (6, .varint): info.kind = SpanKind(rawValue: Int(truncatingIfNeeded: try reader.varint())) ?? .unspecified
            case (7, .fixed64): info.start = try reader.fixed64()
            case (8, .fixed64): info.end = try reader.fixed64()
            case (9, .lengthDelimited):
                guard try attributeTerm(try reader.lengthDelimited(), scope: TermHash.span, into: &terms) else {
                    return (nil, "span \"\(info.name)\": an attribute value is nested deeper than \(OTLPProtobuf.maxValueDepth) levels")
                }
            // Events (attributes in field 3) and links (field 4) are decoded at query time too.
            case (11, .lengthDelimited), (13, .lengthDelimited):
                let attributesField: UInt64 = number == 11 ? 3 : 4
                guard try reader.lengthDelimited().withUnsafeReadableBytes({ Self.attributesFit($0, field: attributesField) }) else {
                    return (nil, "span \"\(info.name)\": an event or link attribute value is nested deeper than \(OTLPProtobuf.maxValueDepth) levels")
                }
            case (15, .lengthDelimited):
                var status = try reader.message()
                while let (field, kind) = try status.nextField() {
                    if field == 3, kind == .varint {
                        info.status = StatusCode(rawValue: Int(truncatingIfNeeded: try status.varint())) ?? .unset
                    } else {
                        try status.skip(kind)
                    }
                }
            default: try reader.skip(type)
            }
        }
        guard let traceBytes, let traceID = TraceID(bytes: traceBytes.readableBytesView) else {
            return (nil, "span \"\(info.name)\": trace id must be 16 bytes and not all zero, got \(traceBytes?.readableBytes ?? 0) bytes")
        }
        guard let spanBytes, let spanID = SpanID.from(bytes: spanBytes.readableBytesView), spanID != 0 else {
            return (nil, "span \"\(info.name)\": span id must be 8 bytes and not all zero, got \(spanBytes?.readableBytes ?? 0) bytes")
        }
        if let parentBytes, parentBytes.readableBytes > 0 {
            guard let parent = SpanID.from(bytes: parentBytes.readableBytesView) else {
                return (nil, "span \"\(info.name)\": parent span id must be 8 bytes, got \(parentBytes.readableBytes) bytes")
            }
            info.isRoot = parent == 0
        }
        info.traceID = traceID
        terms.append(TermHash.term(key: TermHash.nameKey, type: TermHash.string, info.name.utf8))
        terms.append(TermHash.term(key: TermHash.kindKey, integer: Int64(info.kind.rawValue)))
        terms.append(TermHash.term(key: TermHash.statusKey, integer: Int64(info.status.rawValue)))
        return (info, "")
    }

    /// The index term of a `KeyValue` with a string, integer or boolean value, read straight from
    /// its bytes: this runs for every attribute of every span. False when the value nests arrays or
    /// maps deeper than the decoder reads (the attribute must then be refused, not stored).
    @discardableResult
    static func attributeTerm(_ keyValue: ByteBuffer, scope: UInt8, into terms: inout [IndexTerm]) throws -> Bool {
        var readable = true
        let term: IndexTerm? = keyValue.withUnsafeReadableBytes { bytes in
            var key: UnsafeRawBufferPointer?
            var value: UnsafeRawBufferPointer?
            var walker = WireWalker(bytes)
            while let field = walker.next() {
                if field.number == 1, let payload = field.payload { key = payload }
                if field.number == 2, let payload = field.payload { value = payload }
            }
            guard !walker.failed, let key, let value else { return nil }
            readable = Self.valueFits(value, depth: 0)
            let keyHash = TermHash.key(scope: scope, key)
            var any = WireWalker(value)
            var result: IndexTerm?
            while let field = any.next() {
                switch field.number {
                case 1: if let text = field.payload, text.count <= 128 { result = TermHash.term(key: keyHash, type: TermHash.string, text) }
                case 2: if field.payload == nil { result = TermHash.term(key: keyHash, bool: field.varint != 0) }
                case 3: if field.payload == nil { result = TermHash.term(key: keyHash, integer: Int64(bitPattern: field.varint)) }
                default: break
                }
            }
            return any.failed ? nil : result
        }
        if let term { terms.append(term) }
        return readable
    }

    /// Whether every `KeyValue` in `field` of `message` (an event's or a link's attributes) holds a
    /// value the decoder reads.
    static func attributesFit(_ message: UnsafeRawBufferPointer, field attributesField: UInt64) -> Bool {
        var walker = WireWalker(message)
        while let field = walker.next() {
            guard field.number == attributesField, let keyValue = field.payload else { continue }
            var pair = WireWalker(keyValue)
            while let part = pair.next() {
                guard part.number == 2, let value = part.payload else { continue }
                if !valueFits(value, depth: 0) { return false }
            }
        }
        return true
    }

    /// Whether an `AnyValue` at `depth` nests no deeper than the decoder reads.
    static func valueFits(_ value: UnsafeRawBufferPointer, depth: Int) -> Bool {
        var any = WireWalker(value)
        while let field = any.next() {
            if field.number == 5 || field.number == 6, let nested = field.payload,
               !nestingFits(nested, isMap: field.number == 6, depth: depth + 1) {
                return false
            }
        }
        return true
    }

    /// Whether an `ArrayValue` (`isMap` false: elements are `AnyValue`s) or a `KeyValueList` (elements
    /// are `KeyValue`s holding an `AnyValue` in field 2) nests no deeper than the decoder reads.
    /// Recursion is bounded by that limit.
    static func nestingFits(_ container: UnsafeRawBufferPointer, isMap: Bool, depth: Int) -> Bool {
        guard depth < OTLPProtobuf.maxValueDepth else { return false }
        var elements = WireWalker(container)
        while let element = elements.next() {
            guard element.number == 1, var value = element.payload else { continue }
            if isMap {
                var keyValue = WireWalker(value)
                var found: UnsafeRawBufferPointer?
                while let field = keyValue.next() {
                    if field.number == 2, let payload = field.payload { found = payload }
                }
                guard let found else { continue }
                value = found
            }
            if !valueFits(value, depth: depth) { return false }
        }
        return true
    }

    /// `service.name` among a resource message's attributes.
    static func serviceName(_ resource: ByteBuffer) throws -> String? {
        var reader = ProtobufReader(resource, codec: codec)
        while let (number, type) = try reader.nextField() {
            guard number == 1, type == .lengthDelimited else { try reader.skip(type); continue }
            var keyValue = try reader.message()
            var key = "", value: String?
            while let (field, kind) = try keyValue.nextField() {
                switch (field, kind) {
                case (1, .lengthDelimited): key = try keyValue.string()
                case (2, .lengthDelimited):
                    var any = try keyValue.message()
                    while let (inner, innerKind) = try any.nextField() {
                        if inner == 1, innerKind == .lengthDelimited { value = try any.string() } else { try any.skip(innerKind) }
                    }
                default: try keyValue.skip(kind)
                }
            }
            if key == "service.name", let value { return value }
        }
        return nil
    }
}

/// A protobuf field walker over raw bytes, for the innermost loops of ingest: no buffers, no
/// allocations. Stops (and sets `failed`) at malformed input.
struct WireWalker {
    struct Field {
        var number: UInt64
        /// The bytes of a length-delimited field; nil for the other wire types.
        var payload: UnsafeRawBufferPointer?
        /// The value of a varint field.
        var varint: UInt64
    }

    let bytes: UnsafeRawBufferPointer
    var index = 0
    var failed = false

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func readVarint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    mutating func next() -> Field? {
        guard !failed, index < bytes.count else { return nil }
        guard let key = readVarint() else { failed = true; return nil }
        let number = key >> 3
        switch key & 7 {
        case 0:
            guard let value = readVarint() else { failed = true; return nil }
            return Field(number: number, payload: nil, varint: value)
        case 1, 5:
            let width = key & 7 == 1 ? 8 : 4
            guard index + width <= bytes.count else { failed = true; return nil }
            index += width
            return Field(number: number, payload: nil, varint: 0)
        case 2:
            guard let length = readVarint(), length <= UInt64(bytes.count - index) else { failed = true; return nil }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[index..<index + Int(length)])
            index += Int(length)
            return Field(number: number, payload: payload, varint: 0)
        default:
            failed = true
            return nil
        }
    }
}
