import ObsCore

/// A LogQL syntax error: the byte offset and what was wrong, worded like Loki's (`parse error at
/// line 1, col N: …`).
public struct LogQLParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var position: Int
    public var message: String
    public var description: String { "parse error at line 1, col \(position + 1): \(message)" }
}

/// Parses LogQL log queries: `{selector} |= "x" or "y" | json | status >= 400 | line_format "…"`.
/// Pure; thread-safe.
public enum LogQLParser {
    public static func parseLogQuery(_ text: String) throws(LogQLParseError) -> LogQuery {
        var parser = Cursor(Array(text.utf8))
        let query = try parser.logQuery()
        parser.skipSpace()
        guard parser.isAtEnd else { throw parser.fail("unexpected \(parser.describeNext()) after the query") }
        return query
    }
}

/// The parser's position in the query bytes, with the token readers it needs.
struct Cursor {
    let bytes: [UInt8]
    var position = 0
    /// Parentheses, aggregations and label filter groups open around the position, and binary
    /// operators read so far: both bound the depth of the tree every later stage recurses over.
    var nesting = 0
    var operators = 0
    static let maxNesting = 256
    static let maxOperators = 512

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { position >= bytes.count }
    var peek: UInt8? { isAtEnd ? nil : bytes[position] }

    func fail(_ message: String, at offset: Int? = nil) -> LogQLParseError {
        LogQLParseError(position: offset ?? position, message: message)
    }

    func describeNext() -> String {
        guard !isAtEnd else { return "end of input" }
        var end = position
        while end < bytes.count, end - position < 20, bytes[end] != 0x20 { end += 1 }
        return "\"" + String(decoding: bytes[position..<end], as: UTF8.self) + "\""
    }

    mutating func skipSpace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    /// Consumes `literal` (after spaces) if it comes next.
    mutating func take(_ literal: String) -> Bool {
        skipSpace()
        let utf8 = Array(literal.utf8)
        guard position + utf8.count <= bytes.count, Array(bytes[position..<position + utf8.count]) == utf8 else { return false }
        position += utf8.count
        return true
    }

    /// Consumes a keyword: `word` not followed by a name character.
    mutating func takeWord(_ word: String) -> Bool {
        let saved = position
        guard take(word) else { return false }
        if let next = peek, isNameByte(next) {
            position = saved
            return false
        }
        return true
    }

    mutating func expect(_ literal: String) throws(LogQLParseError) {
        guard take(literal) else { throw fail("expected \"\(literal)\", got \(describeNext())") }
    }

    func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || (b >= 0x30 && b <= 0x39)
    }

    /// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
    mutating func name() -> String? {
        skipSpace()
        guard let first = peek, isNameByte(first), !(first >= 0x30 && first <= 0x39) else { return nil }
        let start = position
        while let b = peek, isNameByte(b) { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    mutating func requireName(_ what: String) throws(LogQLParseError) -> String {
        guard let name = name() else { throw fail("expected \(what), got \(describeNext())") }
        return name
    }

    /// A double-quoted string with Go escapes, or a backquoted raw string.
    mutating func string() throws(LogQLParseError) -> String? {
        skipSpace()
        guard let quote = peek, quote == 0x22 || quote == 0x60 else { return nil }
        let start = position
        position += 1
        var out: [UInt8] = []
        while let byte = peek {
            position += 1
            if byte == quote { return String(decoding: out, as: UTF8.self) }
            guard quote == 0x22, byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            guard let escape = peek else { break }
            position += 1
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"): out.append(escape)
            case UInt8(ascii: "u"):
                guard position + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape in a string") }
                out.append(contentsOf: String(Character(scalar)).utf8)
                position += 4
            default:
                throw fail("unknown escape sequence \"\\\(Character(Unicode.Scalar(escape)))\" in a string")
            }
        }
        throw fail("unterminated string", at: start)
    }

    mutating func requireString(_ what: String) throws(LogQLParseError) -> String {
        guard let value = try string() else { throw fail("expected \(what), got \(describeNext())") }
        return value
    }

    /// The characters of a number, duration or byte size: digits, `.`, letters.
    mutating func quantity() -> (text: String, start: Int)? {
        skipSpace()
        let start = position
        if peek == UInt8(ascii: "-") { position += 1 }
        guard let first = peek, (first >= 0x30 && first <= 0x39) || first == UInt8(ascii: ".") else {
            position = start
            return nil
        }
        while let b = peek, isNameByte(b) || b == UInt8(ascii: ".") || b == 0xC2 || b == 0xB5 { position += 1 }
        return (String(decoding: bytes[start..<position], as: UTF8.self), start)
    }

    // MARK: Grammar

    mutating func logQuery() throws(LogQLParseError) -> LogQuery {
        let matchers = try selector()
        var stages: [PipelineStage] = []
        while let stage = try pipelineStage() { stages.append(stage) }
        return LogQuery(matchers: matchers, stages: stages)
    }

    /// `{name="value", …}`: at least one matcher, and not only ones that match the empty string,
    /// as Loki requires.
    mutating func selector() throws(LogQLParseError) -> [LabelMatcher] {
        skipSpace()
        let start = position
        try expect("{")
        var matchers: [LabelMatcher] = []
        if !take("}") {
            repeat {
                let labelStart = position
                let name = try requireName("a label name")
                skipSpace()
                let kind: LabelMatcher.Kind
                if take("=~") { kind = .regexMatch } else if take("!~") { kind = .regexNoMatch } else if take("!=") {
                    kind = .notEqual
                } else if take("=") { kind = .equal } else {
                    throw fail("expected a matcher operator (=, !=, =~, !~) after \(name)")
                }
                let value = try requireString("a quoted value")
                do {
                    matchers.append(try LabelMatcher(kind, name, value))
                } catch {
                    throw fail("\(error)", at: labelStart)
                }
            } while take(",")
            try expect("}")
        }
        guard !matchers.isEmpty, matchers.contains(where: { !$0.matchesEmpty }) else {
            throw fail("queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will", at: start)
        }
        return matchers
    }

    mutating func pipelineStage() throws(LogQLParseError) -> PipelineStage? {
        skipSpace()
        for kind in [LineFilter.Kind.contains, .notContains, .regex, .notRegex, .pattern, .notPattern] where take(kind.rawValue) {
            var values = [try requireString("a string after \(kind.rawValue)")]
            while takeWord("or") { values.append(try requireString("a string after or")) }
            if kind == .regex || kind == .notRegex {
                for value in values {
                    do { _ = try LinearRegex(value) } catch { throw fail("invalid regex \"\(value)\": \(error)") }
                }
            }
            return .lineFilter(LineFilter(kind: kind, values: values))
        }
        guard take("|") else { return nil }
        let stageStart = position
        if takeWord("json") { return .json(try extractions()) }
        if takeWord("logfmt") {
            var strict = false, keepEmpty = false
            while true {
                if take("--strict") { strict = true } else if take("--keep-empty") { keepEmpty = true } else { break }
            }
            return .logfmt(strict: strict, keepEmpty: keepEmpty, try extractions())
        }
        if takeWord("regexp") {
            let pattern = try requireString("a regular expression")
            do { _ = try LinearRegex(pattern) } catch { throw fail("invalid regex \"\(pattern)\": \(error)", at: stageStart) }
            return .regexp(pattern)
        }
        if takeWord("pattern") { return .pattern(try requireString("a pattern")) }
        if takeWord("unpack") { return .unpack }
        if takeWord("decolorize") { return .decolorize }
        if takeWord("line_format") { return .lineFormat(try requireString("a template")) }
        if takeWord("label_format") {
            var items: [LabelFormatItem] = []
            repeat {
                let destination = try requireName("a label name")
                try expect("=")
                if let template = try string() {
                    items.append(.template(destination: destination, template: template))
                } else {
                    items.append(.rename(destination: destination, source: try requireName("a label name or a template")))
                }
            } while take(",")
            return .labelFormat(items)
        }
        if takeWord("drop") { return .drop(try selections()) }
        if takeWord("keep") { return .keep(try selections()) }
        if takeWord("unwrap") {
            for conversion in [UnwrapConversion.durationSeconds, .duration, .bytes] where takeWord(conversion.rawValue) {
                try expect("(")
                let label = try requireName("a label name")
                try expect(")")
                return .unwrap(label: label, conversion: conversion)
            }
            return .unwrap(label: try requireName("a label name"), conversion: nil)
        }
        return .labelFilter(try labelFilterOr())
    }

    /// `name="expression", …` after `json`/`logfmt`, possibly none.
    mutating func extractions() throws(LogQLParseError) -> [LabelExtraction] {
        let saved = position
        guard let first = name() else { return [] }
        // A name without `=` is the next stage's business (there is none), or a bare label: Loki
        // allows `| json status` meaning `status="status"`.
        var items: [LabelExtraction] = []
        var current: String? = first
        while let label = current {
            if take("=") {
                items.append(LabelExtraction(label: label, expression: try requireString("an extraction expression")))
            } else {
                items.append(LabelExtraction(label: label, expression: label))
            }
            guard take(",") else { break }
            current = try requireName("a label name")
        }
        if items.isEmpty { position = saved }
        return items
    }

    mutating func selections() throws(LogQLParseError) -> [LabelSelection] {
        var items: [LabelSelection] = []
        repeat {
            let start = position
            let name = try requireName("a label name")
            skipSpace()
            var kind: LabelMatcher.Kind?
            if take("=~") { kind = .regexMatch } else if take("!~") { kind = .regexNoMatch } else if take("!=") {
                kind = .notEqual
            } else if take("=") { kind = .equal }
            if let kind {
                let value = try requireString("a quoted value")
                do {
                    items.append(.matcher(try LabelMatcher(kind, name, value)))
                } catch {
                    throw fail("\(error)", at: start)
                }
            } else {
                items.append(.name(name))
            }
        } while take(",")
        return items
    }

    // Label filters: `or` binds looser than `and`; `,` and plain juxtaposition mean `and`.

    mutating func labelFilterOr() throws(LogQLParseError) -> LabelFilterExpr {
        try nest()
        defer { nesting -= 1 }
        var left = try labelFilterAnd()
        while takeWord("or") {
            try countOperator()
            left = .or(left, try labelFilterAnd())
        }
        return left
    }

    /// Enters a nested expression; refuses nesting past `maxNesting`.
    mutating func nest() throws(LogQLParseError) {
        guard nesting < Self.maxNesting else { throw fail("the query nests deeper than \(Self.maxNesting) levels") }
        nesting += 1
    }

    /// Counts a binary operator; refuses more than `maxOperators`.
    mutating func countOperator() throws(LogQLParseError) {
        guard operators < Self.maxOperators else { throw fail("the query has more than \(Self.maxOperators) operators") }
        operators += 1
    }

    mutating func labelFilterAnd() throws(LogQLParseError) -> LabelFilterExpr {
        var left = try labelFilterPrimary()
        while true {
            if takeWord("and") || take(",") {
                try countOperator()
                left = .and(left, try labelFilterPrimary())
                continue
            }
            // `a="x" b="y"`: a second filter right after the first.
            let saved = position
            skipSpace()
            if let next = peek, next == UInt8(ascii: "("), true {
                try countOperator()
                left = .and(left, try labelFilterPrimary())
                continue
            }
            if let word = name(), !["or", "and"].contains(word) {
                position = saved
                try countOperator()
                left = .and(left, try labelFilterPrimary())
                continue
            }
            position = saved
            return left
        }
    }

    mutating func labelFilterPrimary() throws(LogQLParseError) -> LabelFilterExpr {
        if take("(") {
            let inner = try labelFilterOr()
            try expect(")")
            return inner
        }
        let start = position
        let label = try requireName("a label filter")
        skipSpace()
        let operators: [(String, ComparisonOperator?, LabelMatcher.Kind?)] = [
            ("==", .equal, nil), ("!=", .notEqual, .notEqual), (">=", .greaterEqual, nil), ("<=", .lessEqual, nil),
            ("=~", nil, .regexMatch), ("!~", nil, .regexNoMatch), (">", .greater, nil), ("<", .less, nil),
            ("=", .equal, .equal),
        ]
        guard let (symbol, comparison, matcherKind) = operators.first(where: { take($0.0) }) else {
            throw fail("expected a comparison after \(label), got \(describeNext())")
        }
        if let value = try string() {
            guard let matcherKind, symbol != "==" else {
                throw fail("\(symbol) compares numbers, durations or sizes, not the string \"\(value)\"", at: start)
            }
            do {
                return .matcher(try LabelMatcher(matcherKind, label, value))
            } catch {
                throw fail("\(error)", at: start)
            }
        }
        guard let comparison, let (text, textStart) = quantity() else {
            throw fail("expected a value after \(label)\(symbol), got \(describeNext())")
        }
        if let number = Double(text) { return .number(label: label, comparison, number) }
        if let nanoseconds = LogQLValues.durationNanoseconds(text) { return .duration(label: label, comparison, nanoseconds) }
        if let bytes = LogQLValues.bytes(text) { return .bytes(label: label, comparison, bytes) }
        throw fail("invalid value \"\(text)\": not a number, duration or byte size", at: textStart)
    }
}

/// Durations and byte sizes as LogQL writes them (Go's `time.ParseDuration` and humanize's sizes).
public enum LogQLValues {
    /// `1h30m`, `250ms`, `1.5s`, `10us`: nanoseconds (plus LogQL's `d`, `w` and `y`).
    public static func durationNanoseconds(_ text: String) -> Int64? {
        GoDuration.nanoseconds(text)
    }

    /// `10KB`, `1.5MiB`, `42b`: bytes (SI units are powers of 1000, IEC ones of 1024).
    public static func bytes(_ text: String) -> Double? {
        let number = text.prefix { $0.isNumber || $0 == "." || $0 == "-" }
        guard !number.isEmpty, let value = Double(number) else { return nil }
        let unit = text.dropFirst(number.count).lowercased()
        let scales: [String: Double] = [
            "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
            "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
        ]
        guard let scale = scales[unit] else { return nil }
        return value * scale
    }
}
