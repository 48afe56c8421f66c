import ObsCore
import QueryEngine
import Templating

/// The functions Prometheus gives alert and console templates: number formatting (`humanize*`),
/// strings, regexes, links, and `query` with its helpers (`first`, `label`, `value`, `sortByLabel`).
/// Output matches Go's formatting exactly (`%.4g`).
public struct PrometheusTemplateFunctions: TemplateFunctionTable {
    public static let names: Set<String> = [
        "humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp", "toTime", "title",
        "toUpper", "toLower", "stripPort", "stripDomain", "match", "reReplaceAll", "query", "first", "label", "value",
        "strvalue", "sortByLabel", "args", "safeHtml", "graphLink", "tableLink", "externalURL", "pathPrefix", "parseDuration",
    ]

    /// Runs `query`; nil where templates may not query (rule-file checks).
    var querier: (any RuleQuerier)?
    /// The evaluation time `query` runs at, milliseconds.
    var time: Int64
    var externalURL: String

    public init(querier: (any RuleQuerier)?, time: Int64, externalURL: String) {
        self.querier = querier
        self.time = time
        self.externalURL = externalURL
    }

    public func call(_ name: String, _ args: [TemplateValue]) throws(TemplateError) -> TemplateValue {
        func need(_ count: Int) throws(TemplateError) {
            guard args.count == count else { throw TemplateError("wrong number of args for \(name): want \(count) got \(args.count)") }
        }
        func string(_ index: Int) throws(TemplateError) -> String {
            guard case let .string(text) = args[index] else {
                throw TemplateError("wrong type for value; expected string; got \(args[index].text)")
            }
            return text
        }
        switch name {
        case "humanize": try need(1); return .string(Self.humanize(try Self.float(args[0])))
        case "humanize1024": try need(1); return .string(Self.humanize1024(try Self.float(args[0])))
        case "humanizeDuration": try need(1); return .string(Self.humanizeDuration(try Self.float(args[0])))
        case "humanizePercentage": try need(1); return .string(Self.g4(try Self.float(args[0]) * 100) + "%")
        case "humanizeTimestamp":
            try need(1)
            let seconds = try Self.float(args[0])
            if !seconds.isFinite { return .string(Self.g4(seconds)) }
            return .string(try Self.timeText(seconds))
        case "toTime":
            try need(1)
            return .string(try Self.timeText(try Self.float(args[0])))
        case "title": try need(1); return .string(GoStrings.title(try string(0)))
        case "toUpper": try need(1); return .string(try string(0).uppercased())
        case "toLower": try need(1); return .string(try string(0).lowercased())
        case "stripPort": try need(1); return .string(Self.stripPort(try string(0)))
        case "stripDomain": try need(1); return .string(Self.stripDomain(try string(0)))
        case "match":
            try need(2)
            return .bool(try Self.regex(try string(0)).occurs(in: try string(1)))
        case "reReplaceAll":
            try need(3)
            return .string(try Self.regex(try string(0)).replaceAll(in: try string(2), with: try string(1), literal: false))
        case "query":
            try need(1)
            guard let querier else { throw TemplateError("query is not available here") }
            let samples: [Sample]
            let expr = try string(0)
            do {
                samples = try querier.vector(expr, at: time)
            } catch {
                throw TemplateError(error.description)
            }
            return .list(samples.map { Self.record($0) })
        case "first":
            try need(1)
            guard case let .list(elements) = args[0] else { throw TemplateError("first() needs a query result") }
            guard let first = elements.first else { throw TemplateError("first() called on vector with no elements") }
            return first
        case "label":
            try need(2)
            guard case let .map(labels) = args[1][field: "Labels"] else { return .string("") }
            return .string(labels[try string(0)] ?? "")
        case "value":
            try need(1)
            return args[0][field: "Value"]
        case "strvalue":
            try need(1)
            guard case let .map(labels) = args[0][field: "Labels"] else { return .string("") }
            return .string(labels["__value__"] ?? "")
        case "sortByLabel":
            try need(2)
            let label = try string(0)
            guard case let .list(elements) = args[1] else { throw TemplateError("sortByLabel needs a query result") }
            func key(_ element: TemplateValue) -> String {
                guard case let .map(labels) = element[field: "Labels"] else { return "" }
                return labels[label] ?? ""
            }
            // Stable, as Go's sort.Stable.
            let sorted = elements.enumerated().sorted { lhs, rhs in
                let (a, b) = (key(lhs.element), key(rhs.element))
                return a == b ? lhs.offset < rhs.offset : a.utf8.lexicographicallyPrecedes(b.utf8)
            }
            return .list(sorted.map(\.element))
        case "args":
            return .record(args.enumerated().map { TemplateValue.Field("arg\($0.offset)", $0.element) })
        case "safeHtml": try need(1); return .string(try string(0))
        case "graphLink", "tableLink":
            try need(1)
            return .string("/graph?g0.expr=" + URLQuery.escape(try string(0), spaceAsPlus: true) + "&g0.tab=" + (name == "graphLink" ? "0" : "1"))
        case "externalURL": try need(0); return .string(externalURL)
        case "pathPrefix":
            try need(0)
            return .string(URLComponents(string: externalURL)?.path ?? "")
        case "parseDuration":
            try need(1)
            let text = try string(0)
            guard let duration = PrometheusDuration(text) else { throw TemplateError("not a valid duration string: \"\(text)\"") }
            return .float(duration.seconds)
        default:
            throw TemplateError("function \"\(name)\" not defined")
        }
    }

    /// A query result sample as templates see it: `.Labels` and `.Value`.
    static func record(_ sample: Sample) -> TemplateValue {
        var labels: [String: String] = [:]
        for label in sample.labels { labels[label.name] = label.value }
        return .record([TemplateValue.Field("Labels", .map(labels)), TemplateValue.Field("Value", .float(sample.point.f))])
    }

    static func regex(_ pattern: String) throws(TemplateError) -> LinearRegex {
        do {
            return try LinearRegex(pattern)
        } catch {
            throw TemplateError("error parsing regexp: \(error)")
        }
    }

    /// Prometheus's `convertToFloat`: floats, integers and numeric strings.
    static func float(_ value: TemplateValue) throws(TemplateError) -> Double {
        switch value {
        case let .float(number): return number
        case let .int(number): return Double(number)
        case let .string(text):
            guard let number = Double(text) else { throw TemplateError("strconv.ParseFloat: parsing \(JSONText.quote(text)): invalid syntax") }
            return number
        default:
            throw TemplateError("can't convert \(value.text) to float")
        }
    }

    /// Go's `%.4g`.
    static func g4(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return CFormat.double("%.4g", value)
    }

    static func humanize(_ value: Double) -> String {
        if value == 0 || !value.isFinite { return g4(value) }
        var v = value
        var prefix = ""
        if abs(v) >= 1 {
            for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
                if abs(v) < 1000 { break }
                prefix = p
                v /= 1000
            }
        } else {
            for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
                if abs(v) >= 1 { break }
                prefix = p
                v *= 1000
            }
        }
        return g4(v) + prefix
    }

    static func humanize1024(_ value: Double) -> String {
        if abs(value) <= 1 || !value.isFinite { return g4(value) }
        var v = value
        var prefix = ""
        for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
            if abs(v) < 1024 { break }
            prefix = p
            v /= 1024
        }
        return g4(v) + prefix
    }

    static func humanizeDuration(_ value: Double) -> String {
        if !value.isFinite { return g4(value) }
        if value == 0 { return g4(value) + "s" }
        if abs(value) >= 1 {
            let sign = value < 0 ? "-" : ""
            let v = abs(value)
            let duration = v >= 9.2e18 ? Int64.max : Int64(v)
            let seconds = duration % 60, minutes = (duration / 60) % 60, hours = (duration / 3600) % 24, days = duration / 86400
            if days != 0 { return "\(sign)\(days)d \(hours)h \(minutes)m \(seconds)s" }
            if hours != 0 { return "\(sign)\(hours)h \(minutes)m \(seconds)s" }
            if minutes != 0 { return "\(sign)\(minutes)m \(seconds)s" }
            return sign + g4(v) + "s"
        }
        var v = value
        var prefix = ""
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if abs(v) >= 1 { break }
            prefix = p
            v *= 1000
        }
        return g4(v) + prefix + "s"
    }

    /// Go's `time.Time.String()` in UTC for seconds since the epoch, at millisecond precision as
    /// Prometheus's `model.Time` keeps it.
    static func timeText(_ seconds: Double) throws(TemplateError) -> String {
        let nanoseconds = seconds * 1e9
        guard nanoseconds.isFinite, abs(nanoseconds) < 9.2e18 else {
            throw TemplateError("\(GoFloat.format(seconds)) cannot be represented as a nanoseconds timestamp since it overflows int64")
        }
        let milliseconds = Int64(nanoseconds) / 1_000_000
        return GoTime.format(layout: "2006-01-02 15:04:05.999999999 -0700 MST", nanoseconds: milliseconds * 1_000_000)
    }

    /// Go's `net.SplitHostPort` host, or the text unchanged when it has no port.
    static func stripPort(_ hostPort: String) -> String {
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]"), hostPort[hostPort.index(after: close)...].hasPrefix(":") else { return hostPort }
            return String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
        }
        guard let colon = hostPort.lastIndex(of: ":"), !hostPort[..<colon].contains(":") else { return hostPort }
        return String(hostPort[..<colon])
    }

    /// The host's first DNS label, keeping a port: `db.example.com:5432` → `db:5432`. IP addresses
    /// are left alone.
    static func stripDomain(_ hostPort: String) -> String {
        var host = hostPort, port = ""
        let stripped = stripPort(hostPort)
        if stripped != hostPort {
            host = stripped
            port = String(hostPort.dropFirst(hostPort.hasPrefix("[") ? stripped.count + 2 : stripped.count))
        }
        if host.contains(":") || host.split(separator: ".").allSatisfy({ Int($0) != nil }) { return hostPort }
        guard let dot = host.firstIndex(of: ".") else { return hostPort }
        return String(host[..<dot]) + port
    }
}
