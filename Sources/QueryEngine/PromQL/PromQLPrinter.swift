import ObsCore

/// Turns an expression back into PromQL text in Prometheus's canonical form (what
/// `/api/v1/format_query` answers), and into the JSON tree of `/api/v1/parse_query`.
public enum PromQLPrinter {
    public static func format(_ expr: Expr) -> String {
        switch expr {
        case let .number(value, text):
            // A duration used as a number (`x * 5m`) prints as the duration, like Prometheus.
            if let text, isDurationLiteral(text) { return (value < 0 ? "-" : "") + durationText(Int64((abs(value) * 1000).rounded())) }
            return goG(value)
        case let .string(text): return JSONText.quote(text)
        case let .duration(duration): return format(duration)
        case let .vectorSelector(selector):
            return selectorText(selector) + modifiersText(selector.modifiers) + (selector.smoothed ? " smoothed" : "")
        case let .matrixSelector(selector, range, mode):
            let suffix = mode == .normal ? "" : " \(mode.rawValue)"
            return selectorText(selector) + "[\(format(range))]" + modifiersText(selector.modifiers) + suffix
        case let .subquery(inner, range, step, modifiers):
            return format(inner) + "[\(format(range)):\(step.map(format) ?? "")]" + modifiersText(modifiers)
        case let .call(function, arguments, _):
            return function.name + "(" + arguments.map(format).joined(separator: ", ") + ")"
        case let .aggregate(aggregate):
            var text = aggregate.op.rawValue
            if aggregate.without {
                text += " without (\(aggregate.grouping.joined(separator: ", "))) "
            } else if !aggregate.grouping.isEmpty {
                text += " by (\(aggregate.grouping.joined(separator: ", "))) "
            }
            let parameter = aggregate.parameter.map { format($0) + ", " } ?? ""
            return text + "(" + parameter + format(aggregate.expr) + ")"
        case let .binary(binary):
            var op = binary.op.rawValue
            if binary.returnBool { op += " bool" }
            op += matchingText(binary.matching)
            return "\(format(binary.lhs)) \(op) \(format(binary.rhs))"
        case let .negate(inner): return "-" + format(inner)
        case let .paren(inner): return "(" + format(inner) + ")"
        }
    }

    static func isDurationLiteral(_ text: String) -> Bool {
        let body = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard let first = body.utf8.first, let last = body.utf8.last, isDigit(first), isLetter(last) else { return false }
        return !body.lowercased().hasPrefix("0x")
    }

    /// ` on (a) group_left (b) fill (0)` and the like; empty for plain matching.
    static func matchingText(_ matching: VectorMatching?) -> String {
        guard let matching else { return "" }
        var text = ""
        if matching.on || !matching.labels.isEmpty {
            text += " \(matching.on ? "on" : "ignoring") (\(matching.labels.joined(separator: ", ")))"
            switch matching.cardinality {
            case .manyToOne: text += " group_left (\(matching.include.joined(separator: ", ")))"
            case .oneToMany: text += " group_right (\(matching.include.joined(separator: ", ")))"
            case .oneToOne: break
            }
        }
        if let l = matching.fillLeft, let r = matching.fillRight, l == r || (l.isNaN && r.isNaN) {
            text += " fill (\(goG(l)))"
        } else {
            if let l = matching.fillLeft { text += " fill_left (\(goG(l)))" }
            if let r = matching.fillRight { text += " fill_right (\(goG(r)))" }
        }
        return text
    }

    static func selectorText(_ selector: VectorSelector) -> String {
        let name = selector.name ?? ""
        var matchers: [String] = []
        for matcher in selector.matchers {
            if matcher.name == Labels.metricName, matcher.kind == .equal, matcher.value == name, !name.isEmpty { continue }
            matchers.append(matcher.description)
        }
        let printedName = name.isEmpty || isLegacyName(name) ? name : ""
        if !name.isEmpty && printedName.isEmpty {
            matchers.insert(JSONText.quote(name), at: 0)
        }
        if matchers.isEmpty { return printedName }
        let first = printedName.isEmpty && !name.isEmpty ? [matchers.removeFirst()] : []
        return printedName + "{" + (first + matchers.sorted()).joined(separator: ",") + "}"
    }

    static func isLegacyName(_ name: String) -> Bool {
        guard let first = name.utf8.first, isIdentifierStart(first) || first == UInt8(ascii: ":") else { return false }
        return name.utf8.allSatisfy { isIdentifierStart($0) || isDigit($0) || $0 == UInt8(ascii: ":") }
    }

    static func modifiersText(_ modifiers: TimeModifiers) -> String {
        var text = ""
        switch modifiers.at {
        case let .timestamp(t)?: text += " @ " + fixed3(Double(t) / 1000)
        case .start?: text += " @ start()"
        case .end?: text += " @ end()"
        case nil: break
        }
        if let offset = modifiers.offset {
            if case let .literal(ms, _) = offset, ms == 0 { return text }
            if case let .literal(ms, _) = offset, ms < 0 {
                text += " offset -" + durationText(Int64(-ms))
            } else {
                text += " offset " + format(offset)
            }
        }
        return text
    }

    public static func format(_ duration: DurationExpr) -> String {
        switch duration {
        case let .literal(ms, _): return ms < 0 ? "-" + durationText(Int64(-ms)) : durationText(Int64(ms))
        case let .number(value, _): return goG(value)
        case .step: return "step()"
        case .range: return "range()"
        case let .negate(inner): return "-" + format(inner)
        case let .paren(inner): return "(" + format(inner) + ")"
        case let .binary(op, a, b): return "\(format(a)) \(op.rawValue) \(format(b))"
        case let .minOf(a, b): return "min_of(\(format(a)), \(format(b)))"
        case let .maxOf(a, b): return "max_of(\(format(a)), \(format(b)))"
        }
    }

    /// Prometheus's duration text: the largest units first, e.g. `1h30m`, `1w`, `250ms`.
    static func durationText(_ milliseconds: Int64) -> String {
        if milliseconds == 0 { return "0s" }
        var ms = milliseconds
        var text = ""
        for (unit, size) in [("y", Int64(365 * 86_400_000)), ("w", 7 * 86_400_000), ("d", 86_400_000),
                             ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if ms >= size {
                text += "\(ms / size)\(unit)"
                ms %= size
            }
        }
        return text
    }

    static func fixed3(_ value: Double) -> String {
        let scaled = (value * 1000).rounded()
        guard scaled.isFinite, abs(scaled) < 9e18 else { return goG(value) }
        let negative = scaled < 0
        let magnitude = Int64(abs(scaled))
        let fraction = String(magnitude % 1000)
        return (negative ? "-" : "") + "\(magnitude / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// A histogram as Prometheus prints it (`count_values` labels):
    /// `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (0.5,1]:1}`, populated buckets only.
    static func histogramText(_ h: FloatHistogram) -> String {
        var out = "{count:\(goG(h.count)), sum:\(goG(h.sum))"
        for bucket in h.negative.reversed() where bucket.count != 0 {
            let (lower, upper) = h.bounds(ofPositive: bucket.index)
            out += ", [\(goG(-upper)),\(goG(-lower))):\(goG(bucket.count))"
        }
        if h.zeroCount != 0 {
            out += ", [\(goG(-h.zeroThreshold)),\(goG(h.zeroThreshold))]:\(goG(h.zeroCount))"
        }
        for bucket in h.positive where bucket.count != 0 {
            let (lower, upper) = h.bounds(ofPositive: bucket.index)
            out += ", (\(goG(lower)),\(goG(upper))]:\(goG(bucket.count))"
        }
        return out + "}"
    }

    /// Go's `%v` for a float: shortest digits, exponent form below 1e-4 and from 1e6 (`1e+06`).
    static func goG(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        // Shortest round-trip digits and the position of the decimal point.
        let text = value.magnitude.description
        var mantissa = Substring(text), power = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            power = Int(text[text.index(after: e)...]) ?? 0
        }
        let dot = mantissa.firstIndex(of: ".") ?? mantissa.endIndex
        var digits = Array(mantissa.filter { $0 != "." })
        var point = mantissa.distance(from: mantissa.startIndex, to: dot) + power
        while digits.count > 1, digits.first == "0" { digits.removeFirst(); point -= 1 }
        while digits.count > 1, digits.last == "0" { digits.removeLast() }
        let exponent = point - 1
        guard exponent < -4 || exponent >= 6 else { return formatValue(value) }
        var out = value < 0 ? "-" : ""
        out.append(digits[0])
        if digits.count > 1 { out += "." + String(digits[1...]) }
        let magnitude = String(abs(exponent))
        return out + "e" + (exponent < 0 ? "-" : "+") + (magnitude.count < 2 ? "0" + magnitude : magnitude)
    }
}


extension PromQLPrinter {
    /// The expression tree as `/api/v1/parse_query` answers it (Prometheus's `translateAST` shape).
    public static func treeJSON(_ expr: Expr) -> String {
        func q(_ s: String) -> String { JSONText.quote(s) }
        func matchers(_ selector: VectorSelector) -> String {
            "[" + selector.matchers.map { "{\"type\":\(q($0.kind.rawValue)),\"name\":\(q($0.name)),\"value\":\(q($0.value))}" }
                .joined(separator: ",") + "]"
        }
        func modifiers(_ m: TimeModifiers) -> String {
            let offset = m.offset.map { Int64($0.milliseconds(step: 0, range: 0)) } ?? 0
            var timestamp = "null", startOrEnd = "null"
            switch m.at {
            case let .timestamp(t)?: timestamp = "\(t)"
            case .start?: startOrEnd = "\"start\""
            case .end?: startOrEnd = "\"end\""
            case nil: break
            }
            return "\"offset\":\(offset),\"timestamp\":\(timestamp),\"startOrEnd\":\(startOrEnd)"
        }
        switch expr {
        case let .number(value, _):
            return "{\"type\":\"numberLiteral\",\"val\":\(q(formatValue(value)))}"
        case let .duration(duration):
            return "{\"type\":\"numberLiteral\",\"val\":\(q(format(duration)))}"
        case let .string(text):
            return "{\"type\":\"stringLiteral\",\"val\":\(q(text))}"
        case let .vectorSelector(s):
            return "{\"type\":\"vectorSelector\",\"name\":\(q(s.name ?? "")),\"matchers\":\(matchers(s)),\(modifiers(s.modifiers))}"
        case let .matrixSelector(s, range, _):
            return "{\"type\":\"matrixSelector\",\"name\":\(q(s.name ?? "")),\"matchers\":\(matchers(s)),\"range\":\(Int64(range.milliseconds(step: 0, range: 0))),\(modifiers(s.modifiers))}"
        case let .subquery(inner, range, step, m):
            let stepMs = step.map { Int64($0.milliseconds(step: 0, range: 0)) } ?? 0
            return "{\"type\":\"subquery\",\"expr\":\(treeJSON(inner)),\"range\":\(Int64(range.milliseconds(step: 0, range: 0))),\"step\":\(stepMs),\(modifiers(m))}"
        case let .call(function, arguments, _):
            let types = function.argumentTypes.map { q($0.rawValue) }.joined(separator: ",")
            return "{\"type\":\"call\",\"func\":{\"name\":\(q(function.name)),\"argTypes\":[\(types)],\"variadic\":\(function.variadic),\"returnType\":\(q(function.returnType.rawValue))},\"args\":[" + arguments.map(treeJSON).joined(separator: ",") + "]}"
        case let .aggregate(a):
            let param = a.parameter.map(treeJSON) ?? "null"
            return "{\"type\":\"aggregation\",\"op\":\(q(a.op.rawValue)),\"expr\":\(treeJSON(a.expr)),\"param\":\(param),\"grouping\":[" + a.grouping.map(q).joined(separator: ",") + "],\"without\":\(a.without)}"
        case let .binary(b):
            var matching = "null"
            if let m = b.matching {
                let card = switch m.cardinality {
                case .oneToOne: "one-to-one"
                case .manyToOne: "many-to-one"
                case .oneToMany: "one-to-many"
                }
                matching = "{\"card\":\(q(card)),\"labels\":[" + m.labels.map(q).joined(separator: ",") + "],\"on\":\(m.on),\"include\":[" + m.include.map(q).joined(separator: ",") + "]}"
            }
            return "{\"type\":\"binaryExpr\",\"op\":\(q(b.op.rawValue)),\"lhs\":\(treeJSON(b.lhs)),\"rhs\":\(treeJSON(b.rhs)),\"matching\":\(matching),\"bool\":\(b.returnBool)}"
        case let .negate(inner):
            return "{\"type\":\"unaryExpr\",\"op\":\"-\",\"expr\":\(treeJSON(inner))}"
        case let .paren(inner):
            return "{\"type\":\"parenExpr\",\"expr\":\(treeJSON(inner))}"
        }
    }
}

extension PromQLPrinter {
    /// Lines longer than this are split, as Prometheus's `format_query` does.
    static let lineLimit = 100

    /// The canonical form spread over several lines where a node's one-line form is longer than
    /// 100 characters: binary operands, aggregation and call arguments and parenthesised
    /// expressions each go on their own, indented line (what `/api/v1/format_query` answers).
    public static func pretty(_ expr: Expr) -> String { pretty(expr, level: 0) }

    static func pretty(_ expr: Expr, level: Int) -> String {
        let pad = String(repeating: "  ", count: level)
        let flat = format(expr)
        switch expr {
        case let .aggregate(aggregate) where flat.count > lineLimit:
            var text = pad + aggregate.op.rawValue
            if aggregate.without {
                text += " without (\(aggregate.grouping.joined(separator: ", "))) "
            } else if !aggregate.grouping.isEmpty {
                text += " by (\(aggregate.grouping.joined(separator: ", "))) "
            }
            text += "(\n"
            if let parameter = aggregate.parameter { text += pretty(parameter, level: level + 1) + ",\n" }
            return text + pretty(aggregate.expr, level: level + 1) + "\n" + pad + ")"
        case let .binary(binary) where flat.count > lineLimit:
            var op = binary.op.rawValue + (binary.returnBool ? " bool" : "")
            op += matchingText(binary.matching)
            return pretty(binary.lhs, level: level + 1) + "\n" + pad + op + "\n" + pretty(binary.rhs, level: level + 1)
        case let .call(function, arguments, _) where flat.count > lineLimit:
            let body = arguments.map { pretty($0, level: level + 1) }.joined(separator: ",\n")
            return pad + function.name + "(\n" + body + "\n" + pad + ")"
        case let .paren(inner) where flat.count > lineLimit:
            return pad + "(\n" + pretty(inner, level: level + 1) + "\n" + pad + ")"
        case let .subquery(inner, range, step, modifiers) where flat.count > lineLimit:
            return pretty(inner, level: level) + "[\(format(range)):\(step.map(format) ?? "")]" + modifiersText(modifiers)
        case let .negate(inner):
            let child = pretty(inner, level: level).trimmingSpaces()
            return pad + "-" + child
        default:
            return pad + flat
        }
    }
}
