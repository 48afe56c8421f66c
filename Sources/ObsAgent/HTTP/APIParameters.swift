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

    /// A time in milliseconds; `fallback` when absent.
    func time(_ name: String, default fallback: Int64) throws -> Int64 {
        guard let text = first(name), !text.isEmpty else { return fallback }
        guard let value = TimeParsing.milliseconds(text) else {
            throw APIError(.badData, "invalid parameter \"\(name)\": cannot parse \"\(text)\" to a valid timestamp")
        }
        return value
    }

    /// A non-negative limit; 0 or absent means none.
    func limit() throws -> Int? {
        guard let text = first("limit"), !text.isEmpty else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw APIError(.badData, "invalid parameter \"limit\": cannot parse \"\(text)\" to a valid limit")
        }
        return value == 0 ? nil : value
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
