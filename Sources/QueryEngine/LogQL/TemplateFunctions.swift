import ObsCore
import Foundation

/// The functions LogQL templates can call: Go's built-ins (`eq`, `and`, `printf`, `len`, …) and the
/// ones Loki adds (`__line__`, `__timestamp__`, string, regex, math, encoding and date helpers),
/// with Sprig's argument order: the piped value comes last (`{{ .path | trimPrefix "/api" }}`).
enum TemplateFunctions {
    typealias Value = TemplateValue

    static func known(_ name: String) -> Bool { names.contains(name) }

    static let names: Set<String> = [
        "__line__", "__timestamp__", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "len", "print", "printf", "println",
        "ToLower", "ToUpper", "lower", "upper", "title", "Title", "trunc", "substr", "replace", "Replace", "trim", "trimAll",
        "trimSuffix", "trimPrefix", "TrimSpace", "TrimPrefix", "TrimSuffix", "indent", "nindent", "repeat", "contains",
        "hasPrefix", "hasSuffix", "regexReplaceAll", "regexReplaceAllLiteral", "count", "urlencode", "urldecode", "b64enc",
        "b64dec", "default", "alignLeft", "alignRight", "add", "sub", "mul", "div", "mod", "addf", "subf", "mulf", "divf",
        "max", "min", "maxf", "minf", "ceil", "floor", "round", "int", "float64", "unixEpoch", "unixEpochMillis",
        "unixEpochNanos", "unixToTime", "toDate", "toDateInZone", "date", "now",
    ]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func call(_ name: String, _ args: [Value], _ context: GoTemplate.Context) throws -> Value {
        func need(_ count: Int) throws {
            guard args.count == count else {
                throw Failure(description: "template: wrong number of args for \(name): want \(count) got \(args.count)")
            }
        }
        func string(_ i: Int) -> String { args[i].string }
        func integer(_ i: Int) throws -> Int64 { try toInt(args[i], name) }
        func number(_ i: Int) throws -> Double { try toFloat(args[i], name) }
        switch name {
        case "__line__": return .string(context.line)
        case "__timestamp__": return .int(context.timestamp)
        case "eq":
            guard let first = args.first else { throw Failure(description: "template: missing argument for eq") }
            return .bool(args.dropFirst().contains { equal(first, $0) })
        case "ne": try need(2); return .bool(!equal(args[0], args[1]))
        case "lt", "le", "gt", "ge":
            try need(2)
            let order = try compare(args[0], args[1])
            switch name {
            case "lt": return .bool(order < 0)
            case "le": return .bool(order <= 0)
            case "gt": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case "and": return args.first { !$0.isTrue } ?? args.last ?? .none
        case "or": return args.first { $0.isTrue } ?? args.last ?? .none
        case "not": try need(1); return .bool(!args[0].isTrue)
        case "len": try need(1); return .int(Int64(string(0).utf8.count))
        case "print": return .string(args.map(\.string).joined())
        case "println": return .string(args.map(\.string).joined(separator: " ") + "\n")
        case "printf":
            guard let format = args.first else { throw Failure(description: "template: missing format for printf") }
            return .string(printf(format.string, Array(args.dropFirst())))
        case "ToLower", "lower": try need(1); return .string(string(0).lowercased())
        case "ToUpper", "upper": try need(1); return .string(string(0).uppercased())
        case "title", "Title": try need(1); return .string(string(0).capitalized)
        case "trunc":
            try need(2)
            let count = try integer(0), text = string(1)
            if count >= 0 { return .string(String(text.prefix(Int(count)))) }
            return .string(String(text.suffix(Int(clamping: count.magnitude))))
        case "substr":
            try need(3)
            let characters = Array(string(2))
            var start = Int(try integer(0)), end = Int(try integer(1))
            if start < 0 { start = 0 }
            if end < 0 || end > characters.count { end = characters.count }
            return .string(start >= end ? "" : String(characters[start..<end]))
        case "replace", "Replace":
            // Sprig: replace old new text. Go's strings.Replace: text old new n.
            if name == "Replace" {
                try need(4)
                return .string(string(0).replacingOccurrences(of: string(1), with: string(2)))
            }
            try need(3)
            return .string(string(2).replacingOccurrences(of: string(0), with: string(1)))
        case "trim", "TrimSpace": try need(1); return .string(string(0).trimmingCharacters(in: .whitespacesAndNewlines))
        case "trimAll": try need(2); return .string(string(1).trimmingCharacters(in: CharacterSet(charactersIn: string(0))))
        case "trimSuffix", "TrimSuffix":
            try need(2)
            let (suffix, text) = name == "trimSuffix" ? (string(0), string(1)) : (string(1), string(0))
            return .string(text.hasSuffix(suffix) ? String(text.dropLast(suffix.count)) : text)
        case "trimPrefix", "TrimPrefix":
            try need(2)
            let (prefix, text) = name == "trimPrefix" ? (string(0), string(1)) : (string(1), string(0))
            return .string(text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text)
        case "indent", "nindent":
            try need(2)
            let width = max(0, try integer(0)), text = string(1)
            let lines = text.utf8.count { $0 == 0x0A } + 1
            try fits(name, width, times: lines, plus: text.utf8.count)
            let pad = String(repeating: " ", count: Int(width))
            let indented = pad + text.replacingOccurrences(of: "\n", with: "\n" + pad)
            return .string(name == "nindent" ? "\n" + indented : indented)
        case "repeat":
            try need(2)
            let count = max(0, try integer(0)), text = string(1)
            try fits(name, count, times: text.utf8.count, plus: 0)
            return .string(String(repeating: text, count: Int(count)))
        case "contains": try need(2); return .bool(string(1).contains(string(0)))
        case "hasPrefix": try need(2); return .bool(string(1).hasPrefix(string(0)))
        case "hasSuffix": try need(2); return .bool(string(1).hasSuffix(string(0)))
        case "regexReplaceAll", "regexReplaceAllLiteral":
            try need(3)
            let regex: LinearRegex
            do {
                regex = try LinearRegex(string(0))
            } catch {
                throw Failure(description: "template: \(name): \(error)")
            }
            return .string(regex.replaceAll(in: string(1), with: string(2), literal: name == "regexReplaceAllLiteral"))
        case "count": try need(2); return .int(Int64(string(1).components(separatedBy: string(0)).count - 1))
        case "urlencode":
            try need(1)
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            return .string(string(0).addingPercentEncoding(withAllowedCharacters: allowed) ?? string(0))
        case "urldecode": try need(1); return .string(string(0).removingPercentEncoding ?? string(0))
        case "b64enc": try need(1); return .string(Data(string(0).utf8).base64EncodedString())
        case "b64dec":
            try need(1)
            return .string(Data(base64Encoded: string(0)).map { String(decoding: $0, as: UTF8.self) } ?? "")
        case "default":
            try need(2)
            return args[1].isTrue ? args[1] : args[0]
        case "alignLeft", "alignRight":
            try need(2)
            let width = try integer(0), text = string(1)
            // As Loki: a negative width leaves the text as it is.
            if width < 0 { return .string(text) }
            if text.count >= width { return .string(String(text.prefix(Int(width)))) }
            try fits(name, width, times: 1, plus: 0)
            let pad = String(repeating: " ", count: Int(width) - text.count)
            return .string(name == "alignLeft" ? text + pad : pad + text)
        case "add", "mul":
            var total: Int64 = name == "add" ? 0 : 1
            for index in args.indices { total = name == "add" ? total &+ (try integer(index)) : total &* (try integer(index)) }
            return .int(total)
        case "sub": try need(2); return .int(try integer(0) &- integer(1))
        case "div", "mod":
            try need(2)
            let divisor = try integer(1)
            guard divisor != 0 else { throw Failure(description: "template: \(name): division by zero") }
            // The minimum integer divided by -1 wraps, as in Go.
            let dividend = try integer(0)
            return .int(name == "div" ? dividend.dividedReportingOverflow(by: divisor).partialValue
                                      : dividend.remainderReportingOverflow(dividingBy: divisor).partialValue)
        case "addf", "mulf":
            var total = name == "addf" ? 0.0 : 1.0
            for index in args.indices { total = name == "addf" ? total + (try number(index)) : total * (try number(index)) }
            return .float(total)
        case "subf": try need(2); return .float(try number(0) - number(1))
        case "divf": try need(2); return .float(try number(0) / number(1))
        case "max", "min":
            guard !args.isEmpty else { throw Failure(description: "template: missing argument for \(name)") }
            let values = try args.indices.map { try integer($0) }
            return .int(name == "max" ? values.max()! : values.min()!)
        case "maxf", "minf":
            guard !args.isEmpty else { throw Failure(description: "template: missing argument for \(name)") }
            let values = try args.indices.map { try number($0) }
            return .float(name == "maxf" ? values.max()! : values.min()!)
        case "ceil": try need(1); return .float(try number(0).rounded(.up))
        case "floor": try need(1); return .float(try number(0).rounded(.down))
        case "round":
            guard args.count == 2 || args.count == 3 else { try need(2); return .none }
            let scale = pow(10, Double(try integer(1)))
            return .float((try number(0) * scale).rounded(.toNearestOrAwayFromZero) / scale)
        case "int": try need(1); return .int(try integer(0))
        case "float64": try need(1); return .float(try number(0))
        case "unixEpoch": try need(1); return .int(try timeNanoseconds(args[0]) / 1_000_000_000)
        case "unixEpochMillis": try need(1); return .int(try timeNanoseconds(args[0]) / 1_000_000)
        case "unixEpochNanos": try need(1); return .int(try timeNanoseconds(args[0]))
        case "unixToTime":
            try need(1)
            let text = string(0)
            guard let value = Int64(text) else { throw Failure(description: "template: unixToTime: invalid epoch \(text)") }
            // Seconds, milliseconds, microseconds or nanoseconds, told apart by their digits.
            let scale: Int64 = switch text.count {
            case ...10: 1_000_000_000
            case 11...13: 1_000_000
            case 14...16: 1_000
            default: 1
            }
            let (nanoseconds, overflow) = value.multipliedReportingOverflow(by: scale)
            guard !overflow else { throw Failure(description: "template: unixToTime: epoch \(text) is out of range") }
            return .int(nanoseconds)
        case "toDate", "toDateInZone":
            let zone = name == "toDateInZone" ? (args.count == 3 ? string(1) : "UTC") : "Local"
            try need(name == "toDate" ? 2 : 3)
            let layout = string(0), text = string(args.count - 1)
            guard let parsed = GoTime.parse(layout: layout, text, zone: zone) else { return .int(0) }
            return .int(parsed)
        case "date":
            try need(2)
            return .string(GoTime.format(layout: string(0), nanoseconds: try timeNanoseconds(args[1])))
        case "now":
            return .int(Int64(Date().timeIntervalSince1970 * 1e9))
        default:
            throw Failure(description: "template: function \"\(name)\" not defined")
        }
    }

    /// Times travel as nanoseconds since the epoch.
    static func timeNanoseconds(_ value: Value) throws -> Int64 {
        switch value {
        case let .int(nanoseconds): return nanoseconds
        default: throw Failure(description: "template: expected a time, got \(value.string)")
        }
    }

    static func toInt(_ value: Value, _ name: String) throws -> Int64 {
        switch value {
        case let .int(number): return number
        case let .float(number): return saturatingInt(number)
        case let .bool(flag): return flag ? 1 : 0
        case let .string(text):
            if let number = Int64(text.trimmingCharacters(in: .whitespaces)) { return number }
            if let number = Double(text.trimmingCharacters(in: .whitespaces)) { return saturatingInt(number) }
            return 0
        case .map, .none: return 0
        }
    }

    /// A float as an integer: truncated, saturating at the integer range; 0 for NaN.
    static func saturatingInt(_ number: Double) -> Int64 {
        if number.isNaN { return 0 }
        if number >= 9.223372036854775807e18 { return .max }
        if number <= -9.223372036854775808e18 { return .min }
        return Int64(number)
    }

    /// The most bytes one function may produce: Loki's default `max_line_size`.
    static let maxResultBytes = 256 << 10

    /// Refuses a result of `count × unit + extra` bytes beyond `maxResultBytes`, before building it.
    static func fits(_ name: String, _ count: Int64, times unit: Int, plus extra: Int) throws {
        let (product, overflow) = count.multipliedReportingOverflow(by: Int64(unit))
        guard !overflow, product <= Int64(maxResultBytes - min(extra, maxResultBytes)) else {
            throw Failure(description: "template: \(name): result larger than \(maxResultBytes) bytes")
        }
    }

    static func toFloat(_ value: Value, _ name: String) throws -> Double {
        switch value {
        case let .int(number): return Double(number)
        case let .float(number): return number
        case let .bool(flag): return flag ? 1 : 0
        case let .string(text): return Double(text.trimmingCharacters(in: .whitespaces)) ?? 0
        case .map, .none: return 0
        }
    }

    static func equal(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case let (.int(x), .float(y)), let (.float(y), .int(x)): Double(x) == y
        default: a == b
        }
    }

    /// Orders two values of one kind, as Go's `lt` family: strings by bytes, numbers by value.
    static func compare(_ a: Value, _ b: Value) throws -> Int {
        switch (a, b) {
        case let (.string(x), .string(y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.int, .int), (.int, .float), (.float, .int), (.float, .float):
            let x = try toFloat(a, "compare"), y = try toFloat(b, "compare")
            return x == y ? 0 : (x < y ? -1 : 1)
        default:
            throw Failure(description: "template: incompatible types for comparison")
        }
    }

    /// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %.Nf %x %X %q %t %%`, with
    /// widths and `-` for left alignment.
    static func printf(_ format: String, _ args: [Value]) -> String {
        var out = ""
        var next = 0
        var characters = format.makeIterator()
        while let character = characters.next() {
            guard character == "%" else {
                out.append(character)
                continue
            }
            var spec = ""
            var verb: Character?
            while let c = characters.next() {
                if c.isLetter || c == "%" {
                    verb = c
                    break
                }
                spec.append(c)
            }
            guard let verb else {
                out += "%!(NOVERB)"
                break
            }
            if verb == "%" {
                out += "%"
                continue
            }
            guard next < args.count else {
                out += "%!\(verb)(MISSING)"
                continue
            }
            let arg = args[next]
            next += 1
            let left = spec.hasPrefix("-")
            let body = left ? String(spec.dropFirst()) : spec
            let parts = body.split(separator: ".", omittingEmptySubsequences: false)
            // Go refuses widths and precisions beyond a million.
            let width = Int(parts.first ?? "") ?? 0
            let precision = parts.count > 1 ? Int(parts[1]) : nil
            if width > 1_000_000 || (parts.first ?? "").count > 7 {
                out += "%!(BADWIDTH)"
                continue
            }
            if let precision, precision > 1_000_000 || parts[1].count > 7 {
                out += "%!(BADPREC)"
                continue
            }
            var text: String
            switch verb {
            case "d":
                switch arg {
                case .int, .float, .bool: text = String((try? toInt(arg, "printf")) ?? 0)
                default: text = "%!d(string=\(arg.string))"
                }
            case "f", "F", "e", "g":
                switch arg {
                case .int, .float:
                    let value = (try? toFloat(arg, "printf")) ?? 0
                    text = verb == "g" ? "\(value)" : String(format: "%.\(precision ?? 6)\(verb == "F" ? "f" : String(verb))", value)
                default: text = "%!\(verb)(string=\(arg.string))"
                }
            case "x", "X":
                switch arg {
                case let .int(value): text = String(value, radix: 16, uppercase: verb == "X")
                default: text = arg.string.utf8.map { String(format: verb == "X" ? "%02X" : "%02x", $0) }.joined()
                }
            case "q": text = "\"" + arg.string.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
            case "t": text = arg.string
            default:
                text = arg.string
                if let precision, verb == "s" { text = String(text.prefix(precision)) }
            }
            if text.count < width {
                let pad = String(repeating: " ", count: width - text.count)
                text = left ? text + pad : pad + text
            }
            out += text
        }
        if next < args.count { out += "%!(EXTRA " + args[next...].map(\.string).joined(separator: ", ") + ")" }
        return out
    }
}
