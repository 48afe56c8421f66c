import ObsCore
import AsyncHTTPClient
import NIOCore
import NIOPosix
import OutboundHTTP

/// What every forwarder does the same way: POST a body with its own headers under the
/// destination's client settings, and run blocking file work off the cooperative pool.
enum ForwardingHTTP {
    /// The status code and the start of the answer's body; throws on transport errors.
    static func post(_ body: ByteBuffer, to url: String, headers: [(String, String)], extraHeaders: [String: String],
                     settings: HTTPClientSettings, clients: OutboundClients, timeout: Int64) async throws -> (status: Int?, message: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "User-Agent", value: "obs-agent")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        for (name, value) in extraHeaders { request.headers.replaceOrAdd(name: name, value: value) }
        try settings.apply(to: &request)
        request.body = .bytes(body)
        let response = try await clients.client(for: settings, url: url).execute(request, timeout: .milliseconds(timeout))
        let text = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
        return (Int(response.status.code), text.trimmingWhitespace())
    }

    static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }
}
