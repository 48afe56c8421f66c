import ObsCore

/// LogQL in canonical form, for `format_query` and for tests: one space around pipes, strings
/// quoted with Go escapes, numeric label filters without spaces (`status>=400`).
extension LogQuery: CustomStringConvertible {
    public var description: String {
        "{" + matchers.map(\.description).joined(separator: ", ") + "}" + stages.map { " " + $0.description }.joined()
    }
}

extension PipelineStage: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .lineFilter(filter):
            return filter.kind.rawValue + " " + filter.values.map(JSONText.quote).joined(separator: " or ")
        case let .json(extractions):
            return "| json" + Self.extractions(extractions)
        case let .logfmt(strict, keepEmpty, extractions):
            return "| logfmt" + (strict ? " --strict" : "") + (keepEmpty ? " --keep-empty" : "") + Self.extractions(extractions)
        case let .regexp(pattern): return "| regexp " + JSONText.quote(pattern)
        case let .pattern(pattern): return "| pattern " + JSONText.quote(pattern)
        case .unpack: return "| unpack"
        case .decolorize: return "| decolorize"
        case let .labelFilter(filter): return "| " + filter.description
        case let .lineFormat(template): return "| line_format " + JSONText.quote(template)
        case let .labelFormat(items):
            return "| label_format " + items.map { item in
                switch item {
                case let .rename(destination, source): destination + "=" + source
                case let .template(destination, template): destination + "=" + JSONText.quote(template)
                }
            }.joined(separator: ", ")
        case let .drop(items): return "| drop " + Self.selections(items)
        case let .keep(items): return "| keep " + Self.selections(items)
        case let .unwrap(label, conversion):
            return "| unwrap " + (conversion.map { "\($0.rawValue)(\(label))" } ?? label)
        }
    }

    private static func extractions(_ items: [LabelExtraction]) -> String {
        items.isEmpty ? "" : " " + items.map { $0.label + "=" + JSONText.quote($0.expression) }.joined(separator: ", ")
    }

    private static func selections(_ items: [LabelSelection]) -> String {
        items.map { item in
            switch item {
            case let .name(name): name
            case let .matcher(matcher): matcher.description
            }
        }.joined(separator: ", ")
    }
}

extension LabelFilterExpr: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .matcher(matcher): matcher.description
        case let .number(label, op, value): label + op.rawValue + LogQLValues.format(value)
        case let .duration(label, op, nanoseconds): label + op.rawValue + LogQLValues.formatDuration(nanoseconds)
        case let .bytes(label, op, value): label + op.rawValue + LogQLValues.format(value) + "B"
        case let .and(left, right): Self.grouped(left) + " and " + Self.grouped(right)
        case let .or(left, right): left.description + " or " + right.description
        }
    }

    /// An `or` inside an `and` keeps its parentheses.
    private static func grouped(_ expr: LabelFilterExpr) -> String {
        if case .or = expr { return "(" + expr.description + ")" }
        return expr.description
    }
}

extension LogQLValues {
    /// A number as Go writes it (`%v`, `FormatFloat(v, 'f', -1, 64)` for sample values): integers
    /// without a fraction, `NaN`, `+Inf`, `-Inf`.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Nanoseconds as Go's `time.Duration.String`: `1h30m0s`, `1.5s`, `250ms`, `10µs`.
    public static func formatDuration(_ nanoseconds: Int64) -> String {
        if nanoseconds == 0 { return "0s" }
        let negative = nanoseconds < 0
        let value = nanoseconds.magnitude
        var text: String
        if value < 1_000_000_000 {
            let (unit, scale): (String, UInt64) = value < 1000 ? ("ns", 1) : value < 1_000_000 ? ("µs", 1000) : ("ms", 1_000_000)
            text = fraction(value, scale) + unit
        } else {
            let hours = value / 3_600_000_000_000
            let minutes = value / 60_000_000_000 % 60
            let seconds = value % 60_000_000_000
            text = ""
            if hours > 0 { text += "\(hours)h" }
            if hours > 0 || minutes > 0 { text += "\(minutes)m" }
            text += fraction(seconds, 1_000_000_000) + "s"
        }
        return negative ? "-" + text : text
    }

    /// `value / scale` with the fraction's trailing zeros dropped.
    private static func fraction(_ value: UInt64, _ scale: UInt64) -> String {
        let whole = value / scale, rest = value % scale
        guard rest > 0 else { return "\(whole)" }
        var digits = String(rest + scale).dropFirst()
        while digits.hasSuffix("0") { digits = digits.dropLast() }
        return "\(whole).\(digits)"
    }
}
