import ObsCore

/// Alertmanager's matcher syntax, as routes, inhibit rules, silences (`amtool`) and the API's
/// `filter` parameter write it: `name="value"`, `name=~"re"`, `name!=value` (quotes optional), and
/// lists `{a="b", c!~"d"}` or `a="b",c="d"`. Regexes are anchored and run in linear time.
public enum MatcherSyntax {
    /// One matcher; errors carry Alertmanager's messages.
    public static func parse(_ text: String) throws(AlertmanagerError) -> LabelMatcher {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        func skipSpace() { while index < scalars.count, scalars[index].properties.isWhitespace { index += 1 } }
        skipSpace()
        let nameStart = index
        while index < scalars.count, isNameScalar(scalars[index], first: index == nameStart) { index += 1 }
        let name = String(String.UnicodeScalarView(scalars[nameStart..<index]))
        skipSpace()
        guard !name.isEmpty, index < scalars.count else { throw .matcher("bad matcher format: \(text)") }
        let kind: LabelMatcher.Kind
        let next = index + 1 < scalars.count ? scalars[index + 1] : " "
        switch (scalars[index], next) {
        case ("=", "~"): kind = .regexMatch; index += 2
        case ("!", "="): kind = .notEqual; index += 2
        case ("!", "~"): kind = .regexNoMatch; index += 2
        case ("=", _): kind = .equal; index += 1
        default: throw .matcher("bad matcher format: \(text)")
        }
        skipSpace()
        var end = scalars.count
        while end > index, scalars[end - 1].properties.isWhitespace { end -= 1 }
        let raw = Array(scalars[index..<end])
        let value = try unescape(raw, original: String(String.UnicodeScalarView(raw)))
        do {
            return try LabelMatcher(kind, name, value)
        } catch {
            throw .matcher("invalid regular expression \(JSONText.quote(value)): \(error)")
        }
    }

    /// A list of matchers, with or without braces, separated by commas outside quotes.
    public static func parseList(_ text: String) throws(AlertmanagerError) -> [LabelMatcher] {
        var body = Substring(text).drop { $0.isWhitespace }
        while body.last?.isWhitespace == true { body = body.dropLast() }
        if body.hasPrefix("{") {
            guard body.hasSuffix("}") else { throw .matcher("missing closing '}' in \(text)") }
            body = body.dropFirst().dropLast()
        }
        var parts: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in body {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            switch character {
            case "\\": escaped = true; current.append(character)
            case "\"": quoted.toggle(); current.append(character)
            case "," where !quoted:
                parts.append(current)
                current = ""
            default: current.append(character)
            }
        }
        if !current.trimmingSpaces().isEmpty || !parts.isEmpty { parts.append(current) }
        var result: [LabelMatcher] = []
        for part in parts where !part.trimmingSpaces().isEmpty {
            result.append(try parse(part))
        }
        return result
    }

    /// Alertmanager's rendering of a matcher set, used in route and group keys:
    /// sorted by name, value and type, `{a="b",c=~"d"}`.
    public static func key(_ matchers: [LabelMatcher]) -> String {
        "{" + sorted(matchers).map(\.description).joined(separator: ",") + "}"
    }

    public static func sorted(_ matchers: [LabelMatcher]) -> [LabelMatcher] {
        matchers.sorted { a, b in
            if a.name != b.name { return a.name.utf8.lexicographicallyPrecedes(b.name.utf8) }
            if a.value != b.value { return a.value.utf8.lexicographicallyPrecedes(b.value.utf8) }
            return typeOrder(a.kind) < typeOrder(b.kind)
        }
    }

    static func typeOrder(_ kind: LabelMatcher.Kind) -> Int {
        switch kind {
        case .equal: 0
        case .notEqual: 1
        case .regexMatch: 2
        case .regexNoMatch: 3
        }
    }

    static func isNameScalar(_ scalar: Unicode.Scalar, first: Bool) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "_", ":": true
        case "0"..."9": !first
        default: false
        }
    }

    /// A value, optionally in double quotes, with `\"`, `\\` and `\n` escapes; any other backslash
    /// is literal, and an unescaped quote inside is an error, as in Alertmanager.
    static func unescape(_ raw: [Unicode.Scalar], original: String) throws(AlertmanagerError) -> String {
        var scalars = raw[...]
        var expectClosingQuote = false
        if scalars.first == "\"" {
            scalars = scalars.dropFirst()
            expectClosingQuote = true
        }
        var value = String.UnicodeScalarView()
        var escaped = false
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            let isLast = index == scalars.endIndex - 1
            index += 1
            if escaped {
                escaped = false
                switch scalar {
                case "n": value.append("\n")
                case "\"", "\\": value.append(scalar)
                default:
                    value.append("\\")
                    value.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\\":
                if isLast { value.append("\\") } else { escaped = true }
            case "\"":
                guard expectClosingQuote, isLast else {
                    throw .matcher("matcher value contains unescaped double quote: \(original)")
                }
                expectClosingQuote = false
            default:
                value.append(scalar)
            }
        }
        if expectClosingQuote { throw .matcher("matcher value contains unescaped double quote: \(original)") }
        return String(value)
    }
}

extension Labels {
    /// Whether every matcher accepts these labels (an absent label reads as empty).
    func matches(_ matchers: [LabelMatcher]) -> Bool {
        matchers.allSatisfy { $0.matches(self[$0.name] ?? "") }
    }

    /// Alertmanager's rendering of a label set, used in group keys: `{a="b", c="d"}`, sorted.
    var groupKeyText: String {
        "{" + pairs.map { "\($0.name)=\(JSONText.quote($0.value))" }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .joined(separator: ", ") + "}"
    }

    /// The alert's fingerprint as Alertmanager prints it: 16 hex digits.
    var fingerprintText: String {
        let hex = String(stableHash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
