import ObsCore

/// A condition on single spans: a TraceQL spanset filter (`{ span.http.status_code >= 500 &&
/// resource.service.name = "api" }`), or Tempo's older `tags=` logfmt search, which ANDs equalities.
/// Built once per query; immutable.
public indirect enum SpanFilter: Sendable, Equatable {
    case all
    case compare(SpanField, SpanComparison, SpanValue)
    case and(SpanFilter, SpanFilter)
    case or(SpanFilter, SpanFilter)

    /// Every one of `filters`, joined with `and`. Matching recurses over the tree, so at most
    /// `TraceQLParser.maxConditions` are taken.
    public static func conjunction(_ filters: [SpanFilter]) throws(TraceQLParser.Failure) -> SpanFilter {
        guard filters.count <= TraceQLParser.maxConditions else {
            throw TraceQLParser.Failure(description: "more than \(TraceQLParser.maxConditions) conditions")
        }
        return filters.reduce(SpanFilter.all) { $0 == .all ? $1 : .and($0, $1) }
    }

    /// Whether `span`, of a resource with `resource` attributes, matches.
    public func matches(_ span: Span, resource: [Attribute]) -> Bool {
        switch self {
        case .all: true
        case let .and(left, right): left.matches(span, resource: resource) && right.matches(span, resource: resource)
        case let .or(left, right): left.matches(span, resource: resource) || right.matches(span, resource: resource)
        case let .compare(field, comparison, value):
            field.values(of: span, resource: resource).contains { comparison.holds($0, value) }
        }
    }
}

/// What a condition reads from a span.
public enum SpanField: Sendable, Equatable {
    case name, status, kind, duration, statusMessage
    /// `span.x`, `resource.x`, or `.x` (either).
    case attribute(scope: Scope, key: String)

    public enum Scope: Sendable, Equatable { case span, resource, any }

    func values(of span: Span, resource: [Attribute]) -> [SpanValue] {
        switch self {
        case .name: [.string(span.name)]
        case .status: [.status(span.statusCode)]
        case .kind: [.kind(span.kind)]
        case .duration: [.duration(span.duration)]
        case .statusMessage: [.string(span.statusMessage)]
        case let .attribute(scope, key):
            (scope == .resource ? [] : span.attributes.filter { $0.key == key }.map { SpanValue($0.value) })
                + (scope == .span ? [] : resource.filter { $0.key == key }.map { SpanValue($0.value) })
        }
    }
}

/// A value in a condition or read from a span.
public enum SpanValue: Sendable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)
    /// Nanoseconds.
    case duration(UInt64)
    case status(StatusCode)
    case kind(SpanKind)
    /// The compiled right side of `=~` and `!~` (fully anchored, as Tempo matches).
    case pattern(LinearRegex)

    init(_ attribute: AttributeValue) {
        switch attribute {
        case let .int(value): self = .number(Double(value))
        case let .double(value): self = .number(value)
        case let .bool(value): self = .bool(value)
        default: self = .string(attribute.text)
        }
    }
}

public enum SpanComparison: String, Sendable, Equatable, CaseIterable {
    case equal = "=", notEqual = "!=", greater = ">", greaterEqual = ">=", less = "<", lessEqual = "<="
    case regex = "=~", notRegex = "!~"

    func holds(_ actual: SpanValue, _ expected: SpanValue) -> Bool {
        switch (actual, expected) {
        case let (.string(a), .string(b)):
            switch self {
            case .regex, .notRegex: return self == .notRegex
            default: return order(a < b ? -1 : (a == b ? 0 : 1))
            }
        case let (.string(a), .pattern(regex)):
            let matched = regex.wholeMatches(a)
            return self == .notRegex ? !matched : (self == .regex && matched)
        case let (.number(a), .number(b)): return order(a < b ? -1 : (a == b ? 0 : 1))
        case let (.duration(a), .duration(b)): return order(a < b ? -1 : (a == b ? 0 : 1))
        case let (.number(a), .duration(b)): return order(a < Double(b) ? -1 : (a == Double(b) ? 0 : 1))
        case let (.bool(a), .bool(b)): return self == .equal ? a == b : (self == .notEqual ? a != b : false)
        case let (.status(a), .status(b)): return self == .equal ? a == b : (self == .notEqual ? a != b : false)
        case let (.kind(a), .kind(b)): return self == .equal ? a == b : (self == .notEqual ? a != b : false)
        // A number written as text (tags= values, string attributes) equals the number it reads as.
        case let (.number(a), .string(b)): return textEquals(a, b)
        case let (.string(b), .number(a)): return textEquals(a, b)
        default:
            return self == .notEqual
        }
    }

    private func textEquals(_ number: Double, _ text: String) -> Bool {
        switch self {
        case .equal: Double(text) == number
        case .notEqual: Double(text) != number
        default: false
        }
    }

    private func order(_ comparison: Int) -> Bool {
        switch self {
        case .equal: comparison == 0
        case .notEqual: comparison != 0
        case .greater: comparison > 0
        case .greaterEqual: comparison >= 0
        case .less: comparison < 0
        case .lessEqual: comparison <= 0
        case .regex, .notRegex: false
        }
    }
}
