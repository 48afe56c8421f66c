import ObsCore
import Hummingbird

/// An error answered in the Prometheus API's JSON shape:
/// `{"status":"error","errorType":"bad_data","error":"…"}` with the status code Prometheus uses.
struct APIError: Error, HTTPResponseError {
    enum Kind: String {
        case badData = "bad_data"
        case execution
        case timeout
        case canceled
        case internalError = "internal"
        case unavailable
        case notFound = "not_found"
        case notAcceptable = "not_acceptable"
        case forbidden
        case tooLarge = "too_large"
    }

    var kind: Kind
    var message: String
    var status: HTTPResponse.Status

    init(_ kind: Kind, _ message: String, status: HTTPResponse.Status? = nil) {
        self.kind = kind
        self.message = message
        self.status = status ?? Self.defaultStatus(kind)
    }

    /// Prometheus's mapping from error type to status code.
    static func defaultStatus(_ kind: Kind) -> HTTPResponse.Status {
        switch kind {
        case .badData: .badRequest
        case .execution: .unprocessableContent
        case .timeout: .serviceUnavailable
        case .canceled: .serviceUnavailable
        case .internalError: .internalServerError
        case .unavailable: .serviceUnavailable
        case .notFound: .notFound
        case .notAcceptable: .notAcceptable
        case .forbidden: .forbidden
        case .tooLarge: .contentTooLarge
        }
    }

    /// The error type reported for a plain HTTP status (errors raised by the framework).
    static func kind(for status: HTTPResponse.Status) -> Kind {
        switch status.code {
        case 404: .notFound
        case 405: .badData
        case 413: .tooLarge
        case 406: .notAcceptable
        case 403: .forbidden
        case 503: .unavailable
        case 400..<500: .badData
        default: .internalError
        }
    }

    var body: String {
        "{\"status\":\"error\",\"errorType\":\"\(kind.rawValue)\",\"error\":\(JSONText.quote(message))}"
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response.json(body, status: status)
    }
}

extension Response {
    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(
            status: status,
            headers: [.contentType: contentType],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
