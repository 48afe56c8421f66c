import ObsCore

/// The TraceQL Tempo's search takes in `q=`, as far as it selects spans: one spanset filter
/// `{ … }` of conditions on intrinsics (`name`, `status`, `kind`, `duration`, `statusMessage`, also
/// with `span:` prefixes) and attributes (`span.x`, `resource.x`, `.x`), compared with
/// `= != > >= < <= =~ !~` to strings, numbers, durations, `true`/`false`, statuses and kinds, joined
/// with `&&` and `||` and grouped with parentheses. `{}` matches every span.
public enum TraceQLParser {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// The most conditions one filter may join: matching recurses over them.
    public static let maxConditions = 256

    public static func parse(_ text: String) throws(Failure) -> SpanFilter {
        var cursor = Cursor(Array(text.utf8))
        cursor.skipSpace()
        try cursor.expect("{")
        cursor.skipSpace()
        if cursor.peek == UInt8(ascii: "}") {
            cursor.index += 1
            cursor.skipSpace()
            guard cursor.atEnd else { throw cursor.fail("only one spanset filter is supported") }
            return .all
        }
        let filter = try cursor.or()
        cursor.skipSpace()
        try cursor.expect("}")
        cursor.skipSpace()
        guard cursor.atEnd else {
            throw cursor.fail("only one spanset filter is supported; pipelines and spanset operators are not")
        }
        return filter
    }

    /// Tempo's `tags=` search, logfmt: `service.name=api http.status_code=500`, every pair required.
    public static func parseTags(_ text: String) throws(Failure) -> SpanFilter {
        var filter = SpanFilter.all
        var rest = Substring(text)
        var count = 0
        while true {
            rest = rest.drop { $0 == " " }
            guard !rest.isEmpty else { break }
            count += 1
            guard count <= maxConditions else { throw Failure(description: "tags: more than \(maxConditions) conditions") }
            guard let equals = rest.firstIndex(of: "=") else { throw Failure(description: "tags: \"\(rest)\" is not key=value") }
            let key = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                guard let close = rest.firstIndex(of: "\"") else { throw Failure(description: "tags: unterminated quote after \(key)=") }
                value = String(rest[..<close])
                rest = rest[rest.index(after: close)...]
            } else {
                value = String(rest.prefix { $0 != " " })
                rest = rest.dropFirst(value.count)
            }
            let field: SpanField
            var expected = SpanValue.string(value)
            switch key {
            case "name": field = .name
            case "status.code", "status":
                field = .status
                expected = .status(StatusCode.allCases.first { $0.name == value.lowercased() } ?? (value == "2" ? .error : .unset))
            default: field = .attribute(scope: .any, key: key)
            }
            let condition = SpanFilter.compare(field, .equal, expected)
            filter = filter == .all ? condition : .and(filter, condition)
        }
        return filter
    }

    struct Cursor {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        func fail(_ message: String) -> Failure {
            Failure(description: "parse error at col \(index + 1): \(message)")
        }

        mutating func skipSpace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ text: String) throws(Failure) {
            skipSpace()
            let wanted = Array(text.utf8)
            guard index + wanted.count <= bytes.count, Array(bytes[index..<index + wanted.count]) == wanted else {
                throw fail("expected \"\(text)\"")
            }
            index += wanted.count
        }

        mutating func take(_ text: String) -> Bool {
            skipSpace()
            let wanted = Array(text.utf8)
            guard index + wanted.count <= bytes.count, Array(bytes[index..<index + wanted.count]) == wanted else { return false }
            index += wanted.count
            return true
        }

        /// Open parentheses and conditions joined so far: both bound the depth of the filter tree,
        /// which matching walks recursively.
        var nesting = 0
        var conditions = 0
        static let maxNesting = 64
        static let maxConditions = TraceQLParser.maxConditions

        mutating func or() throws(Failure) -> SpanFilter {
            guard nesting < Self.maxNesting else { throw fail("the filter nests deeper than \(Self.maxNesting) levels") }
            nesting += 1
            defer { nesting -= 1 }
            var left = try and()
            while take("||") { left = .or(left, try and()) }
            return left
        }

        mutating func and() throws(Failure) -> SpanFilter {
            var left = try primary()
            while take("&&") { left = .and(left, try primary()) }
            return left
        }

        mutating func primary() throws(Failure) -> SpanFilter {
            guard conditions < Self.maxConditions else { throw fail("the filter has more than \(Self.maxConditions) conditions") }
            conditions += 1
            if take("(") {
                let inner = try or()
                try expect(")")
                return inner
            }
            let field = try self.field()
            skipSpace()
            var comparison: SpanComparison?
            for candidate in [SpanComparison.regex, .notRegex, .greaterEqual, .lessEqual, .notEqual, .equal, .greater, .less]
            where take(candidate.rawValue) {
                comparison = candidate
                break
            }
            guard let comparison else { throw fail("expected a comparison operator") }
            var value = try self.value(for: field)
            if comparison == .regex || comparison == .notRegex, case let .string(source) = value {
                do { value = .pattern(try LinearRegex(source)) } catch { throw fail("\(error)") }
            }
            return .compare(field, comparison, value)
        }

        mutating func field() throws(Failure) -> SpanField {
            skipSpace()
            let start = index
            while let byte = peek, byte != 0x20, !"=!<>~)&|}".utf8.contains(byte) { index += 1 }
            let name = String(decoding: bytes[start..<index], as: UTF8.self)
            switch name {
            case "name", "span:name": return .name
            case "status", "span:status": return .status
            case "kind", "span:kind": return .kind
            case "duration", "span:duration": return .duration
            case "statusMessage", "span:statusMessage": return .statusMessage
            default:
                if name.hasPrefix("span.") { return .attribute(scope: .span, key: String(name.dropFirst(5))) }
                if name.hasPrefix("resource.") { return .attribute(scope: .resource, key: String(name.dropFirst(9))) }
                if name.hasPrefix("."), name.count > 1 { return .attribute(scope: .any, key: String(name.dropFirst())) }
                throw fail(name.isEmpty ? "expected a field" : "unknown field \"\(name)\"")
            }
        }

        mutating func value(for field: SpanField) throws(Failure) -> SpanValue {
            skipSpace()
            if peek == UInt8(ascii: "\"") {
                index += 1
                var text: [UInt8] = []
                while let byte = peek, byte != UInt8(ascii: "\"") {
                    if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                        index += 1
                    }
                    text.append(bytes[index])
                    index += 1
                }
                guard peek == UInt8(ascii: "\"") else { throw fail("unterminated string") }
                index += 1
                return .string(String(decoding: text, as: UTF8.self))
            }
            let start = index
            while let byte = peek, byte != 0x20, !")&|}".utf8.contains(byte) { index += 1 }
            let word = String(decoding: bytes[start..<index], as: UTF8.self)
            if let status = StatusCode.allCases.first(where: { $0.name == word }) { return .status(status) }
            if let kind = SpanKind.allCases.first(where: { $0.name == word }) { return .kind(kind) }
            if word == "true" || word == "false" { return .bool(word == "true") }
            if let number = Double(word) {
                guard field == .duration else { return .number(number) }
                // A bare number for a duration is nanoseconds.
                guard let nanoseconds = CheckedTime.scaled(max(0, number), by: 1, limit: CheckedTime.maxNanoseconds) else {
                    throw fail("duration \(word) is out of range")
                }
                return .duration(UInt64(nanoseconds))
            }
            if let nanoseconds = GoDuration.nanoseconds(word), nanoseconds >= 0, nanoseconds <= CheckedTime.maxNanoseconds {
                return .duration(UInt64(nanoseconds))
            }
            throw fail(word.isEmpty ? "expected a value" : "cannot read \"\(word)\" as a value")
        }
    }
}
