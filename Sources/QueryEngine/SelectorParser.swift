import ObsCore

/// Parses PromQL series selectors (`up`, `http_requests_total{job="api", code=~"5.."}`,
/// `{__name__=~"node_.+"}`, `{"utf8.name"="x"}`), as used by `match[]` parameters. Errors carry a
/// `line:column` position and read like Prometheus's parse errors. Pure; thread-safe.
public enum SelectorParser {
    public struct ParseError: Error, CustomStringConvertible, Equatable, Sendable {
        public var position: Int
        public var message: String
        public var description: String { "1:\(position + 1): parse error: \(message)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> [LabelMatcher] {
        var scanner = Scanner(Array(text.utf8))
        var matchers: [LabelMatcher] = []
        scanner.skipSpace()
        var metricName: String?
        if let name = scanner.identifier(allowColon: true) {
            metricName = name
            matchers.append(try make(.equal, Labels.metricName, name, at: 0))
        }
        scanner.skipSpace()
        if scanner.consume(UInt8(ascii: "{")) {
            while true {
                scanner.skipSpace()
                if scanner.consume(UInt8(ascii: "}")) { break }
                let start = scanner.position
                let name: String
                if let quoted = try scanner.quotedString() {
                    name = quoted
                } else if let identifier = scanner.identifier(allowColon: false) {
                    name = identifier
                } else {
                    throw ParseError(position: scanner.position, message: "unexpected \(scanner.describeNext()) in label matching, expected label")
                }
                scanner.skipSpace()
                // Prometheus 3 allows a quoted metric name alone inside the braces: {"my.metric"}.
                if scanner.peek == UInt8(ascii: ",") || scanner.peek == UInt8(ascii: "}") {
                    guard metricName == nil else {
                        throw ParseError(position: start, message: "metric name must not be set twice: \"\(metricName!)\" or \"\(name)\"")
                    }
                    metricName = name
                    matchers.append(try make(.equal, Labels.metricName, name, at: start))
                } else {
                    guard let kind = scanner.matchOperator() else {
                        throw ParseError(position: scanner.position, message: "unexpected \(scanner.describeNext()) in label matching, expected label matching operator")
                    }
                    scanner.skipSpace()
                    let valueStart = scanner.position
                    guard let value = try scanner.quotedString() else {
                        throw ParseError(position: valueStart, message: "unexpected \(scanner.describeNext()) in label matching, expected string")
                    }
                    if name == Labels.metricName && metricName != nil && kind == .equal {
                        throw ParseError(position: start, message: "metric name must not be set twice: \"\(metricName!)\" or \"\(value)\"")
                    }
                    matchers.append(try make(kind, name, value, at: valueStart))
                }
                scanner.skipSpace()
                if scanner.consume(UInt8(ascii: ",")) { continue }
                if scanner.consume(UInt8(ascii: "}")) { break }
                throw ParseError(position: scanner.position, message: "unexpected \(scanner.describeNext()) in label matching, expected \",\" or \"}\"")
            }
        } else if metricName == nil {
            throw ParseError(position: scanner.position, message: "unexpected \(scanner.describeNext()), expected a series selector")
        }
        scanner.skipSpace()
        guard scanner.isAtEnd else {
            throw ParseError(position: scanner.position, message: "unexpected \(scanner.describeNext()) after the series selector")
        }
        guard matchers.contains(where: { !$0.matchesEmpty }) else {
            throw ParseError(position: 0, message: "vector selector must contain at least one non-empty matcher")
        }
        return matchers
    }

    private static func make(_ kind: LabelMatcher.Kind, _ name: String, _ value: String, at position: Int) throws(ParseError) -> LabelMatcher {
        do {
            return try LabelMatcher(kind, name, value)
        } catch {
            throw ParseError(position: position, message: "\(error)")
        }
    }
}

/// Byte scanner with PromQL's identifier and string rules.
struct Scanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { position >= bytes.count }
    var peek: UInt8? { isAtEnd ? nil : bytes[position] }

    mutating func skipSpace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        position += 1
        return true
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, with `:` allowed in metric names.
    mutating func identifier(allowColon: Bool) -> String? {
        func isStart(_ b: UInt8) -> Bool {
            (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || (allowColon && b == 0x3A)
        }
        guard let first = peek, isStart(first) else { return nil }
        let start = position
        while let byte = peek, isStart(byte) || (byte >= 0x30 && byte <= 0x39) { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    mutating func matchOperator() -> LabelMatcher.Kind? {
        guard let first = peek else { return nil }
        let second = position + 1 < bytes.count ? bytes[position + 1] : 0
        switch (first, second) {
        case (UInt8(ascii: "="), UInt8(ascii: "~")): position += 2; return .regexMatch
        case (UInt8(ascii: "!"), UInt8(ascii: "~")): position += 2; return .regexNoMatch
        case (UInt8(ascii: "!"), UInt8(ascii: "=")): position += 2; return .notEqual
        case (UInt8(ascii: "="), _) where second != UInt8(ascii: "="): position += 1; return .equal
        default: return nil
        }
    }

    /// A `"…"`, `'…'` or `` `…` `` string with Go's escapes (none in backquoted raw strings), or `nil`
    /// if no string starts here.
    mutating func quotedString() throws(SelectorParser.ParseError) -> String? {
        guard let quote = peek, quote == 0x22 || quote == 0x27 || quote == 0x60 else { return nil }
        let start = position
        position += 1
        var out: [UInt8] = []
        while true {
            guard let byte = peek else {
                throw SelectorParser.ParseError(position: start, message: "unterminated quoted string")
            }
            position += 1
            if byte == quote { break }
            if quote == 0x60 || byte != UInt8(ascii: "\\") {
                if byte == 0x0A && quote != 0x60 {
                    throw SelectorParser.ParseError(position: start, message: "unterminated quoted string")
                }
                out.append(byte)
                continue
            }
            guard let escape = peek else {
                throw SelectorParser.ParseError(position: start, message: "unterminated quoted string")
            }
            position += 1
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "a"): out.append(0x07)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "v"): out.append(0x0B)
            case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"): out.append(escape)
            case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                let digits = escape == UInt8(ascii: "x") ? 2 : escape == UInt8(ascii: "u") ? 4 : 8
                guard position + digits <= bytes.count,
                      let code = UInt32(String(decoding: bytes[position..<position + digits], as: UTF8.self), radix: 16)
                else { throw SelectorParser.ParseError(position: position, message: "invalid escape sequence") }
                position += digits
                if escape == UInt8(ascii: "x") {
                    out.append(UInt8(code))
                } else {
                    guard let scalar = Unicode.Scalar(code) else {
                        throw SelectorParser.ParseError(position: position, message: "invalid Unicode code point in escape sequence")
                    }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                }
            default:
                throw SelectorParser.ParseError(position: position - 1, message: "unknown escape sequence \\\(Character(Unicode.Scalar(escape)))")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func describeNext() -> String {
        guard let byte = peek else { return "end of input" }
        return "character \"\(Character(Unicode.Scalar(byte)))\""
    }
}
