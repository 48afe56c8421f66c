import Hummingbird
import NIOPosix
import ObsCore
import QueryEngine

/// The parameters of an API call, from the query string and, for form-encoded POSTs (what Grafana
/// sends), from the body, with the Prometheus API's parsing rules and error messages.
struct APIParameters {
    private var values: [(String, String)] = []

    static let maxFormBody = 8 << 20

    static func read(_ request: Request) async throws -> APIParameters {
        var parameters = APIParameters()
        // Decoded here rather than through the router's query parser so that `+` reads as a space, as
        // Go clients (Grafana's backend among them) encode it.
        if let query = request.uri.query {
            parameters.values.append(contentsOf: FormDecoding.pairs(query))
        }
        let contentType = request.headers[.contentType] ?? ""
        if request.method == .post, contentType.lowercased().hasPrefix("application/x-www-form-urlencoded") {
            var request = request
            let body = try await request.collectBody(upTo: maxFormBody)
            parameters.values.append(contentsOf: FormDecoding.pairs(String(buffer: body)))
        }
        return parameters
    }

    init(_ pairs: [(String, String)] = []) { values = pairs }

    func first(_ name: String) -> String? { values.first { $0.0 == name }?.1 }

    func all(_ name: String) -> [String] { values.filter { $0.0 == name }.map(\.1) }

    /// A Prometheus time in milliseconds (Unix seconds with a fraction, or RFC 3339), within
    /// ±`CheckedTime.maxMilliseconds`; `fallback` when absent.
    func time(_ name: String, default fallback: Int64) throws -> Int64 {
        guard let text = first(name), !text.isEmpty else { return fallback }
        guard let value = Self.prometheusTime(text) else {
            throw APIError(.badData, "invalid parameter \"\(name)\": cannot parse \"\(text)\" to a valid timestamp")
        }
        return value
    }

    /// `start` and `end` of the metadata and exemplar APIs: all time when absent.
    func timeRange() throws -> (start: Int64, end: Int64) {
        let start = try time("start", default: .min)
        let end = try time("end", default: .max)
        guard end >= start else { throw APIError(.badData, "end timestamp must not be before start time") }
        return (start, end)
    }

    /// Prometheus's own bounds, which its clients send for "all time", are the widest times taken.
    static let prometheusMinTime = "-292273086-05-16T16:47:06Z"
    static let prometheusMaxTime = "292277025-08-18T07:12:54.999999999Z"

    static func prometheusTime(_ text: String) -> Int64? {
        let limit = CheckedTime.maxMilliseconds
        if text == prometheusMinTime { return -limit }
        if text == prometheusMaxTime { return limit }
        if let value = CheckedTime.number(text, scale: 1000, limit: limit) { return value }
        guard let value = TimeParsing.rfc3339(text), abs(value) <= limit else { return nil }
        return value
    }

    /// A Prometheus duration in milliseconds: float seconds (`15`, `0.5`) or a duration (`1m`). As
    /// Prometheus, a duration whose nanoseconds overflow int64 is refused.
    func duration(_ name: String) throws -> Int64 {
        let text = first(name) ?? ""
        if let seconds = Double(text), seconds.isFinite {
            guard let ms = CheckedTime.scaled(seconds, by: 1000, limit: Int64.max / 1_000_000) else {
                throw APIError(.badData, "invalid parameter \"\(name)\": cannot parse \"\(text)\" to a valid duration. It overflows int64")
            }
            return ms
        }
        if let duration = PrometheusDuration(text) { return duration.milliseconds }
        throw APIError(.badData, "invalid parameter \"\(name)\": cannot parse \"\(text)\" to a valid duration")
    }

    /// A non-negative limit; 0 or absent means none.
    func limit() throws -> Int? {
        guard let text = first("limit"), !text.isEmpty else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw APIError(.badData, "invalid parameter \"limit\": cannot parse \"\(text)\" to a valid limit")
        }
        return value == 0 ? nil : value
    }

    /// An integer parameter within `range`, or `fallback` when absent; `message` words the refusal
    /// in the family's own terms.
    func integer(_ name: String, in range: ClosedRange<Int>, default fallback: Int?, _ message: String) throws -> Int? {
        guard let text = first(name), !text.isEmpty else { return fallback }
        guard let value = Int(text), range.contains(value) else { throw APIError(.badData, message) }
        return value
    }

    /// Loki's time: an integer of up to ten digits is seconds, a longer one nanoseconds, a number
    /// with a fraction or exponent seconds, anything else RFC 3339. Nanoseconds; times past
    /// ±`CheckedTime.maxNanoseconds` (1823–2116) are taken as those bounds, as clients send
    /// "the end of time" as the largest integer.
    static func lokiTime(_ text: String) -> Int64? {
        let limit = CheckedTime.maxNanoseconds
        let digits = text.utf8.count - (text.hasPrefix("-") ? 1 : 0)
        if let integer = Int64(text) {
            guard digits <= 10 else { return CheckedTime.clamped(integer, limit: limit) }
            return CheckedTime.scaled(integer, by: 1_000_000_000, limit: limit) ?? (integer < 0 ? -limit : limit)
        }
        if let seconds = Double(text) {
            guard seconds.isFinite else { return nil }
            return CheckedTime.scaled(seconds, by: 1e9, limit: limit) ?? (seconds < 0 ? -limit : limit)
        }
        var copy = text
        guard let value = copy.withUTF8({ TimeParsing.rfc3339Nanoseconds(UnsafeRawBufferPointer($0)) }) else { return nil }
        return CheckedTime.clamped(value, limit: limit)
    }

    /// A Loki time parameter, or nil when absent.
    func lokiTime(_ name: String) throws -> Int64? {
        guard let text = first(name), !text.isEmpty else { return nil }
        guard let value = Self.lokiTime(text) else { throw APIError(.badData, "cannot parse \"\(text)\" to a valid timestamp") }
        return value
    }

    /// A Loki duration (`step`, `interval`, `since`): float seconds or a duration with units, in
    /// nanoseconds within `0...CheckedTime.maxNanoseconds`; nil when absent.
    func lokiDuration(_ name: String) throws -> Int64? {
        guard let text = first(name), !text.isEmpty else { return nil }
        let value: Int64?
        if let seconds = Double(text) {
            value = CheckedTime.scaled(seconds, by: 1e9, limit: CheckedTime.maxNanoseconds)
        } else {
            value = LogQLValues.durationNanoseconds(text).flatMap { $0 <= CheckedTime.maxNanoseconds ? $0 : nil }
        }
        guard let value, value >= 0 else {
            throw APIError(.badData, "invalid \(name) \"\(text)\": want a duration or a number of seconds up to 146 years")
        }
        return value
    }

    /// An unsigned time in the tracing APIs: a whole number of `scale` nanoseconds (Unix seconds
    /// for Tempo, microseconds for Jaeger, milliseconds for Zipkin), within 0...2^62 ns.
    func unsignedTime(_ name: String, scale: Int64, _ message: @autoclosure () -> String) throws -> UInt64? {
        guard let text = first(name), !text.isEmpty else { return nil }
        guard let value = CheckedTime.number(text, scale: scale, limit: CheckedTime.maxNanoseconds), value >= 0 else {
            throw APIError(.badData, message())
        }
        return UInt64(value)
    }

    /// A Go duration (`100ms`, `1h`) in the tracing APIs, in nanoseconds within 0...2^62.
    func goDuration(_ name: String, _ message: @autoclosure () -> String) throws -> UInt64? {
        guard let text = first(name), !text.isEmpty else { return nil }
        guard let value = GoDuration.nanoseconds(text), value >= 0, value <= CheckedTime.maxNanoseconds else {
            throw APIError(.badData, message())
        }
        return UInt64(value)
    }

    /// Every `match[]` selector, parsed.
    func matchers(required: Bool) throws -> [[LabelMatcher]] {
        let selectors = all("match[]")
        if required && selectors.isEmpty {
            throw APIError(.badData, "no match[] parameter provided")
        }
        return try selectors.map { selector in
            do {
                return try SelectorParser.parse(selector)
            } catch {
                throw APIError(.badData, "invalid parameter \"match[]\": \(error)")
            }
        }
    }
}

/// `application/x-www-form-urlencoded` decoding: `&`-separated pairs, `+` for space, percent escapes.
enum FormDecoding {
    static func pairs(_ body: String) -> [(String, String)] {
        body.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(0x20)
            case UInt8(ascii: "%"):
                if let high = iterator.next(), let low = iterator.next(),
                   let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                    bytes.append(value)
                } else {
                    bytes.append(byte)
                }
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Answers of the APIs that report errors as plain text (Loki, Tempo, Zipkin): `body` runs on the
/// blocking pool with the request's parameters; an `APIError` becomes its message and status.
enum PlainTextAPI {
    static func answer(_ request: Request, _ body: @escaping @Sendable (APIParameters) throws -> String) async throws -> Response {
        do {
            let parameters = try await APIParameters.read(request)
            return Response.json(try await NIOThreadPool.singleton.runIfActive { try body(parameters) })
        } catch let error as APIError {
            return Response.text(error.message + "\n", status: error.status)
        }
    }
}
