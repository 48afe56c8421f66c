import ObsCore
import ObsYAML
import OutboundHTTP

/// `--web.config.file`, in Prometheus's web configuration format (exporter-toolkit): TLS for the
/// listeners and basic authentication. Keys this agent cannot honour are refused, never ignored.
struct WebConfig: Sendable, Equatable {
    struct TLS: Sendable, Equatable {
        var certFile: String
        var keyFile: String
        var clientAuth: ClientAuth = .none
        var clientCAFile: String?
        var minVersion: TLSVersion = .tls12
        var maxVersion: TLSVersion?
    }

    /// exporter-toolkit's `client_auth_type` values.
    enum ClientAuth: String, Sendable, CaseIterable {
        case none = "NoClientCert"
        case request = "RequestClientCert"
        case requireAny = "RequireAnyClientCert"
        case verifyIfGiven = "VerifyClientCertIfGiven"
        case requireAndVerify = "RequireAndVerifyClientCert"

        var verifies: Bool { self == .verifyIfGiven || self == .requireAndVerify }
    }

    typealias TLSVersion = TLSVersionName

    var tls: TLS?
    /// User name to crypt(3) hash (bcrypt, as Prometheus documents).
    var users: [String: String] = [:]
    /// Extra response headers (`http_server_config.headers`).
    var headers: [(name: String, value: String)] = []

    static func == (lhs: WebConfig, rhs: WebConfig) -> Bool {
        lhs.tls == rhs.tls && lhs.users == rhs.users
            && lhs.headers.map { "\($0.name)\u{0}\($0.value)" } == rhs.headers.map { "\($0.name)\u{0}\($0.value)" }
    }

    static func load(path: String) throws(ConfigError) -> WebConfig {
        let text: String
        do {
            text = try FileIO.readText(path)
        } catch {
            throw ConfigError(file: path, line: nil, column: nil, key: "", message: "cannot read file: \(error)")
        }
        return try parse(text, file: path)
    }

    static func parse(_ text: String, file: String) throws(ConfigError) -> WebConfig {
        var config = WebConfig()
        guard let root = try YAMLValue.parse(text, file: file) else { return config }
        let top = try root.mapping(allowedKeys: ["tls_server_config", "basic_auth_users", "http_server_config"])
        let directory = FileIO.directoryPart(of: file)
        if let tlsNode = top["tls_server_config"], !tlsNode.isNull {
            config.tls = try TLS(yaml: tlsNode, directory: directory)
        }
        if let users = top["basic_auth_users"] {
            for (name, hash) in try users.stringMap() {
                let value = try hash.scalar()
                guard value.hasPrefix("$2") else {
                    throw hash.error("the password of \"\(name)\" must be a bcrypt hash ($2a$, $2b$ or $2y$)")
                }
                config.users[name] = value
            }
        }
        if let server = top["http_server_config"], !server.isNull {
            let map = try server.mapping(allowedKeys: ["http2", "headers"])
            // HTTP/2 is not served: only its absence can be honoured.
            if try map.decode("http2", default: false) {
                throw map.error(at: "http2", "HTTP/2 is not served; set http2: false or remove it")
            }
            for (name, value) in try map["headers"]?.stringMap() ?? [] {
                config.headers.append((name, try value.scalar()))
            }
        }
        return config
    }
}

extension WebConfig.TLS {
    init(yaml: YAMLValue, directory: String) throws(ConfigError) {
        // Prometheus's other TLS keys (cipher suites, curves, allowed SANs) are refused as unknown.
        let map = try yaml.mapping(allowedKeys: ["cert_file", "key_file", "client_auth_type", "client_ca_file",
                                                 "min_version", "max_version"])
        // Relative paths are relative to the web configuration file, as in exporter-toolkit.
        func path(_ key: String) throws(ConfigError) -> String? {
            guard let value: String = try map.decode(key) else { return nil }
            return value.hasPrefix("/") || directory.isEmpty ? value : directory + "/" + value
        }
        guard let cert = try path("cert_file"), !cert.isEmpty else { throw map.error(at: "cert_file", "missing cert_file") }
        guard let key = try path("key_file"), !key.isEmpty else { throw map.error(at: "key_file", "missing key_file") }
        certFile = cert
        keyFile = key
        let authText: String = try map.decode("client_auth_type", default: "NoClientCert")
        guard let auth = WebConfig.ClientAuth(rawValue: authText) else {
            throw map.error(at: "client_auth_type", "invalid ClientAuth: \(authText)")
        }
        clientAuth = auth
        clientCAFile = try path("client_ca_file")
        if clientCAFile != nil && auth == .none {
            throw map.error(at: "client_ca_file", "Client CA's have been configured without a Client Auth Policy")
        }
        if auth.verifies && clientCAFile == nil {
            throw map.error(at: "client_auth_type", "client_ca_file is needed to verify client certificates")
        }
        for key in ["min_version", "max_version"] {
            guard let text: String = try map.decode(key) else { continue }
            guard let version = WebConfig.TLSVersion(rawValue: text) else { throw map.error(at: key, "unknown TLS version: \(text)") }
            if key == "min_version" { minVersion = version } else { maxVersion = version }
        }
    }
}
