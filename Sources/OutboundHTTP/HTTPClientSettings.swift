import ObsYAML

/// Prometheus's HTTP client configuration (`http_config` in Alertmanager receivers; inline in
/// scrape configurations): authentication, TLS, redirects, proxies. One type for every outgoing client:
/// scrapes, webhooks, and the clients that will forward data. Keys that would change nothing in
/// this client are refused by name.
public struct HTTPClientSettings: Sendable, Hashable {
    public enum Credentials: Sendable, Hashable {
        case none
        /// `Authorization: <type> <credentials>`; the file is read at each request, so a rotated
        /// token is picked up.
        case authorization(type: String, credentials: String?, file: String?)
        case basic(username: String, password: String?, passwordFile: String?)
    }

    public var credentials = Credentials.none
    public var caFile: String?
    public var ca: String?
    public var certFile: String?
    public var cert: String?
    public var keyFile: String?
    public var key: String?
    public var insecureSkipVerify = false
    public var minVersion: TLSVersionName?
    public var maxVersion: TLSVersionName?
    public var followRedirects = true
    /// `proxy_url` and its companions; nil to connect directly.
    public var proxy: ProxySettings?

    public init() {}

    /// Whether anything about TLS was set (otherwise the client's defaults apply: system roots).
    public var customTLS: Bool {
        ca != nil || caFile != nil || cert != nil || certFile != nil || insecureSkipVerify || minVersion != nil || maxVersion != nil
    }

    /// The keys this type reads, where a configuration holds them inline (scrape configurations).
    public static let keys = ["authorization", "basic_auth", "bearer_token", "bearer_token_file", "tls_config", "follow_redirects",
                              "enable_http2"] + ProxySettings.keys + refusedKeys

    static let refusedKeys = ["oauth2"]

    /// `http_config:` as its own mapping.
    public init(yaml: YAMLValue) throws(ConfigError) {
        try self.init(mapping: try yaml.mapping(allowedKeys: Self.keys))
    }

    /// The keys inline in `map`, which the caller has already checked against its own key list.
    public init(mapping map: YAMLMapping) throws(ConfigError) {
        for key in Self.refusedKeys where map[key] != nil {
            throw map.error(at: key, "\(key) is not supported by obs-agent's HTTP client")
        }
        let bearer: String? = try map.decode("bearer_token")
        let bearerFile: String? = try map.decode("bearer_token_file")
        if bearer != nil && bearerFile != nil {
            throw map.error(at: "bearer_token_file", "at most one of bearer_token & bearer_token_file must be configured")
        }
        if let authorization = map["authorization"] {
            guard bearer == nil && bearerFile == nil else {
                throw map.error(at: "authorization", "authorization is not compatible with bearer_token & bearer_token_file")
            }
            let auth = try authorization.mapping(allowedKeys: ["type", "credentials", "credentials_file"])
            let type: String = try auth.decode("type", default: "Bearer")
            guard type.lowercased() != "basic" else {
                throw auth.error(at: "type", "authorization type cannot be set to \"basic\", use \"basic_auth\" instead")
            }
            let credentials: String? = try auth.decode("credentials")
            let file: String? = try auth.decode("credentials_file")
            if credentials != nil && file != nil {
                throw auth.error(at: "credentials_file", "at most one of authorization credentials & credentials_file must be configured")
            }
            self.credentials = .authorization(type: type, credentials: credentials, file: file)
        } else if bearer != nil || bearerFile != nil {
            credentials = .authorization(type: "Bearer", credentials: bearer, file: bearerFile)
        }
        if let basic = map["basic_auth"] {
            guard case .none = credentials else {
                throw map.error(at: "basic_auth", "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured")
            }
            let auth = try basic.mapping(allowedKeys: ["username", "password", "password_file"])
            let password: String? = try auth.decode("password")
            let passwordFile: String? = try auth.decode("password_file")
            if password != nil && passwordFile != nil {
                throw auth.error(at: "password_file", "at most one of basic_auth password & password_file must be configured")
            }
            credentials = .basic(username: try auth.decode("username", default: ""), password: password, passwordFile: passwordFile)
        }
        if let tls = map["tls_config"] {
            let t = try tls.mapping(allowedKeys: ["ca", "ca_file", "cert", "cert_file", "key", "key_file", "server_name",
                                                  "insecure_skip_verify", "min_version", "max_version"])
            if t["server_name"] != nil {
                throw t.error(at: "server_name", "server_name is not supported: the client verifies the URL's host name")
            }
            ca = try t.decode("ca")
            caFile = try t.decode("ca_file")
            if ca != nil && caFile != nil { throw t.error(at: "ca_file", "at most one of ca and ca_file must be configured") }
            cert = try t.decode("cert")
            certFile = try t.decode("cert_file")
            key = try t.decode("key")
            keyFile = try t.decode("key_file")
            if cert != nil && certFile != nil { throw t.error(at: "cert_file", "at most one of cert and cert_file must be configured") }
            if key != nil && keyFile != nil { throw t.error(at: "key_file", "at most one of key and key_file must be configured") }
            if (cert == nil && certFile == nil) != (key == nil && keyFile == nil) {
                throw t.error(at: cert == nil && certFile == nil ? "key_file" : "cert_file",
                              "exactly one of key or key_file and cert or cert_file must be configured")
            }
            insecureSkipVerify = try t.decode("insecure_skip_verify", default: false)
            for (field, name) in [(\HTTPClientSettings.minVersion, "min_version"), (\.maxVersion, "max_version")] {
                guard let text: String = try t.decode(name) else { continue }
                guard let version = TLSVersionName(rawValue: text) else {
                    throw t.error(at: name, "unknown TLS version: \(text) (want TLS10, TLS11, TLS12 or TLS13)")
                }
                self[keyPath: field] = version
            }
        }
        followRedirects = try map.decode("follow_redirects", default: true)
        proxy = try ProxySettings(mapping: map)
        if try map.decode("enable_http2", default: true) == false {
            throw map.error(at: "enable_http2", "enable_http2: false is not supported: the client negotiates HTTP/2 only over TLS")
        }
    }
}

/// TLS versions as Prometheus's configuration files name them.
public enum TLSVersionName: String, Sendable, Hashable, CaseIterable {
    case tls10 = "TLS10", tls11 = "TLS11", tls12 = "TLS12", tls13 = "TLS13"
}
