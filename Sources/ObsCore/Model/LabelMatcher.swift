/// A PromQL/LogQL label matcher: `name = "v"`, `!=`, `=~` or `!~`. Regexes are fully anchored, as in
/// Prometheus. Matching an absent label is matching the empty string. Immutable; thread-safe.
public struct LabelMatcher: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case equal = "="
        case notEqual = "!="
        case regexMatch = "=~"
        case regexNoMatch = "!~"
    }

    public let kind: Kind
    public let name: String
    public let value: String
    let pattern: StringPattern?

    /// Throws `LinearRegex.SyntaxError` when a regex does not compile.
    public init(_ kind: Kind, _ name: String, _ value: String) throws {
        self.kind = kind
        self.name = name
        self.value = value
        switch kind {
        case .equal, .notEqual: pattern = nil
        case .regexMatch, .regexNoMatch: pattern = try StringPattern(anchored: value)
        }
    }

    public func matches(_ candidate: String) -> Bool {
        switch kind {
        case .equal: candidate == value
        case .notEqual: candidate != value
        case .regexMatch: pattern!.matches(candidate)
        case .regexNoMatch: !pattern!.matches(candidate)
        }
    }

    /// Whether the matcher accepts series that lack the label entirely.
    public var matchesEmpty: Bool { matches("") }

    /// For `=` and for regexes that are a plain alternation of literals (`a|b|c`), the exact values that
    /// match; lets an index answer with postings lookups instead of scanning every value.
    public var exactValues: [String]? {
        switch kind {
        case .equal: [value]
        case .regexMatch: pattern?.literalAlternatives
        default: nil
        }
    }

    public var description: String { "\(name)\(kind.rawValue)\(JSONText.quote(value))" }

    public static func == (lhs: LabelMatcher, rhs: LabelMatcher) -> Bool {
        lhs.kind == rhs.kind && lhs.name == rhs.name && lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(name)
        hasher.combine(value)
    }
}

/// A fully anchored regular expression with fast paths for the shapes Grafana and users write most:
/// literals, alternations of literals, `prefix.*`, `.*`, `.+`. Everything else uses RE2 (linear time).
struct StringPattern: Sendable {
    private enum Strategy: Sendable {
        case any
        case nonEmpty
        case literals(Set<String>)
        case prefix(String)
        case general(LinearRegex)
    }

    private let strategy: Strategy
    let literalAlternatives: [String]?

    init(anchored source: String) throws {
        if source == ".*" {
            strategy = .any
            literalAlternatives = nil
        } else if source == ".+" {
            strategy = .nonEmpty
            literalAlternatives = nil
        } else if let literals = Self.literalAlternatives(source) {
            strategy = .literals(Set(literals))
            literalAlternatives = literals
        } else if source.hasSuffix(".*"), let prefix = Self.literalAlternatives(String(source.dropLast(2))),
                  prefix.count == 1 {
            strategy = .prefix(prefix[0])
            literalAlternatives = nil
        } else {
            strategy = .general(try LinearRegex(source, dotMatchesNewline: true))
            literalAlternatives = nil
        }
    }

    func matches(_ candidate: String) -> Bool {
        switch strategy {
        case .any: true
        case .nonEmpty: !candidate.isEmpty
        case .literals(let set): set.contains(candidate)
        case .prefix(let prefix): candidate.hasPrefix(prefix)
        case .general(let regex): regex.wholeMatches(candidate)
        }
    }

    /// `a|b|c` where each branch has no regex metacharacter (backslash-escaped ones are unescaped).
    static func literalAlternatives(_ source: String) -> [String]? {
        var branches: [String] = []
        var current = ""
        var escaped = false
        for character in source {
            if escaped {
                guard "\\.+*?()|[]{}^$".contains(character) else { return nil }
                current.append(character)
                escaped = false
                continue
            }
            switch character {
            case "\\": escaped = true
            case "|":
                branches.append(current)
                current = ""
            case ".", "+", "*", "?", "(", ")", "[", "]", "{", "}", "^", "$": return nil
            default: current.append(character)
            }
        }
        if escaped { return nil }
        branches.append(current)
        return branches
    }
}
