import AsyncHTTPClient
import ObsCore
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// The agent's HTTP API as obsctl uses it. One client per command run.
struct AgentClient {
    let baseURL: String
    let timeout: TimeAmount
    /// The `Authorization` header value: basic credentials or a bearer token.
    var authorization: String?
    var http: HTTPClient

    private static let shared = Mutex<HTTPClient?>(nil)

    /// A command talks to one agent once: fail at the first refused connection instead of retrying
    /// until the deadline as a long-running service would. One client serves the process (the
    /// first command's TLS settings) and lives as long as it, so it is never shut down.
    static func httpClient(tls: TLSConfiguration?) -> HTTPClient {
        shared.withLock { client in
            if let client { return client }
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.tlsConfiguration = tls
            let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            client = made
            return made
        }
    }

    struct Reply {
        var status: Int
        var body: ByteBuffer
        var text: String { String(buffer: body) }
    }

    /// GET `path`. Transport failures become `ObsctlError.unreachable` naming the URL.
    func get(_ path: String) async throws -> Reply {
        try await send(.GET, path)
    }

    /// Sends `method` to `path`, with a JSON body if given.
    func send(_ method: HTTPMethod, _ path: String, json body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        do {
            let response = try await http.execute(request, timeout: timeout)
            let answer = try await response.body.collect(upTo: 256 * 1024 * 1024)
            return Reply(status: Int(response.status.code), body: answer)
        } catch {
            throw ObsctlError.unreachable(url: baseURL + path, reason: Self.reason(error))
        }
    }

    /// An Alertmanager API v2 call: the decoded JSON of a 2xx answer, or Alertmanager's error
    /// message (a JSON string or `{code, message}`) as an `ObsctlError`.
    func alertmanager(_ method: HTTPMethod = .GET, _ path: String, json body: String? = nil) async throws -> Any? {
        let reply = try await send(method, path, json: body)
        let decoded = JSONDocument.parse(reply.body)
        guard (200..<300).contains(reply.status) else {
            let message = decoded as? String ?? (decoded as? [String: Any])?["message"] as? String ?? reply.text
            throw ObsctlError.api(status: reply.status, type: "alertmanager", message: message.trimmingWhitespace())
        }
        return decoded
    }

    /// A short, human reason for a transport failure.
    static func reason(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("Connection refused") { return "connection refused (is the agent running?)" }
        if text.contains("deadlineExceeded") || text.contains("readTimeout") { return "timed out" }
        if text.contains("connectTimeout") { return "connection timed out" }
        return text
    }

    /// GET a Prometheus-style API endpoint and return its `data` member, raising the API's own error
    /// message when it answers `status: error`.
    func apiData(_ path: String) async throws -> Any {
        try await apiEnvelope(path).data
    }

    /// Like `apiData`, with the whole envelope: the raw body (for `--output json`) and the warnings
    /// and infos the agent attached.
    func apiEnvelope(_ path: String) async throws -> (data: Any, body: String, notes: [String]) {
        let reply = try await get(path)
        let object = JSONDocument.parse(reply.body)
        guard let envelope = object as? [String: Any] else {
            throw ObsctlError.badResponse(url: baseURL + path, status: reply.status, detail: String(reply.text.prefix(200)))
        }
        if envelope["status"] as? String == "error" {
            throw ObsctlError.api(
                status: reply.status, type: envelope["errorType"] as? String ?? "", message: envelope["error"] as? String ?? "")
        }
        guard reply.status == 200, let data = envelope["data"] else {
            throw ObsctlError.badResponse(url: baseURL + path, status: reply.status, detail: String(reply.text.prefix(200)))
        }
        let notes = (envelope["warnings"] as? [String] ?? []) + (envelope["infos"] as? [String] ?? [])
        return (data, reply.text, notes)
    }

    /// `path?name=value&…` with the values percent-encoded.
    static func path(_ path: String, _ parameters: [(String, String)]) -> String {
        let query = parameters.map { name, value in "\(name)=\(URLQuery.escape(value, spaceAsPlus: false))" }
        return path + "?" + query.joined(separator: "&")
    }
}

enum ObsctlError: Error, CustomStringConvertible {
    case unreachable(url: String, reason: String)
    case badResponse(url: String, status: Int, detail: String)
    case api(status: Int, type: String, message: String)

    var description: String {
        switch self {
        case let .unreachable(url, reason): "cannot reach \(url): \(reason)"
        case let .badResponse(url, status, detail): "unexpected answer from \(url) (HTTP \(status)): \(detail)"
        case let .api(status, type, message): "\(type) (HTTP \(status)): \(message)"
        }
    }
}
