import ObsCore

/// A 16-byte trace id, held as two big-endian halves so it sorts and hashes as the bytes do.
public struct TraceID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// From the 16 bytes of the wire formats; nil for another length or all zeros (invalid in OTLP).
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        guard high != 0 || low != 0 else { return nil }
        self.init(high: high, low: low)
    }

    /// From hex: 32 digits, or fewer (Zipkin's 64-bit ids, Tempo's short ids) padded on the left.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard !digits.isEmpty, digits.count <= 32, digits.count % 2 == 0 || digits.count < 32 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        let padded = [UInt8](repeating: UInt8(ascii: "0"), count: 32 - digits.count) + digits
        for (index, digit) in padded.enumerated() {
            guard let value = HexDigits.value(digit) else { return nil }
            if index < 16 { high = high << 4 | UInt64(value) } else { low = low << 4 | UInt64(value) }
        }
        guard high != 0 || low != 0 else { return nil }
        self.init(high: high, low: low)
    }

    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }

    public var hex: String { HexDigits.hex(high) + HexDigits.hex(low) }
    public var description: String { hex }

    public static func < (a: TraceID, b: TraceID) -> Bool { (a.high, a.low) < (b.high, b.low) }
}

/// 8-byte span ids as integers; 0 means none (a root span's parent).
public enum SpanID {
    public static func from(bytes: some Collection<UInt8>) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    public static func from(hex: String) -> UInt64? {
        let digits = Array(hex.utf8)
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard let nibble = HexDigits.value(digit) else { return nil }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }

    public static func bytes(_ id: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: id >> (56 - 8 * UInt64($0))) }
    }

    public static func hex(_ id: UInt64) -> String { HexDigits.hex(id) }
}


/// An OTLP attribute value.
public indirect enum AttributeValue: Sendable, Equatable {
    case string(String)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case bytes([UInt8])
    case array([AttributeValue])
    case map([Attribute])
    /// An `AnyValue` with no value set.
    case empty

    /// The value as text, as search and tag listings compare it.
    public var text: String {
        switch self {
        case let .string(value): value
        case let .bool(value): value ? "true" : "false"
        case let .int(value): String(value)
        case let .double(value): NumberText.text(value)
        case let .bytes(value): value.map { HexDigits.hex(UInt64($0)).suffix(2) }.joined()
        case let .array(values): "[" + values.map(\.text).joined(separator: ",") + "]"
        case let .map(attributes): "{" + attributes.map { "\($0.key):\($0.value.text)" }.joined(separator: ",") + "}"
        case .empty: ""
        }
    }
}

/// Numbers in attribute text, tag values and bucket bounds: integral values without a fraction.
public enum NumberText {
    public static func text(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

public struct Attribute: Sendable, Equatable {
    public var key: String
    public var value: AttributeValue

    public init(_ key: String, _ value: AttributeValue) {
        self.key = key
        self.value = value
    }
}

public enum SpanKind: Int, Sendable, CaseIterable {
    case unspecified = 0, `internal` = 1, server = 2, client = 3, producer = 4, consumer = 5

    /// The names Tempo and TraceQL use.
    public var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .internal: "internal"
        case .server: "server"
        case .client: "client"
        case .producer: "producer"
        case .consumer: "consumer"
        }
    }
}

public enum StatusCode: Int, Sendable, CaseIterable {
    case unset = 0, ok = 1, error = 2

    public var name: String {
        switch self {
        case .unset: "unset"
        case .ok: "ok"
        case .error: "error"
        }
    }
}

public struct SpanEvent: Sendable, Equatable {
    public var time: UInt64
    public var name: String
    public var attributes: [Attribute]
    public var droppedAttributes: UInt32 = 0

    public init(time: UInt64, name: String, attributes: [Attribute], droppedAttributes: UInt32 = 0) {
        self.time = time
        self.name = name
        self.attributes = attributes
        self.droppedAttributes = droppedAttributes
    }
}

public struct SpanLink: Sendable, Equatable {
    public var traceID: TraceID
    public var spanID: UInt64
    public var traceState: String = ""
    public var attributes: [Attribute] = []
    public var droppedAttributes: UInt32 = 0
    public var flags: UInt32 = 0

    public init(traceID: TraceID, spanID: UInt64) {
        self.traceID = traceID
        self.spanID = spanID
    }
}

/// One span as OTLP defines it. Times are Unix nanoseconds.
public struct Span: Sendable, Equatable {
    public var traceID: TraceID
    public var spanID: UInt64
    /// 0 for a root span.
    public var parentSpanID: UInt64 = 0
    public var traceState: String = ""
    public var flags: UInt32 = 0
    public var name: String
    public var kind: SpanKind = .unspecified
    public var start: UInt64
    public var end: UInt64
    public var attributes: [Attribute] = []
    public var droppedAttributes: UInt32 = 0
    public var events: [SpanEvent] = []
    public var droppedEvents: UInt32 = 0
    public var links: [SpanLink] = []
    public var droppedLinks: UInt32 = 0
    public var statusCode: StatusCode = .unset
    public var statusMessage: String = ""

    public init(traceID: TraceID, spanID: UInt64, name: String, start: UInt64, end: UInt64) {
        self.traceID = traceID
        self.spanID = spanID
        self.name = name
        self.start = start
        self.end = end
    }

    public var duration: UInt64 { end >= start ? end - start : 0 }
}

public struct InstrumentationScope: Sendable, Equatable {
    public var name: String = ""
    public var version: String = ""
    public var attributes: [Attribute] = []
    public var droppedAttributes: UInt32 = 0

    public init(name: String = "", version: String = "") {
        self.name = name
        self.version = version
    }
}

public struct ScopeSpans: Sendable, Equatable {
    public var scope: InstrumentationScope
    public var schemaURL: String = ""
    public var spans: [Span]

    public init(scope: InstrumentationScope, spans: [Span]) {
        self.scope = scope
        self.spans = spans
    }
}

/// Spans of one resource (one process of one service), grouped by instrumentation scope.
public struct ResourceSpans: Sendable, Equatable {
    public var resource: [Attribute]
    public var droppedResourceAttributes: UInt32 = 0
    public var schemaURL: String = ""
    public var scopes: [ScopeSpans]

    public init(resource: [Attribute], scopes: [ScopeSpans]) {
        self.resource = resource
        self.scopes = scopes
    }

    /// `service.name`, or OTLP's default for a resource without one.
    public var serviceName: String {
        if case let .string(name)? = resource.first(where: { $0.key == "service.name" })?.value { return name }
        return "unknown_service"
    }

    public var spanCount: Int { scopes.reduce(0) { $0 + $1.spans.count } }
}
