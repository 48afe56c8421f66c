import ObsCore

/// A value inside a template, with the Go kinds templates meet: strings, integers, floats and
/// booleans, string maps (label sets), lists (query results) and records (Go structs, fields in
/// declaration order). `none` is Go's missing value.
public enum TemplateValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case map([String: String])
    case list([TemplateValue])
    case record([Field])
    case none

    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: TemplateValue

        public init(_ name: String, _ value: TemplateValue) {
            self.name = name
            self.value = value
        }
    }

    /// Go's truth: empty strings, maps and lists, zero numbers, false and nothing are false.
    public var isTrue: Bool {
        switch self {
        case let .string(text): !text.isEmpty
        case let .int(value): value != 0
        case let .float(value): value != 0
        case let .bool(value): value
        case let .map(entries): !entries.isEmpty
        case let .list(elements): !elements.isEmpty
        case .record: true
        case .none: false
        }
    }

    /// Go's `%v`.
    public var text: String {
        switch self {
        case let .string(text): text
        case let .int(value): String(value)
        case let .float(value): GoFloat.format(value)
        case let .bool(value): value ? "true" : "false"
        case let .map(entries): "map[" + entries.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " ") + "]"
        case let .list(elements): "[" + elements.map(\.text).joined(separator: " ") + "]"
        case let .record(fields): "{" + fields.map(\.value.text).joined(separator: " ") + "}"
        case .none: "<no value>"
        }
    }

    /// The Go type name, for error messages.
    var typeName: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .float: "float64"
        case .bool: "bool"
        case .map: "map[string]string"
        case .list: "[]interface {}"
        case .record: "struct"
        case .none: "nil"
        }
    }

    /// `.name` on this value. Missing map keys give the empty string, as with Go's
    /// `missingkey=zero`, which both Loki and Prometheus set.
    func field(_ name: String) throws(TemplateError) -> TemplateValue {
        switch self {
        case let .map(entries):
            return .string(entries[name] ?? "")
        case let .record(fields):
            guard let field = fields.first(where: { $0.name == name }) else {
                throw TemplateError("can't evaluate field \(name) in type struct")
            }
            return field.value
        case .none:
            throw TemplateError("nil pointer evaluating interface {}.\(name)")
        default:
            throw TemplateError("can't evaluate field \(name) in type \(typeName)")
        }
    }

    /// Reads a record's field by name; `none` when absent.
    public subscript(field name: String) -> TemplateValue {
        guard case let .record(fields) = self else { return .none }
        return fields.first { $0.name == name }?.value ?? .none
    }
}

/// Why a template could not be parsed or rendered; the message reads like Go's.
public struct TemplateError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Conversions between template values with Go's and Sprig's rules.
public enum TemplateConversions {
    /// Sprig's `toInt`: numbers truncate (saturating), numeric strings parse, anything else is 0.
    public static func int(_ value: TemplateValue) -> Int64 {
        switch value {
        case let .int(number): return number
        case let .float(number): return saturatingInt(number)
        case let .bool(flag): return flag ? 1 : 0
        case let .string(text):
            let trimmed = text.trimmingSpaces
            if let number = Int64(trimmed) { return number }
            if let number = Double(trimmed) { return saturatingInt(number) }
            return 0
        default: return 0
        }
    }

    /// Sprig's `toFloat64`.
    public static func float(_ value: TemplateValue) -> Double {
        switch value {
        case let .int(number): return Double(number)
        case let .float(number): return number
        case let .bool(flag): return flag ? 1 : 0
        case let .string(text): return Double(text.trimmingSpaces) ?? 0
        default: return 0
        }
    }

    /// A float as an integer: truncated, saturating at the integer range; 0 for NaN.
    public static func saturatingInt(_ number: Double) -> Int64 {
        if number.isNaN { return 0 }
        if number >= 9.223372036854775807e18 { return .max }
        if number <= -9.223372036854775808e18 { return .min }
        return Int64(number)
    }
}

extension StringProtocol {
    /// The text without leading and trailing white space.
    public var trimmingSpaces: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
