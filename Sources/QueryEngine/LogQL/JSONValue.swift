import ObsCore

/// A parsed JSON document for the `json` and `unpack` stages. Numbers keep the text they were
/// written with, as Loki's labels do.
enum JSONValue: Equatable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case let (.object(a), .object(b)): a.elementsEqual(b) { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.array(a), .array(b)): a == b
        case let (.string(a), .string(b)), let (.number(a), .number(b)): a == b
        case let (.bool(a), .bool(b)): a == b
        case (.null, .null): true
        default: false
        }
    }

    static func parse(_ text: String) throws -> JSONValue {
        try Array(text.utf8).withUnsafeBytes { bytes in
            var reader = JSONReader(bytes)
            let value = try read(&reader, depth: 0)
            guard reader.isAtEnd() else { throw JSONReader.Failure(offset: reader.offset, message: "unexpected data after the value") }
            return value
        }
    }

    private static func read(_ reader: inout JSONReader, depth: Int) throws -> JSONValue {
        guard depth < 64 else { throw JSONReader.Failure(offset: reader.offset, message: "nested too deeply") }
        switch try reader.peek() {
        case .object:
            var members: [(String, JSONValue)] = []
            try reader.object { reader, key in members.append((key, try read(&reader, depth: depth + 1))) }
            return .object(members)
        case .array:
            var elements: [JSONValue] = []
            try reader.array { reader in elements.append(try read(&reader, depth: depth + 1)) }
            return .array(elements)
        case .string: return .string(try reader.string())
        case .number: return .number(try reader.numberText())
        case .bool:
            let start = reader.offset
            try reader.skip()
            return .bool(reader.offset - start == 4)
        case .null:
            try reader.skip()
            return .null
        }
    }

    /// The value as a label value: strings unquoted, numbers as written, objects and arrays as JSON.
    var text: String {
        switch self {
        case let .string(value): value
        case let .number(value): value
        case let .bool(value): value ? "true" : "false"
        case .null: ""
        case let .array(elements): "[" + elements.map(\.json).joined(separator: ",") + "]"
        case let .object(members): "{" + members.map { JSONText.quote($0.0) + ":" + $0.1.json }.joined(separator: ",") + "}"
        }
    }

    private var json: String {
        if case let .string(value) = self { return JSONText.quote(value) }
        return text
    }

    func at(_ path: JSONPath) -> JSONValue? {
        var current = self
        for step in path.steps {
            switch (step, current) {
            case let (.key(key), .object(members)):
                guard let found = members.last(where: { $0.0 == key })?.1 else { return nil }
                current = found
            case let (.index(index), .array(elements)):
                guard index >= 0 && index < elements.count else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }
}

/// A `json` extraction expression: `a.b`, `a[0]`, `a["key with spaces"]`.
struct JSONPath {
    enum Step { case key(String), index(Int) }
    var steps: [Step] = []

    init?(_ text: String) {
        var rest = Substring(text)
        while !rest.isEmpty {
            if rest.first == "." {
                rest = rest.dropFirst()
                continue
            }
            if rest.first == "[" {
                guard let close = rest.firstIndex(of: "]") else { return nil }
                let inside = rest[rest.index(after: rest.startIndex)..<close]
                if let index = Int(inside) {
                    steps.append(.index(index))
                } else if inside.count >= 2, inside.first == "\"", inside.last == "\"" {
                    steps.append(.key(String(inside.dropFirst().dropLast())))
                } else {
                    return nil
                }
                rest = rest[rest.index(after: close)...]
                continue
            }
            let key = rest.prefix { $0 != "." && $0 != "[" }
            steps.append(.key(String(key)))
            rest = rest.dropFirst(key.count)
        }
        guard !steps.isEmpty else { return nil }
    }
}

/// Label filters against a line's labels. A value that cannot be read as the filter's type sets
/// `__error__=LabelFilterErr` and keeps the line, as Loki does.
enum LabelFilterEvaluation {
    /// Whether a line passes `filter`. As Loki: once a line carries an error, only filters on
    /// `__error__` itself can drop it.
    static func keep(_ filter: LabelFilterExpr, _ labels: inout [String: String]) -> Bool {
        let failed = labels["__error__"] != nil
        switch filter {
        case let .matcher(matcher):
            if matcher.name != "__error__" && failed { return true }
            return matcher.matches(labels[matcher.name] ?? "")
        case let .and(left, right):
            return keep(left, &labels) && keep(right, &labels)
        case let .or(left, right):
            return keep(left, &labels) || keep(right, &labels)
        case let .number(label, op, expected):
            if failed { return true }
            guard let text = labels[label] else { return false }
            guard let value = Double(text) else { return conversionFailed(label, text, &labels) }
            return compare(value, op, expected)
        case let .duration(label, op, expected):
            if failed { return true }
            guard let text = labels[label] else { return false }
            guard let value = LogQLValues.durationNanoseconds(text) else { return conversionFailed(label, text, &labels) }
            return compare(Double(value), op, Double(expected))
        case let .bytes(label, op, expected):
            if failed { return true }
            guard let text = labels[label] else { return false }
            guard let value = LogQLValues.bytes(text) ?? Double(text) else { return conversionFailed(label, text, &labels) }
            return compare(value, op, expected)
        }
    }

    private static func conversionFailed(_ label: String, _ text: String, _ labels: inout [String: String]) -> Bool {
        labels["__error__"] = "LabelFilterErr"
        labels["__error_details__"] = "cannot convert \(JSONText.quote(text)) of label \(label)"
        return true
    }

    static func compare(_ value: Double, _ op: ComparisonOperator, _ expected: Double) -> Bool {
        switch op {
        case .equal: value == expected
        case .notEqual: value != expected
        case .greater: value > expected
        case .greaterEqual: value >= expected
        case .less: value < expected
        case .lessEqual: value <= expected
        }
    }
}
