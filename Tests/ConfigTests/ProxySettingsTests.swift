@testable import OutboundHTTP
import ObsYAML
import Testing

/// `no_proxy` matching as Go's `httpproxy` does it, and the proxy keys' validation.
struct ProxySettingsTests {
    /// (no_proxy list, host, port, whether the request goes through the proxy)
    static let cases: [(String, String, Int, Bool)] = [
        ("", "example.com", 80, true),
        ("*", "example.com", 80, false),
        ("example.com", "example.com", 443, false),
        ("example.com", "api.example.com", 443, false),
        ("example.com", "badexample.com", 443, true),
        (".example.com", "example.com", 443, true),
        (".example.com", "api.example.com", 443, false),
        ("*.example.com", "api.example.com", 443, false),
        ("*.example.com", "example.com", 443, true),
        ("example.com:8443", "example.com", 443, true),
        ("example.com:8443", "example.com", 8443, false),
        ("10.0.0.0/8", "10.96.0.1", 443, false),
        ("10.0.0.0/8", "11.0.0.1", 443, true),
        ("10.1.2.3", "10.1.2.3", 80, false),
        ("10.1.2.3:9100", "10.1.2.3", 80, true),
        ("fd00::/8", "fd12::1", 80, false),
        ("fd00::/8", "fe80::1", 80, true),
        ("EXAMPLE.com", "Example.COM", 80, false),
        (" a.com , b.com ", "b.com", 80, false),
        // Loopback and localhost never go through the proxy once a list is given.
        ("example.com", "localhost", 80, false),
        ("example.com", "127.0.0.53", 80, false),
        ("example.com", "::1", 80, false),
    ]

    @Test(arguments: cases) func noProxyMatching(list: String, host: String, port: Int, proxied: Bool) {
        #expect(NoProxyList(list).useProxy(host: host, port: port) == proxied)
    }

    static func settings(_ text: String, environment: [String: String] = [:]) throws(ConfigError) -> ProxySettings? {
        let map = try YAMLValue.parse(text, file: "t.yml")!.mapping(allowedKeys: ProxySettings.keys)
        return try ProxySettings(mapping: map, environment: environment)
    }

    @Test func aProxyURLAloneProxiesEverything() throws {
        let proxy = try #require(try Self.settings("proxy_url: http://user:pw@proxy.internal:3128"))
        #expect(proxy.server(for: "http://127.0.0.1:9100/metrics")?.host == "proxy.internal")
        #expect(proxy.server(for: "https://10.0.0.1:10250/metrics")?.port == 3128)
        #expect(proxy.httpProxy?.username == "user" && proxy.httpProxy?.password == "pw")
        let listed = try #require(try Self.settings("proxy_url: socks5://proxy:1080\nno_proxy: 10.0.0.0/8"))
        #expect(listed.server(for: "https://10.0.0.1:10250/metrics") == nil)
        #expect(listed.server(for: "https://[fd00::1]:10250/metrics")?.kind == .socks5)
        #expect(try Self.settings("{}") == nil)
    }

    @Test func fromTheEnvironmentByScheme() throws {
        let proxy = try #require(try Self.settings("proxy_from_environment: true", environment: [
            "https_proxy": "secure-proxy:8443", "HTTP_PROXY": "http://plain-proxy", "NO_PROXY": ".svc,10.0.0.0/8",
        ]))
        #expect(proxy.server(for: "https://api.example.com/x")?.host == "secure-proxy")
        #expect(proxy.server(for: "https://api.example.com/x")?.port == 8443)
        #expect(proxy.server(for: "http://api.example.com/x")?.host == "plain-proxy")
        #expect(proxy.server(for: "http://web.shop.svc:80/x") == nil)
        #expect(try Self.settings("proxy_from_environment: true", environment: [:])?.server(for: "http://a/") == nil)
    }

    /// (configuration, the error's message)
    static let refused: [(String, String)] = [
        ("no_proxy: a.com", "if no_proxy is configured, proxy_url must also be configured"),
        ("proxy_from_environment: true\nproxy_url: http://p:1", "if proxy_from_environment is configured, proxy_url and no_proxy must not be configured"),
        ("proxy_connect_header: {X-A: [b]}", "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured"),
        ("proxy_url: https://p:443", "proxy URL \"https://p:443\": TLS to the proxy itself is not supported (https targets are tunnelled through an http:// proxy with CONNECT)"),
        ("proxy_url: ftp://p", "proxy URL \"ftp://p\": unsupported scheme ftp (want http or socks5)"),
        ("proxy_url: socks5://u:p@p", "proxy URL \"socks5://u:p@p\": SOCKS5 proxies with a user name and password are not supported"),
    ]

    @Test(arguments: refused) func invalidProxySettings(text: String, message: String) {
        #expect(throws: ConfigError.self) { try Self.settings(text) }
        do {
            _ = try Self.settings(text)
        } catch {
            #expect(error.message == message)
        }
    }
}
