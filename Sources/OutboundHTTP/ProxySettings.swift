import ObsCore
import ObsYAML

/// `proxy_url`, `no_proxy`, `proxy_from_environment` and `proxy_connect_header` with Prometheus's
/// (Go's) semantics: a proxy URL alone proxies every request; with `no_proxy`, or from the
/// environment, hosts matching the list and loopback hosts go direct.
public struct ProxySettings: Sendable, Hashable {
    /// A proxy server: an HTTP proxy (CONNECT tunnels) or a SOCKS5 one.
    public struct Server: Sendable, Hashable {
        public enum Kind: Sendable, Hashable { case http, socks5 }
        public var kind: Kind
        public var host: String
        public var port: Int
        public var username: String?
        public var password: String?
    }

    /// The proxy for `http://` and for `https://` URLs (the same server unless from the environment).
    public var httpProxy: Server?
    public var httpsProxy: Server?
    public var noProxy: NoProxyList?
    /// Sent on each CONNECT request to the proxy (`Proxy-Authorization` for instance).
    public var connectHeaders: [String: [String]] = [:]

    public static let keys = ["proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header"]

    /// The proxy keys inline in `map`; nil when none is set.
    init?(mapping map: YAMLMapping, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) {
        let url: String? = try map.decode("proxy_url")
        let noProxy: String? = try map.decode("no_proxy")
        let fromEnvironment: Bool = try map.decode("proxy_from_environment", default: false)
        if fromEnvironment && (url != nil || noProxy != nil) {
            throw map.error(at: "proxy_from_environment", "if proxy_from_environment is configured, proxy_url and no_proxy must not be configured")
        }
        if noProxy != nil && url == nil {
            throw map.error(at: "no_proxy", "if no_proxy is configured, proxy_url must also be configured")
        }
        if let headers = map["proxy_connect_header"] {
            guard url != nil || fromEnvironment else {
                throw map.error(at: "proxy_connect_header", "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured")
            }
            for (key, value) in try headers.stringMap() {
                connectHeaders[key] = try [String](yaml: value)
            }
        }
        if let url {
            let server = try Self.server(url) { (message) throws(ConfigError) in throw map.error(at: "proxy_url", message) }
            httpProxy = server
            httpsProxy = server
            self.noProxy = noProxy.map(NoProxyList.init)
        } else if fromEnvironment {
            func variable(_ name: String) -> String? {
                (environment[name] ?? environment[name.lowercased()]).flatMap { $0.isEmpty ? nil : $0 }
            }
            let fail = { (message: String) throws(ConfigError) -> Never in throw map.error(at: "proxy_from_environment", message) }
            httpProxy = try variable("HTTP_PROXY").map { (text) throws(ConfigError) in try Self.server(text, fail: fail) }
            httpsProxy = try variable("HTTPS_PROXY").map { (text) throws(ConfigError) in try Self.server(text, fail: fail) }
            self.noProxy = NoProxyList(variable("NO_PROXY") ?? "")
        } else {
            return nil
        }
    }

    /// A proxy URL as Go reads one: a bare `host:port` means `http://host:port`.
    static func server(_ text: String, fail: (String) throws(ConfigError) -> Never) throws(ConfigError) -> Server {
        let withScheme = text.contains("://") ? text : "http://" + text
        guard let url = URLComponents(string: withScheme), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            try fail("invalid proxy URL \"\(text)\"")
        }
        let kind: Server.Kind
        switch scheme {
        case "http": kind = .http
        case "socks5": kind = .socks5
        case "https": try fail("proxy URL \"\(text)\": TLS to the proxy itself is not supported (https targets are tunnelled through an http:// proxy with CONNECT)")
        default: try fail("proxy URL \"\(text)\": unsupported scheme \(scheme) (want http or socks5)")
        }
        if kind == .socks5 && url.user != nil {
            try fail("proxy URL \"\(text)\": SOCKS5 proxies with a user name and password are not supported")
        }
        let port = url.port ?? (kind == .socks5 ? 1080 : 80)
        guard (1...65535).contains(port) else { try fail("proxy URL \"\(text)\": invalid port") }
        return Server(kind: kind, host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: port,
                      username: url.user, password: url.password)
    }

    /// The proxy to use for `url`, nil to connect directly.
    public func server(for url: String) -> Server? {
        guard let components = URLComponents(string: url), let host = components.host else { return httpProxy }
        let https = components.scheme?.lowercased() == "https"
        guard let server = https ? httpsProxy : httpProxy else { return nil }
        if let noProxy {
            let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
            if !noProxy.useProxy(host: bare, port: components.port ?? (https ? 443 : 80)) { return nil }
        }
        return server
    }
}

/// Go's `NO_PROXY` list: `*`, IP addresses, CIDR ranges and domain names (each with an optional
/// port); a name matches itself and its subdomains, `.name` and `*.name` only subdomains.
/// Loopback addresses and `localhost` never go through the proxy once a list is in use.
public struct NoProxyList: Sendable, Hashable {
    struct Domain: Sendable, Hashable {
        /// With a leading dot.
        var suffix: String
        var matchesItself: Bool
        var port: Int?
    }

    var everything = false
    var addresses: [(bytes: [UInt8], port: Int?)] = []
    var networks: [IPNetwork] = []
    var domains: [Domain] = []

    public init(_ text: String) {
        for raw in text.split(separator: ",") {
            let entry = raw.trimmingSpaces().lowercased()
            if entry.isEmpty { continue }
            if entry == "*" {
                everything = true
                continue
            }
            if let network = IPNetwork(entry) {
                networks.append(network)
                continue
            }
            let (host, port) = Self.splitHostPort(entry)
            if let bytes = IPNetwork.parse(host) {
                addresses.append((bytes, port))
                continue
            }
            var name = host.hasPrefix("*.") ? String(host.dropFirst()) : host
            let itself = !name.hasPrefix(".")
            if itself { name = "." + name }
            domains.append(Domain(suffix: name, matchesItself: itself, port: port))
        }
    }

    public func useProxy(host rawHost: String, port: Int) -> Bool {
        let host = rawHost.lowercased()
        if everything || host == "localhost" { return false }
        let ip = IPNetwork.parse(host)
        if let ip {
            if IPNetwork.isLoopback(ip) { return false }
            if addresses.contains(where: { $0.bytes == ip && ($0.port == nil || $0.port == port) }) { return false }
            if networks.contains(where: { $0.contains(ip) }) { return false }
        }
        for domain in domains where host.hasSuffix(domain.suffix) || (domain.matchesItself && host == domain.suffix.dropFirst()) {
            if domain.port == nil || domain.port == port { return false }
        }
        return true
    }

    static func splitHostPort(_ entry: String) -> (String, Int?) {
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
            let host = String(entry[entry.index(after: entry.startIndex)..<close])
            let rest = entry[entry.index(after: close)...]
            return (host, rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        // More than one colon is a bare IPv6 address.
        if let colon = entry.lastIndex(of: ":"), entry.firstIndex(of: ":") == colon, let port = Int(entry[entry.index(after: colon)...]) {
            return (String(entry[..<colon]), port)
        }
        return (entry, nil)
    }

    public static func == (a: NoProxyList, b: NoProxyList) -> Bool {
        a.everything == b.everything && a.networks == b.networks && a.domains == b.domains
            && a.addresses.map(\.bytes) == b.addresses.map(\.bytes) && a.addresses.map(\.port) == b.addresses.map(\.port)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(everything)
        hasher.combine(networks)
        hasher.combine(domains)
        for address in addresses {
            hasher.combine(address.bytes)
            hasher.combine(address.port)
        }
    }
}

/// An IPv4 or IPv6 network in CIDR notation.
struct IPNetwork: Sendable, Hashable {
    var bytes: [UInt8]
    var prefix: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let bytes = Self.parse(String(parts[0])), let prefix = Int(parts[1]),
              (0...bytes.count * 8).contains(prefix) else { return nil }
        self.bytes = bytes
        self.prefix = prefix
    }

    func contains(_ address: [UInt8]) -> Bool {
        guard address.count == bytes.count else { return false }
        var remaining = prefix
        for (a, b) in zip(address, bytes) where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if a & mask != b & mask { return false }
            remaining -= 8
        }
        return true
    }

    /// The address's bytes (4 or 16), nil when `text` is not an IP address.
    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func isLoopback(_ bytes: [UInt8]) -> Bool {
        if bytes.count == 4 { return bytes[0] == 127 }
        // ::1, or an IPv4-mapped loopback address.
        return bytes == Array(repeating: 0, count: 15) + [1]
            || (bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127)
    }
}
