import ObsCore

/// What a scrape answered in: Prometheus text 0.0.4 or OpenMetrics 1.0.
public enum ExpositionFormat: Sendable {
    case prometheusText
    case openMetrics

    /// The format a `Content-Type` names; Prometheus text for anything else, as Prometheus does.
    public init(contentType: String?) {
        let type = contentType?.lowercased() ?? ""
        self = type.hasPrefix("application/openmetrics-text") ? .openMetrics : .prometheusText
    }
}

/// A metric family's type from `# TYPE`.
public enum MetricType: String, Sendable, CaseIterable {
    case counter, gauge, histogram, summary, untyped, unknown, gaugehistogram, stateset, info
}

/// Why an exposition could not be read: the line and what was wrong, as the scrape's error.
public struct ExpositionError: Error, Sendable, CustomStringConvertible, Equatable {
    public var line: Int
    public var message: String
    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}

/// A pull parser over the bytes of one scrape. Allocates nothing per sample: a sample's series is
/// a byte range (the cache key of the scrape loop) and its labels are ranges too, turned into
/// strings only when `labels()` is asked for (a series the loop has not seen before).
public struct ExpositionParser: ~Copyable {
    public enum Entry: Equatable {
        /// The current sample: read it through `seriesKey`, `value`, `timestamp`, `labels()`.
        case sample
        /// With `lazyMetadata`: a HELP, TYPE or UNIT line, whose entry `metadataEntry()` builds.
        /// `lineBytes` tell whether it changed since the last scrape.
        case metadata
        case help(name: String, text: String)
        case type(name: String, type: MetricType)
        case unit(name: String, unit: String)
    }

    private let bytes: UnsafeRawBufferPointer
    private let format: ExpositionFormat
    private var offset = 0
    private var lineNumber = 0
    private var sawEOF = false

    // The current sample.
    public private(set) var seriesKey: Range<Int> = 0..<0
    public private(set) var value: Double = 0
    /// Milliseconds, when the exposition gave one.
    public private(set) var timestamp: Int64?
    /// The current sample's exemplar (OpenMetrics): label ranges, value, timestamp in milliseconds.
    private var exemplarLabelRanges: [(name: Range<Int>, value: Range<Int>, escaped: Bool)] = []
    private var exemplarValue: Double?
    private var exemplarTimestamp: Int64?
    private var nameRange: Range<Int> = 0..<0
    private var nameEscaped = false
    /// Label name and value ranges of the current sample; values with escapes are flagged.
    private var labelRanges: [(name: Range<Int>, value: Range<Int>, escaped: Bool)] = []
    /// The family whose `_created` samples are skipped (counters, histograms, summaries).
    private var familyWithCreated: Range<Int>?
    /// The current comment line, its kind, name and text ranges, and its type.
    public private(set) var lineRange: Range<Int> = 0..<0
    private var comment: (keyword: UInt8, name: Range<Int>, text: Range<Int>, type: MetricType?) = (0, 0..<0, 0..<0, nil)
    /// Return `.metadata` for HELP/TYPE/UNIT lines instead of building their strings.
    public var lazyMetadata = false
    /// Only find where a sample's label set ends; `labels()` reads and checks it. A scrape loop
    /// sets this: a series it has seen is identified by its bytes, which were checked then.
    public var lazyLabels = false
    /// Where the current sample's unread label set starts (after `{`), nil once read or absent.
    private var unreadLabels: Int?

    /// `bytes` must outlive the parser.
    public init(_ bytes: UnsafeRawBufferPointer, format: ExpositionFormat) {
        self.bytes = bytes
        self.format = format
        labelRanges.reserveCapacity(16)
    }

    /// The next entry, nil at the end. Throws on the first malformed line.
    public mutating func next() throws(ExpositionError) -> Entry? {
        while offset < bytes.count {
            lineNumber += 1
            let start = offset
            let end: Int
            if let newline = memchr(bytes.baseAddress! + start, 0x0A, bytes.count - start) {
                end = bytes.baseAddress!.distance(to: UnsafeRawPointer(newline))
            } else {
                end = bytes.count
            }
            offset = end + 1
            if sawEOF { throw fail("unexpected data after # EOF") }
            if start == end {
                if format == .openMetrics { throw fail("unexpected empty line") }
                continue
            }
            if bytes[start] == UInt8(ascii: "#") {
                if let entry = try comment(start, end) { return entry }
                continue
            }
            if format == .prometheusText && isBlank(start, end) { continue }
            try sample(start, end)
            if isSkippedCreated() { continue }
            return .sample
        }
        if format == .openMetrics && !sawEOF { throw ExpositionError(line: lineNumber, message: "data does not end with # EOF") }
        return nil
    }

    /// The bytes of the current sample's series (name and labels as written), a cache key.
    public var seriesBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[seriesKey]) }

    /// The current sample's metric name.
    public var metricName: String { text(nameRange, escaped: nameEscaped) }

    /// The current sample's labels, metric name included as `__name__`. Throws the label set's
    /// syntax error when `lazyLabels` deferred reading it.
    public mutating func labels() throws(ExpositionError) -> [Label] {
        if let start = unreadLabels {
            var i = start
            try labelList(&i, seriesKey.upperBound, first: true)
            guard i == seriesKey.upperBound else { throw fail("unexpected \(describe(i)) in the label set") }
            unreadLabels = nil
        }
        var result: [Label] = [Label(Labels.metricName, metricName)]
        for range in labelRanges {
            result.append(Label(text(range.name, escaped: false), text(range.value, escaped: range.escaped)))
        }
        return result
    }

    // MARK: Lines

    private mutating func isBlank(_ start: Int, _ end: Int) -> Bool {
        (start..<end).allSatisfy { bytes[$0] == 0x20 || bytes[$0] == 0x09 || bytes[$0] == 0x0D }
    }

    private mutating func fail(_ message: String) -> ExpositionError {
        ExpositionError(line: lineNumber, message: message)
    }

    /// `# HELP`, `# TYPE`, `# UNIT`, `# EOF`; other comments are skipped (text format only).
    private mutating func comment(_ start: Int, _ end: Int) throws(ExpositionError) -> Entry? {
        var i = start + 1
        if format == .openMetrics && end - start == 5 && matches(i, " EOF") {
            sawEOF = true
            return nil
        }
        guard i < end, bytes[i] == 0x20 || format == .openMetrics else { return nil }
        while i < end && bytes[i] == 0x20 { i += 1 }
        let keywordStart = i
        while i < end && bytes[i] != 0x20 { i += 1 }
        let keyword = bytes[keywordStart..<i]
        let word = keyword.count == 4 ? bytes.loadUnaligned(fromByteOffset: keywordStart, as: UInt32.self) : 0
        let isHelp = word == Self.help, isType = word == Self.type, isUnit = word == Self.unit
        guard isHelp || isType || isUnit else {
            if format == .openMetrics {
                throw fail("invalid comment \"# \(String(decoding: UnsafeRawBufferPointer(rebasing: keyword), as: UTF8.self))\": only HELP, TYPE, UNIT and EOF are allowed")
            }
            return nil
        }
        let label = isHelp ? "HELP" : isType ? "TYPE" : "UNIT"
        guard i < end else { throw fail("# \(label) without a metric name") }
        i += 1
        let nameStart = i
        while i < end && bytes[i] != 0x20 { i += 1 }
        let nameRange = nameStart..<i
        guard isValidMetricName(nameRange) else { throw fail("invalid metric name \"\(text(nameRange, escaped: false))\" in # \(label)") }
        var restStart = i < end ? i + 1 : end
        var restEnd = end
        if !isHelp {
            while restStart < restEnd && (bytes[restStart] == 0x20 || bytes[restStart] == 0x09) { restStart += 1 }
            while restEnd > restStart && (bytes[restEnd - 1] == 0x20 || bytes[restEnd - 1] == 0x09 || bytes[restEnd - 1] == 0x0D) { restEnd -= 1 }
        }
        var type: MetricType?
        if isType {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[restStart..<restEnd])
            let allowed = format == .openMetrics ? Self.openMetricsTypes : Self.textTypes
            guard let found = allowed.first(where: { $0.name.count == rest.count && $0.name.elementsEqual(rest) })?.type else {
                throw fail("invalid metric type \"\(text(restStart..<restEnd, escaped: false))\" for \(text(nameRange, escaped: false))")
            }
            type = found
            familyWithCreated = [.counter, .histogram, .summary, .gaugehistogram].contains(found) ? nameRange : nil
        }
        if isUnit && format != .openMetrics { return nil }
        lineRange = start..<end
        comment = (keywordStart < end ? bytes[keywordStart] : 0, nameRange, restStart..<restEnd, type)
        return lazyMetadata ? .metadata : metadataEntry()
    }

    /// The comment keywords as four-byte words.
    private static let help = word("HELP"), type = word("TYPE"), unit = word("UNIT")
    private static func word(_ text: String) -> UInt32 {
        Array(text.utf8).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }

    /// The types each format allows, spelled as bytes.
    private static let openMetricsTypes = MetricType.allCases.map { (name: Array($0.rawValue.utf8), type: $0) }
    private static let textTypes = openMetricsTypes.filter { [.counter, .gauge, .histogram, .summary, .untyped].contains($0.type) }

    /// The HELP, TYPE or UNIT entry of the current comment line.
    public func metadataEntry() -> Entry {
        let name = text(comment.name, escaped: false)
        switch comment.keyword {
        case UInt8(ascii: "H"):
            return .help(name: name, text: Self.unescapeHelp(text(comment.text, escaped: false)))
        case UInt8(ascii: "T"):
            return .type(name: name, type: comment.type ?? .unknown)
        default:
            return .unit(name: name, unit: text(comment.text, escaped: false))
        }
    }

    /// The bytes of the current comment line.
    public var lineBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[lineRange]) }

    /// OpenMetrics `_created` samples carry a start time, not a value to store.
    private mutating func isSkippedCreated() -> Bool {
        guard format == .openMetrics, let family = familyWithCreated else { return false }
        let suffix = "_created".utf8
        guard nameRange.count == family.count + suffix.count else { return false }
        return bytes[nameRange].starts(with: bytes[family]) && bytes[nameRange].suffix(suffix.count).elementsEqual(suffix)
    }

    private mutating func sample(_ start: Int, _ end: Int) throws(ExpositionError) {
        var i = start
        labelRanges.removeAll(keepingCapacity: true)
        unreadLabels = nil
        nameEscaped = false
        if bytes[i] == UInt8(ascii: "{") {
            // `{"utf8.name", label="v"} 1`: the quoted name comes first inside the braces.
            i += 1
            guard i < end, bytes[i] == 0x22 else { throw fail("expected a quoted metric name after \"{\"") }
            let (range, escaped) = try quoted(&i, end)
            nameRange = range
            nameEscaped = escaped
            try labelList(&i, end, first: false)
        } else {
            let nameStart = i
            while i < end && Self.isNameByte(bytes[i], first: i == nameStart) { i += 1 }
            guard i > nameStart else { throw fail("\(describe(start)) is not a valid start token") }
            nameRange = nameStart..<i
            if i < end && bytes[i] == UInt8(ascii: "{") {
                i += 1
                if lazyLabels {
                    unreadLabels = i
                    do {
                        try skipLabelSet(&i, end)
                    } catch {
                        try reportLabelError()
                        throw error
                    }
                } else {
                    try labelList(&i, end, first: true)
                }
            }
        }
        seriesKey = start..<i
        do {
            try sampleValue(i, end)
        } catch {
            // A line wrong in both places reports its label set first, lazily read or not.
            try reportLabelError()
            throw error
        }
    }

    /// Throws the error of an unread label set, if it has one.
    private mutating func reportLabelError() throws(ExpositionError) {
        guard var i = unreadLabels else { return }
        let end = lineEnd(from: i)
        try labelList(&i, end, first: true)
    }

    private mutating func lineEnd(from i: Int) -> Int {
        guard let newline = memchr(bytes.baseAddress! + i, 0x0A, bytes.count - i) else { return bytes.count }
        return bytes.baseAddress!.distance(to: UnsafeRawPointer(newline))
    }

    /// The value, timestamp and exemplar after the series, from `i` to the line's `end`.
    private mutating func sampleValue(_ start: Int, _ end: Int) throws(ExpositionError) {
        var i = start
        guard i < end, bytes[i] == 0x20 || bytes[i] == 0x09 else { throw fail("expected a space and a value after the series, got \(describe(i))") }
        while i < end && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
        let valueStart = i
        while i < end && bytes[i] != 0x20 && bytes[i] != 0x09 && bytes[i] != 0x0D { i += 1 }
        guard let parsed = number(valueStart..<i) else { throw fail("invalid value \(describe(valueStart, until: i))") }
        value = parsed
        while i < end && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
        timestamp = nil
        if i < end && bytes[i] != 0x0D && bytes[i] != UInt8(ascii: "#") {
            let stampStart = i
            while i < end && bytes[i] != 0x20 && bytes[i] != 0x09 && bytes[i] != 0x0D { i += 1 }
            timestamp = try parseTimestamp(stampStart..<i)
            while i < end && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
        }
        exemplarValue = nil
        if i < end && bytes[i] == UInt8(ascii: "#") {
            // An exemplar (OpenMetrics), read by `exemplar(defaultTimestamp:)`.
            guard format == .openMetrics else { throw fail("unexpected \"#\" after the sample value") }
            try exemplar(i, end)
            return
        }
        if i < end && bytes[i] == 0x0D && i + 1 == end { return }
        guard i == end else { throw fail("unexpected \(describe(i)) after the sample") }
    }

    private mutating func parseTimestamp(_ range: Range<Int>) throws(ExpositionError) -> Int64 {
        if format == .openMetrics {
            guard let seconds = number(range), seconds.isFinite else { throw fail("invalid timestamp \(describe(range.lowerBound, until: range.upperBound))") }
            guard let milliseconds = CheckedTime.scaled(seconds, by: 1000, limit: CheckedTime.maxMilliseconds) else {
                throw fail("timestamp out of range")
            }
            return milliseconds
        }
        var result: Int64 = 0
        var negative = false
        var i = range.lowerBound
        if i < range.upperBound && bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < range.upperBound else { throw fail("invalid timestamp") }
        while i < range.upperBound {
            let digit = bytes[i] &- 0x30
            guard digit < 10 else { throw fail("invalid timestamp \(describe(range.lowerBound, until: range.upperBound))") }
            let (times, overflowA) = result.multipliedReportingOverflow(by: 10)
            let (plus, overflowB) = times.addingReportingOverflow(Int64(digit))
            guard !overflowA && !overflowB else { throw fail("timestamp out of range") }
            result = plus
            i += 1
        }
        return negative ? -result : result
    }

    /// `# {labels} value [timestamp]` after a sample.
    private mutating func exemplar(_ start: Int, _ end: Int) throws(ExpositionError) {
        var i = start + 1
        guard i < end, bytes[i] == 0x20 else { throw fail("expected a space after \"#\" of an exemplar") }
        i += 1
        guard i < end, bytes[i] == UInt8(ascii: "{") else { throw fail("expected exemplar labels") }
        // The exemplar's labels are a set of their own: read them apart from the sample's.
        let saved = labelRanges
        labelRanges.removeAll(keepingCapacity: true)
        i += 1
        try labelList(&i, end, first: true)
        swap(&exemplarLabelRanges, &labelRanges)
        labelRanges = saved
        guard i < end, bytes[i] == 0x20 else { throw fail("expected a space and a value after exemplar labels") }
        i += 1
        let valueStart = i
        while i < end && bytes[i] != 0x20 && bytes[i] != 0x0D { i += 1 }
        guard let value = number(valueStart..<i) else { throw fail("invalid exemplar value") }
        exemplarTimestamp = nil
        if i < end && bytes[i] == 0x20 {
            i += 1
            let stampStart = i
            while i < end && bytes[i] != 0x20 && bytes[i] != 0x0D { i += 1 }
            exemplarTimestamp = try parseTimestamp(stampStart..<i)
        }
        guard i == end || (bytes[i] == 0x0D && i + 1 == end) else { throw fail("unexpected \(describe(i)) after the exemplar") }
        exemplarValue = value
    }

    /// The current sample's exemplar, if it has one; `defaultTimestamp` when it gives none (the
    /// sample's, as Prometheus does).
    public func exemplar(defaultTimestamp: Int64) -> Exemplar? {
        guard let exemplarValue else { return nil }
        let labels = exemplarLabelRanges.map { Label(text($0.name, escaped: false), text($0.value, escaped: $0.escaped)) }
        return Exemplar(labels: Labels(labels), value: exemplarValue, timestamp: exemplarTimestamp ?? defaultTimestamp)
    }

    // MARK: Labels

    /// Reads `name="value", …}` up to and past the closing brace (OpenMetrics rejects a trailing comma).
    private mutating func labelList(_ i: inout Int, _ end: Int, first: Bool) throws(ExpositionError) {
        var expectLabel = first
        while true {
            guard i < end else { throw fail("unterminated label set") }
            if bytes[i] == UInt8(ascii: "}") {
                i += 1
                return
            }
            if !expectLabel {
                guard bytes[i] == UInt8(ascii: ",") else { throw fail("expected \",\" or \"}\" in the label set, got \(describe(i))") }
                i += 1
                if i < end && bytes[i] == UInt8(ascii: "}") {
                    if format == .openMetrics { throw fail("trailing comma in the label set") }
                    i += 1
                    return
                }
            }
            expectLabel = false
            while i < end && bytes[i] == 0x20 { i += 1 }
            let name: Range<Int>
            if i < end && bytes[i] == 0x22 {
                name = try quoted(&i, end).range
            } else {
                let nameStart = i
                while i < end && Self.isLabelNameByte(bytes[i], first: i == nameStart) { i += 1 }
                guard i > nameStart else { throw fail("expected a label name, got \(describe(i))") }
                name = nameStart..<i
            }
            while i < end && bytes[i] == 0x20 { i += 1 }
            guard i < end, bytes[i] == UInt8(ascii: "=") else { throw fail("expected \"=\" after label name, got \(describe(i))") }
            i += 1
            while i < end && bytes[i] == 0x20 { i += 1 }
            guard i < end, bytes[i] == 0x22 else { throw fail("expected a quoted label value, got \(describe(i))") }
            let (value, escaped) = try quoted(&i, end)
            for other in labelRanges where other.name.count == name.count
                && memcmp(bytes.baseAddress! + other.name.lowerBound, bytes.baseAddress! + name.lowerBound, name.count) == 0 {
                throw fail("duplicate label name \"\(text(name, escaped: false))\"")
            }
            labelRanges.append((name, value, escaped))
            while i < end && bytes[i] == 0x20 { i += 1 }
        }
    }

    /// Moves past the `}` closing a label set, minding quotes and escapes only.
    private mutating func skipLabelSet(_ i: inout Int, _ end: Int) throws(ExpositionError) {
        var quoted = false
        while i < end {
            let byte = bytes[i]
            i += 1
            if quoted {
                if byte == UInt8(ascii: "\\") { i += 1 } else if byte == 0x22 { quoted = false }
            } else if byte == 0x22 {
                quoted = true
            } else if byte == UInt8(ascii: "}") {
                return
            }
        }
        throw fail(quoted ? "unterminated quoted string" : "unterminated label set")
    }

    /// A double-quoted string starting at `i`; returns the range inside the quotes.
    private mutating func quoted(_ i: inout Int, _ end: Int) throws(ExpositionError) -> (range: Range<Int>, escaped: Bool) {
        i += 1
        let start = i
        var escaped = false
        while i < end {
            switch bytes[i] {
            case 0x22:
                let range = start..<i
                i += 1
                return (range, escaped)
            case UInt8(ascii: "\\"):
                guard i + 1 < end, [UInt8(ascii: "\\"), 0x22, UInt8(ascii: "n")].contains(bytes[i + 1]) else {
                    throw fail("invalid escape sequence in a quoted string")
                }
                escaped = true
                i += 2
            default:
                i += 1
            }
        }
        throw fail("unterminated quoted string")
    }

    private func text(_ range: Range<Int>, escaped: Bool) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[range])
        guard escaped else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), i + 1 < raw.count {
                out.append(raw[i + 1] == UInt8(ascii: "n") ? 0x0A : raw[i + 1])
                i += 2
            } else {
                out.append(raw[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `\\` and `\n` (and, harmlessly, `\"`) in HELP text; other backslashes stay.
    static func unescapeHelp(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "\\")) else { return text }
        var out = ""
        var escape = false
        for character in text {
            if escape {
                switch character {
                case "n": out.append("\n")
                case "\\", "\"": out.append(character)
                default: out.append("\\"); out.append(character)
                }
                escape = false
            } else if character == "\\" {
                escape = true
            } else {
                out.append(character)
            }
        }
        return out
    }

    // MARK: Bytes

    // Helpers that read `self` are mutating so that they take the parser by address: called as
    // plain methods from the mutating parsing code, each call copied the whole parser.

    private static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F || byte == 0x3A
            || (!first && byte >= 0x30 && byte <= 0x39)
    }

    private static func isLabelNameByte(_ byte: UInt8, first: Bool) -> Bool {
        byte != 0x3A && Self.isNameByte(byte, first: first)
    }

    private mutating func isValidMetricName(_ range: Range<Int>) -> Bool {
        !range.isEmpty && range.allSatisfy { Self.isNameByte(bytes[$0], first: $0 == range.lowerBound) }
    }

    private mutating func matches(_ i: Int, _ literal: String) -> Bool {
        let utf8 = literal.utf8
        return i + utf8.count <= bytes.count && bytes[i..<(i + utf8.count)].elementsEqual(utf8)
    }

    /// Go's `ParseFloat` forms Prometheus accepts: decimals, exponents, hex floats, `NaN`, `±Inf`.
    private mutating func number(_ range: Range<Int>) -> Double? {
        guard !range.isEmpty, range.count < 64 else { return nil }
        if let decimal = plainDecimal(range) { return decimal }
        // Go's ParseFloat takes these names in any case.
        let lowered = bytes[range].map { $0 | 0x20 }
        switch lowered {
        case Array("nan".utf8): return .nan
        case Array("inf".utf8), Array("+inf".utf8), Array("infinity".utf8), Array("+infinity".utf8): return .infinity
        case Array("-inf".utf8), Array("-infinity".utf8): return -.infinity
        default: break
        }
        // strtod would also take forms Go refuses (`nan(…)`, spaces): only number characters pass.
        let hex = lowered.count > 2 && (lowered.starts(with: Array("0x".utf8)) || lowered.dropFirst().starts(with: Array("0x".utf8)))
        for byte in bytes[range] {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "-"),
                 UInt8(ascii: "e"), UInt8(ascii: "E"): continue
            case UInt8(ascii: "x"), UInt8(ascii: "X"), UInt8(ascii: "p"), UInt8(ascii: "P"),
                 UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"):
                if hex { continue }
                return nil
            default:
                return nil
            }
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: range.count + 1) { buffer -> Double? in
            for (i, byte) in bytes[range].enumerated() { buffer[i] = CChar(bitPattern: byte) }
            buffer[range.count] = 0
            var endPointer: UnsafeMutablePointer<CChar>?
            let value = strtod(buffer.baseAddress!, &endPointer)
            guard let endPointer, endPointer == buffer.baseAddress! + range.count, range.count > 0 else { return nil }
            return value
        }
    }

    /// Exact powers of ten a double holds.
    private static let powersOfTen: [Double] = (0...22).map { exponent in (0..<exponent).reduce(1.0) { value, _ in value * 10 } }

    /// Plain decimals (`-12`, `3.25`, `1e-3`) with at most 15 significant digits and a small
    /// exponent: one exact integer and one exact power of ten, so a single multiplication or
    /// division rounds correctly (Clinger's fast path). Anything else is left to `strtod`.
    private mutating func plainDecimal(_ range: Range<Int>) -> Double? {
        var i = range.lowerBound
        let end = range.upperBound
        var negative = false
        if bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        var mantissa: Int64 = 0
        var digits = 0
        var scale = 0
        var sawDigit = false
        while i < end, bytes[i] &- 0x30 < 10 {
            if mantissa != 0 || bytes[i] != 0x30 { digits += 1 }
            mantissa = mantissa &* 10 &+ Int64(bytes[i] &- 0x30)
            sawDigit = true
            i += 1
        }
        if i < end && bytes[i] == UInt8(ascii: ".") {
            i += 1
            while i < end, bytes[i] &- 0x30 < 10 {
                if mantissa != 0 || bytes[i] != 0x30 { digits += 1 }
                mantissa = mantissa &* 10 &+ Int64(bytes[i] &- 0x30)
                scale -= 1
                sawDigit = true
                i += 1
            }
        }
        guard sawDigit, digits <= 15 else { return nil }
        if i < end && (bytes[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            var exponentNegative = false
            if i < end && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) {
                exponentNegative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            var exponent = 0
            var exponentDigits = 0
            while i < end, bytes[i] &- 0x30 < 10, exponentDigits < 4 {
                exponent = exponent * 10 + Int(bytes[i] &- 0x30)
                exponentDigits += 1
                i += 1
            }
            guard exponentDigits > 0 else { return nil }
            scale += exponentNegative ? -exponent : exponent
        }
        guard i == end, scale >= -22, scale <= 22 else { return nil }
        var value = Double(mantissa)
        value = scale < 0 ? value / Self.powersOfTen[-scale] : value * Self.powersOfTen[scale]
        return negative ? -value : value
    }

    private mutating func describe(_ i: Int, until end: Int? = nil) -> String {
        guard i < bytes.count, bytes[i] != 0x0A else { return "end of line" }
        var stop = end ?? i + 1
        if end == nil {
            // A whole token: up to the next separator.
            while stop < bytes.count && ![0x20, 0x0A, 0x09, UInt8(ascii: ","), UInt8(ascii: "}")].contains(bytes[stop]) && stop - i < 40 { stop += 1 }
        }
        return "\"" + String(decoding: UnsafeRawBufferPointer(rebasing: bytes[i..<min(stop, bytes.count)]), as: UTF8.self) + "\""
    }
}
