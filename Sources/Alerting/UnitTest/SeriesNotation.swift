import ObsCore

/// The series notation of PromQL test files and promtool rule unit tests: a metric
/// (`name{label="value"}`) and values one interval apart, with the expanding forms `a+bxN`
/// (a, a+b, …, a+N·b), `a-bxN`, `axN` (a, N+1 times), `_` and `_xN` for missing samples, `stale`
/// for a stale marker, and native histograms `{{schema:0 count:2 sum:3 buckets:[1 1]}}`, also
/// expanded (`{{…}}x2`, `{{…}}+{{…}}x2`).
public enum SeriesNotation {
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// One value at one step: a float, a histogram, a stale marker or nothing.
    public enum Value: Equatable, Sendable {
        case float(Double)
        case histogram(FloatHistogram)
        case missing
    }

    /// The most values one series may expand to, so that a typo (`1x99999999999`) cannot exhaust memory.
    public static let maxValues = 1_000_000

    public static func metric(_ text: String) throws(Invalid) -> Labels {
        let trimmed = text.trimmingWhitespace()
        let brace = trimmed.firstIndex(of: "{") ?? trimmed.endIndex
        let name = String(trimmed[..<brace])
        if !name.isEmpty, !MetricNames.isValid(name) { throw Invalid(description: "invalid metric name \(JSONText.quote(name))") }
        var labels = Labels.empty
        if brace < trimmed.endIndex {
            do {
                labels = try LabelSetParser.parse(String(trimmed[brace...]))
            } catch {
                throw Invalid(description: "bad series \(JSONText.quote(text)): \(error)")
            }
        }
        if !name.isEmpty { labels = labels.setting(Labels.metricName, to: name) }
        guard !labels.isEmpty else { throw Invalid(description: "bad series \(JSONText.quote(text)): no metric name or labels") }
        return labels
    }

    public static func values(_ text: String) throws(Invalid) -> [Value] {
        var out: [Value] = []
        for item in try items(text) {
            try expand(item, into: &out)
            guard out.count <= maxValues else { throw Invalid(description: "more than \(maxValues) values") }
        }
        return out
    }

    /// Splits on spaces outside `{{ }}` and `[ ]`.
    private static func items(_ text: String) throws(Invalid) -> [String] {
        var items: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            switch character {
            case "{", "[": depth += 1
            case "}", "]": depth -= 1
            default: break
            }
            if depth == 0, character == " " || character == "\t" || character == "\n" {
                if !current.isEmpty { items.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        guard depth == 0 else { throw Invalid(description: "unbalanced braces in values \(JSONText.quote(text))") }
        if !current.isEmpty { items.append(current) }
        return items
    }

    private static func expand(_ item: String, into out: inout [Value]) throws(Invalid) {
        if item == "_" { out.append(.missing); return }
        if item == "stale" { out.append(.float(StaleMarker.value)); return }
        // `…xN` at the end: a repetition.
        var head = Substring(item), times: Int?
        if let x = item.lastIndex(of: "x"), !item[item.index(after: x)...].isEmpty,
           item[item.index(after: x)...].allSatisfy(\.isNumber) {
            guard let count = Int(item[item.index(after: x)...]), count <= maxValues else {
                throw Invalid(description: "invalid repetition in \(JSONText.quote(item))")
            }
            head = item[..<x]
            times = count
        }
        if head == "_" {
            guard let times else { return }
            out.append(contentsOf: Array(repeating: .missing, count: times))
            return
        }
        if head.hasPrefix("{{") {
            guard let close = head.firstRange(of: "}}") else { throw Invalid(description: "unterminated histogram in \(JSONText.quote(item))") }
            let start = try histogram(String(head[head.index(head.startIndex, offsetBy: 2)..<close.lowerBound]))
            let rest = head[close.upperBound...]
            var increment: FloatHistogram?
            if !rest.isEmpty {
                guard let sign = rest.first, sign == "+" || sign == "-", rest.dropFirst().hasPrefix("{{"), rest.hasSuffix("}}") else {
                    throw Invalid(description: "invalid histogram expansion \(JSONText.quote(item))")
                }
                var delta = try histogram(String(rest.dropFirst(3).dropLast(2)))
                if sign == "-" { delta = scaled(delta, by: -1) }
                increment = delta
            }
            guard let times else {
                guard increment == nil else { throw Invalid(description: "histogram increment without a repetition in \(JSONText.quote(item))") }
                out.append(.histogram(start))
                return
            }
            var current = start
            out.append(.histogram(current))
            for _ in 0..<times {
                if let increment { current = adding(current, increment) }
                out.append(.histogram(current))
            }
            return
        }
        guard let times else {
            guard let value = number(head) else { throw Invalid(description: "invalid value \(JSONText.quote(item))") }
            out.append(.float(value))
            return
        }
        guard !head.isEmpty else { throw Invalid(description: "invalid value \(JSONText.quote(item))") }
        // `a+b`, `a-b` or `a`: the sign that splits is not the first character nor after an exponent.
        var split: String.Index?
        var index = head.index(after: head.startIndex)
        while index < head.endIndex {
            let character = head[index]
            if character == "+" || character == "-" {
                let before = head[head.index(before: index)]
                if before != "e" && before != "E" {
                    split = index
                    break
                }
            }
            index = head.index(after: index)
        }
        let startText = split.map { head[..<$0] } ?? head
        guard let start = number(startText) else { throw Invalid(description: "invalid value \(JSONText.quote(item))") }
        var step = 0.0
        if let split {
            guard let magnitude = number(head[head.index(after: split)...]) else {
                throw Invalid(description: "invalid increment in \(JSONText.quote(item))")
            }
            step = head[split] == "-" ? -magnitude : magnitude
        }
        for k in 0...times { out.append(.float(start + Double(k) * step)) }
    }

    static func number(_ text: Substring) -> Double? {
        switch text.lowercased() {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan": return .nan
        default:
            guard let first = text.first, first.isNumber || first == "-" || first == "+" || first == "." else { return nil }
            return Double(text)
        }
    }

    /// The inside of `{{ }}`: `key:value` pairs, buckets as `[a b c]`.
    static func histogram(_ text: String) throws(Invalid) -> FloatHistogram {
        var h = FloatHistogram()
        var positive: [Double] = [], negative: [Double] = []
        var offset: Int32 = 0, negativeOffset: Int32 = 0
        var rest = Substring(text)
        func fail() -> Invalid { Invalid(description: "invalid histogram {{\(text)}}") }
        while true {
            rest = rest.drop { $0 == " " }
            if rest.isEmpty { break }
            guard let colon = rest.firstIndex(of: ":") else { throw fail() }
            let key = String(rest[..<colon])
            rest = rest[rest.index(after: colon)...]
            var valueText: Substring
            if rest.first == "[" {
                guard let close = rest.firstIndex(of: "]") else { throw fail() }
                valueText = rest[rest.index(after: rest.startIndex)..<close]
                rest = rest[rest.index(after: close)...]
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                valueText = rest[..<end]
                rest = rest[end...]
            }
            func list() throws(Invalid) -> [Double] {
                var values: [Double] = []
                for part in valueText.split(separator: " ") {
                    guard let value = number(part) else { throw fail() }
                    values.append(value)
                }
                return values
            }
            func scalar() throws(Invalid) -> Double {
                guard let value = number(valueText) else { throw fail() }
                return value
            }
            func integer() throws(Invalid) -> Int32 {
                guard let value = Int32(valueText) else { throw fail() }
                return value
            }
            switch key {
            case "schema": h.schema = try integer()
            case "sum": h.sum = try scalar()
            case "count": h.count = try scalar()
            case "z_bucket": h.zeroCount = try scalar()
            case "z_bucket_w": h.zeroThreshold = try scalar()
            case "buckets": positive = try list()
            case "offset": offset = try integer()
            case "n_buckets": negative = try list()
            case "n_offset": negativeOffset = try integer()
            case "counter_reset_hint":
                switch valueText {
                case "unknown": h.resetHint = .unknown
                case "reset": h.resetHint = .reset
                case "not_reset": h.resetHint = .notReset
                case "gauge": h.resetHint = .gauge
                default: throw fail()
                }
            case "custom_values":
                h.customValues = try list()
            default:
                throw fail()
            }
        }
        h.positive = positive.enumerated().map { FloatHistogram.Bucket(offset + Int32($0.offset), $0.element) }
        h.negative = negative.enumerated().map { FloatHistogram.Bucket(negativeOffset + Int32($0.offset), $0.element) }
        return h
    }

    static func scaled(_ h: FloatHistogram, by factor: Double) -> FloatHistogram {
        var out = h
        out.count *= factor
        out.sum *= factor
        out.zeroCount *= factor
        out.positive = h.positive.map { .init($0.index, $0.count * factor) }
        out.negative = h.negative.map { .init($0.index, $0.count * factor) }
        return out
    }

    /// Bucket-wise sum, as the expansion adds the increment at each step.
    static func adding(_ a: FloatHistogram, _ b: FloatHistogram) -> FloatHistogram {
        func merge(_ x: [FloatHistogram.Bucket], _ y: [FloatHistogram.Bucket]) -> [FloatHistogram.Bucket] {
            var counts: [Int32: Double] = [:]
            for bucket in x + y { counts[bucket.index, default: 0] += bucket.count }
            return counts.keys.sorted().map { .init($0, counts[$0]!) }
        }
        var out = a
        out.count += b.count
        out.sum += b.sum
        out.zeroCount += b.zeroCount
        out.positive = merge(a.positive, b.positive)
        out.negative = merge(a.negative, b.negative)
        return out
    }
}
