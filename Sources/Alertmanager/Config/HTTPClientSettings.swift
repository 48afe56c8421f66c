import ObsYAML

/// Prometheus's `http_config` for an outgoing client (webhooks here): authentication and TLS.
/// Keys that would change nothing in this client are refused by name.
public struct HTTPClientSettings: Sendable, Equatable {
    public enum Credentials: Sendable, Equatable {
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
    public var keyFile: String?
    public var insecureSkipVerify = false
    public var followRedirects = true

    public init() {}

    static let refusedKeys = ["oauth2", "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header"]

    public init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["authorization", "basic_auth", "bearer_token", "bearer_token_file", "tls_config",
                                                 "follow_redirects", "enable_http2"] + Self.refusedKeys)
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
            let t = try tls.mapping(allowedKeys: ["ca", "ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"])
            if t["server_name"] != nil {
                throw t.error(at: "server_name", "server_name is not supported: the client verifies the URL's host name")
            }
            ca = try t.decode("ca")
            caFile = try t.decode("ca_file")
            if ca != nil && caFile != nil { throw t.error(at: "ca_file", "at most one of ca and ca_file must be configured") }
            certFile = try t.decode("cert_file")
            keyFile = try t.decode("key_file")
            if (certFile == nil) != (keyFile == nil) {
                throw t.error(at: certFile == nil ? "key_file" : "cert_file", "exactly one of key or key_file and cert or cert_file must be configured")
            }
            insecureSkipVerify = try t.decode("insecure_skip_verify", default: false)
        }
        followRedirects = try map.decode("follow_redirects", default: true)
        if try map.decode("enable_http2", default: true) == false {
            throw map.error(at: "enable_http2", "enable_http2: false is not supported: the client negotiates HTTP/2 only over TLS")
        }
    }
}
