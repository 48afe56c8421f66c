import ObsCore
import Templating

/// The functions Loki adds to Go's template built-ins for `line_format` and `label_format`:
/// `__line__`, `__timestamp__`, string, regex, math, encoding and date helpers, with Sprig's
/// argument order: the piped value comes last (`{{ .path | trimPrefix "/api" }}`).
struct LokiTemplateFunctions: TemplateFunctionTable {
    typealias Value = TemplateValue
    typealias Failure = TemplateError

    static let names: Set<String> = [
        "__line__", "__timestamp__",
        "ToLower", "ToUpper", "lower", "upper", "title", "Title", "trunc", "substr", "replace", "Replace", "trim", "trimAll",
        "trimSuffix", "trimPrefix", "TrimSpace", "TrimPrefix", "TrimSuffix", "indent", "nindent", "repeat", "contains",
        "hasPrefix", "hasSuffix", "regexReplaceAll", "regexReplaceAllLiteral", "count", "urlencode", "urldecode", "b64enc",
        "b64dec", "default", "alignLeft", "alignRight", "add", "sub", "mul", "div", "mod", "addf", "subf", "mulf", "divf",
        "max", "min", "maxf", "minf", "ceil", "floor", "round", "int", "float64", "unixEpoch", "unixEpochMillis",
        "unixEpochNanos", "unixToTime", "toDate", "toDateInZone", "date", "now",
    ]

    /// The line being formatted.
    var line: String
    /// Its time, nanoseconds.
    var timestamp: Int64

    func call(_ name: String, _ args: [Value]) throws(TemplateError) -> Value {
        func need(_ count: Int) throws(TemplateError) {
            guard args.count == count else {
                throw Failure("wrong number of args for \(name): want \(count) got \(args.count)")
            }
        }
        func string(_ i: Int) -> String { args[i].text }
        func integer(_ i: Int) -> Int64 { TemplateConversions.int(args[i]) }
        func number(_ i: Int) -> Double { TemplateConversions.float(args[i]) }
        switch name {
        case "__line__": return .string(line)
        case "__timestamp__": return .int(timestamp)
        case "ToLower", "lower": try need(1); return .string(string(0).lowercased())
        case "ToUpper", "upper": try need(1); return .string(string(0).uppercased())
        case "title", "Title": try need(1); return .string(GoStrings.title(string(0)))
        case "trunc":
            try need(2)
            let count = integer(0), text = string(1)
            if count >= 0 { return .string(String(text.prefix(Int(count)))) }
            return .string(String(text.suffix(Int(clamping: count.magnitude))))
        case "substr":
            try need(3)
            let characters = Array(string(2))
            var start = Int(integer(0)), end = Int(integer(1))
            if start < 0 { start = 0 }
            if end < 0 || end > characters.count { end = characters.count }
            return .string(start >= end ? "" : String(characters[start..<end]))
        case "replace", "Replace":
            // Sprig: replace old new text. Go's strings.Replace: text old new n.
            if name == "Replace" {
                try need(4)
                return .string(string(0).replacingAll(string(1), with: string(2)))
            }
            try need(3)
            return .string(string(2).replacingAll(string(0), with: string(1)))
        case "trim", "TrimSpace": try need(1); return .string(string(0).trimmingWhitespace())
        case "trimAll": try need(2); return .string(string(1).trimming { string(0).contains($0) })
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
            let width = max(0, integer(0)), text = string(1)
            let lines = text.utf8.count { $0 == 0x0A } + 1
            try Self.fits(name, width, times: lines, plus: text.utf8.count)
            let pad = String(repeating: " ", count: Int(width))
            let indented = pad + text.replacingAll("\n", with: "\n" + pad)
            return .string(name == "nindent" ? "\n" + indented : indented)
        case "repeat":
            try need(2)
            let count = max(0, integer(0)), text = string(1)
            try Self.fits(name, count, times: text.utf8.count, plus: 0)
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
                throw Failure("\(name): \(error)")
            }
            return .string(regex.replaceAll(in: string(1), with: string(2), literal: name == "regexReplaceAllLiteral"))
        case "count": try need(2); return .int(Int64(string(1).components(separatedBy: string(0)).count - 1))
        case "urlencode":
            try need(1)
            return .string(URLQuery.escape(string(0), spaceAsPlus: true))
        case "urldecode": try need(1); return .string(URLQuery.unescape(string(0)) ?? string(0))
        case "b64enc": try need(1); return .string(Data(string(0).utf8).base64EncodedString())
        case "b64dec":
            try need(1)
            return .string(Data(base64Encoded: string(0)).map { String(decoding: $0, as: UTF8.self) } ?? "")
        case "default":
            try need(2)
            return args[1].isTrue ? args[1] : args[0]
        case "alignLeft", "alignRight":
            try need(2)
            let width = integer(0), text = string(1)
            // As Loki: a negative width leaves the text as it is.
            if width < 0 { return .string(text) }
            if text.count >= width { return .string(String(text.prefix(Int(width)))) }
            try Self.fits(name, width, times: 1, plus: 0)
            let pad = String(repeating: " ", count: Int(width) - text.count)
            return .string(name == "alignLeft" ? text + pad : pad + text)
        case "add", "mul":
            var total: Int64 = name == "add" ? 0 : 1
            for index in args.indices { total = name == "add" ? total &+ (integer(index)) : total &* (integer(index)) }
            return .int(total)
        case "sub": try need(2); return .int(integer(0) &- integer(1))
        case "div", "mod":
            try need(2)
            let divisor = integer(1)
            guard divisor != 0 else { throw Failure("\(name): division by zero") }
            // The minimum integer divided by -1 wraps, as in Go.
            let dividend = integer(0)
            return .int(name == "div" ? dividend.dividedReportingOverflow(by: divisor).partialValue
                                      : dividend.remainderReportingOverflow(dividingBy: divisor).partialValue)
        case "addf", "mulf":
            var total = name == "addf" ? 0.0 : 1.0
            for index in args.indices { total = name == "addf" ? total + (number(index)) : total * (number(index)) }
            return .float(total)
        case "subf": try need(2); return .float(number(0) - number(1))
        case "divf": try need(2); return .float(number(0) / number(1))
        case "max", "min":
            guard !args.isEmpty else { throw Failure("missing argument for \(name)") }
            let values = args.indices.map { integer($0) }
            return .int(name == "max" ? values.max()! : values.min()!)
        case "maxf", "minf":
            guard !args.isEmpty else { throw Failure("missing argument for \(name)") }
            let values = args.indices.map { number($0) }
            return .float(name == "maxf" ? values.max()! : values.min()!)
        case "ceil": try need(1); return .float(number(0).rounded(.up))
        case "floor": try need(1); return .float(number(0).rounded(.down))
        case "round":
            guard args.count == 2 || args.count == 3 else { try need(2); return .none }
            let scale = pow(10, Double(integer(1)))
            return .float((number(0) * scale).rounded(.toNearestOrAwayFromZero) / scale)
        case "int": try need(1); return .int(integer(0))
        case "float64": try need(1); return .float(number(0))
        case "unixEpoch": try need(1); return .int(try Self.timeNanoseconds(args[0]) / 1_000_000_000)
        case "unixEpochMillis": try need(1); return .int(try Self.timeNanoseconds(args[0]) / 1_000_000)
        case "unixEpochNanos": try need(1); return .int(try Self.timeNanoseconds(args[0]))
        case "unixToTime":
            try need(1)
            let text = string(0)
            guard let value = Int64(text) else { throw Failure("unixToTime: invalid epoch \(text)") }
            // Seconds, milliseconds, microseconds or nanoseconds, told apart by their digits.
            let scale: Int64 = switch text.count {
            case ...10: 1_000_000_000
            case 11...13: 1_000_000
            case 14...16: 1_000
            default: 1
            }
            let (nanoseconds, overflow) = value.multipliedReportingOverflow(by: scale)
            guard !overflow else { throw Failure("unixToTime: epoch \(text) is out of range") }
            return .int(nanoseconds)
        case "toDate", "toDateInZone":
            let zone = name == "toDateInZone" ? (args.count == 3 ? string(1) : "UTC") : "Local"
            try need(name == "toDate" ? 2 : 3)
            let layout = string(0), text = string(args.count - 1)
            guard let parsed = GoTime.parse(layout: layout, text, zone: zone) else { return .int(0) }
            return .int(parsed)
        case "date":
            try need(2)
            return .string(GoTime.format(layout: string(0), nanoseconds: try Self.timeNanoseconds(args[1])))
        case "now":
            return .int(Int64(Date().timeIntervalSince1970 * 1e9))
        default:
            throw Failure("function \"\(name)\" not defined")
        }
    }

    /// Times travel as nanoseconds since the epoch.
    static func timeNanoseconds(_ value: Value) throws(TemplateError) -> Int64 {
        switch value {
        case let .int(nanoseconds): return nanoseconds
        default: throw Failure("expected a time, got \(value.text)")
        }
    }

    /// Refuses a result of `count × unit + extra` bytes beyond the template output bound, before building it.
    static func fits(_ name: String, _ count: Int64, times unit: Int, plus extra: Int) throws(TemplateError) {
        let limit = Template.maxOutputBytes
        let (product, overflow) = count.multipliedReportingOverflow(by: Int64(unit))
        guard !overflow, product <= Int64(limit - min(extra, limit)) else {
            throw Failure("\(name): result larger than \(limit) bytes")
        }
    }
}
