import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

/// The HTTP clients outgoing requests share: AsyncHTTPClient fixes redirects and the proxy per
/// client, so there is one client per redirect policy and proxy in use, made when first needed.
/// Connections are pooled within each.
public final class OutboundClients: Sendable {
    struct Key: Hashable {
        var followRedirects: Bool
        var proxy: ProxySettings.Server?
        var connectHeaders: [String: [String]]
    }

    private let base: HTTPClient.Configuration
    private let maxRedirects: Int
    private let clients = Mutex<[Key: HTTPClient]>([:])

    /// `configure` sets what every client shares (timeouts, pool sizes).
    public init(maxRedirects: Int = 10, configure: (inout HTTPClient.Configuration) -> Void = { _ in }) {
        var configuration = HTTPClient.Configuration()
        configure(&configuration)
        base = configuration
        self.maxRedirects = maxRedirects
    }

    /// The client for a request to `url` under `settings`.
    public func client(for settings: HTTPClientSettings, url: String) -> HTTPClient {
        let server = settings.proxy?.server(for: url)
        let key = Key(followRedirects: settings.followRedirects, proxy: server,
                      connectHeaders: server == nil ? [:] : settings.proxy?.connectHeaders ?? [:])
        return clients.withLock { clients in
            if let client = clients[key] { return client }
            var configuration = base
            configuration.redirectConfiguration = key.followRedirects ? .follow(max: maxRedirects, allowCycles: false) : .disallow
            configuration.proxy = server.map { Self.proxy($0, headers: key.connectHeaders) }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    public static func proxy(_ server: ProxySettings.Server, headers: [String: [String]]) -> HTTPClient.Configuration.Proxy {
        switch server.kind {
        case .socks5:
            return .socksServer(host: server.host, port: server.port)
        case .http:
            let authorization = server.username.map { HTTPClient.Authorization.basic(username: $0, password: server.password ?? "") }
            var connect = HTTPHeaders()
            for (name, values) in headers.sorted(by: { $0.key < $1.key }) {
                for value in values { connect.add(name: name, value: value) }
            }
            return .server(host: server.host, port: server.port, authorization: authorization, connectHeaders: connect)
        }
    }

    public func shutdown() async {
        let all = clients.withLock { clients in
            defer { clients = [:] }
            return Array(clients.values)
        }
        for client in all { try? await client.shutdown() }
    }
}
