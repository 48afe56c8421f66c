import ObsCore
import CShims
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ObsYAML
import Synchronization

/// The web configuration in force, kept current as exporter-toolkit keeps it: the file is read again
/// when it changes (users can be added without a restart), and so are the certificate, key and
/// client CA (a renewed certificate is served from the next connection). A change that does not
/// load leaves what was in force and is logged. Whether TLS is on is fixed at startup.
final class WebSecurity: Sendable {
    private struct State {
        var config: WebConfig
        var configSignature: FileSignature?
        /// One context per ALPN protocol list (none for HTTP/1.1, `h2` for gRPC).
        var contexts: [[String]: NIOSSLContext] = [:]
        var tlsSignature: [FileSignature?] = []
        /// Verdicts of bcrypt checks, so a client that sends the same credentials on every request
        /// (Grafana does) pays bcrypt's cost once. Cleared when the users change or it grows large.
        var verdicts: [String: Bool] = [:]
    }

    let path: String?
    let tlsEnabled: Bool
    private let state: Mutex<State>
    private let logger: Logger

    /// Loads the file; a bad file is a startup error.
    init(path: String?, logger: Logger) throws {
        self.path = path
        self.logger = logger
        let config = try path.map { path throws(ConfigError) in try WebConfig.load(path: path) } ?? WebConfig()
        tlsEnabled = config.tls != nil
        state = Mutex(State(config: config, configSignature: path.flatMap(FileSignature.init(path:))))
        if tlsEnabled { _ = try sslContext() }
    }

    /// The configuration, read again first if its file changed.
    func current() -> WebConfig {
        guard let path else { return state.withLock { $0.config } }
        let signature = FileSignature(path: path)
        if let config = state.withLock({ $0.configSignature == signature ? $0.config : nil }) { return config }
        do {
            let fresh = try WebConfig.load(path: path)
            return state.withLock { state in
                if fresh.users != state.config.users { state.verdicts.removeAll() }
                state.config = fresh
                state.configSignature = signature
                return fresh
            }
        } catch {
            logger.error("Web configuration unreadable; the previous one stays in force", metadata: ["file": "\(path)", "err": "\(error)"])
            return state.withLock { state in
                state.configSignature = signature
                return state.config
            }
        }
    }

    /// The TLS context for a new connection, rebuilt when the certificate, key or CA file changed.
    func sslContext(applicationProtocols: [String] = []) throws -> NIOSSLContext {
        guard let tls = current().tls else { throw WebSecurityError(description: "TLS was turned off in the web configuration; restart to serve plain HTTP") }
        let signatures = [tls.certFile, tls.keyFile, tls.clientCAFile].map { $0.flatMap(FileSignature.init(path:)) }
        let cached = state.withLock { state -> NIOSSLContext? in
            if state.tlsSignature != signatures { return nil }
            return state.contexts[applicationProtocols]
        }
        if let cached { return cached }
        do {
            let context = try Self.makeContext(tls, applicationProtocols: applicationProtocols)
            state.withLock { state in
                if state.tlsSignature != signatures { state.contexts.removeAll() }
                state.contexts[applicationProtocols] = context
                state.tlsSignature = signatures
            }
            return context
        } catch {
            guard let previous = state.withLock({ $0.contexts[applicationProtocols] }) else { throw error }
            logger.error("TLS certificate or key unreadable; the previous one stays in use", metadata: ["err": "\(error)"])
            state.withLock { $0.tlsSignature = signatures }
            return previous
        }
    }

    /// The handler that speaks TLS on a new connection, with the client-certificate policy in force.
    func serverHandler(applicationProtocols: [String] = []) throws -> NIOSSLServerHandler {
        let context = try sslContext(applicationProtocols: applicationProtocols)
        switch current().tls?.clientAuth ?? .none {
        case .request, .requireAny:
            // Asked for (or required) but not verified, as Go's RequestClientCert and RequireAnyClientCert.
            return NIOSSLServerHandler(context: context) { _, promise in promise.succeed(.certificateVerified) }
        default:
            return NIOSSLServerHandler(context: context)
        }
    }

    static func makeContext(_ tls: WebConfig.TLS, applicationProtocols: [String] = []) throws -> NIOSSLContext {
        func load<T>(_ what: String, _ path: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch { throw WebSecurityError(description: "cannot load the TLS \(what) \(path): \(error)") }
        }
        let chain = try load("certificate", tls.certFile) { try NIOSSLCertificate.fromPEMFile(tls.certFile).map { NIOSSLCertificateSource.certificate($0) } }
        let key = try load("key", tls.keyFile) { try NIOSSLPrivateKey(file: tls.keyFile, format: .pem) }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = tls.minVersion.nio
        configuration.maximumTLSVersion = tls.maxVersion?.nio
        switch tls.clientAuth {
        case .none: configuration.certificateVerification = .none
        case .request, .verifyIfGiven: configuration.certificateVerification = .optionalVerification
        case .requireAny, .requireAndVerify: configuration.certificateVerification = .noHostnameVerification
        }
        if let ca = tls.clientCAFile { configuration.trustRoots = .file(ca) }
        configuration.applicationProtocols = applicationProtocols
        return try NIOSSLContext(configuration: configuration)
    }

    /// `Basic base64(user:password)`.
    static func basicCredentials(_ header: String?) -> (String, String)? {
        guard let header, header.count > 6, header.prefix(6).lowercased() == "basic " else { return nil }
        guard let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingSpaces()),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// Whether `user` with `password` is one of `basic_auth_users`. bcrypt runs off the event loops.
    func authenticate(user: String, password: String, users: [String: String]) async -> Bool {
        let key = user + "\u{0}" + password
        if let verdict = state.withLock({ $0.verdicts[key] }) { return verdict }
        // An unknown user costs a bcrypt check too, so timing does not tell which users exist.
        let hash = users[user] ?? "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DSmV5qhXqmHe7lOlbS2i."
        let known = users[user] != nil
        let match = (try? await NIOThreadPool.singleton.runIfActive { obs_crypt_verify(password, hash) == 1 }) ?? false
        let verdict = known && match
        state.withLock { state in
            if state.verdicts.count >= 1024 { state.verdicts.removeAll() }
            state.verdicts[key] = verdict
        }
        return verdict
    }
}

struct WebSecurityError: Error, CustomStringConvertible {
    var description: String
}


/// What tells that a file changed: device, inode, size and modification time.
struct FileSignature: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: Int64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    }
}

/// Basic authentication on every route when `basic_auth_users` is set, answered as Prometheus
/// answers (401, `WWW-Authenticate: Basic`, `Unauthorized`), and the configured response headers.
struct WebSecurityMiddleware<Context: RequestContext>: RouterMiddleware {
    let security: WebSecurity

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let config = security.current()
        if !config.users.isEmpty {
            guard let (user, password) = WebSecurity.basicCredentials(request.headers[.authorization]),
                  await security.authenticate(user: user, password: password, users: config.users) else {
                var headers = HTTPFields()
                headers[.wwwAuthenticate] = "Basic"
                headers[.contentType] = "text/plain; charset=utf-8"
                return Response(status: .unauthorized, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "Unauthorized\n")))
            }
        }
        var response = try await next(request, context)
        for (name, value) in config.headers {
            if let field = HTTPField.Name(name) { response.headers[field] = value }
        }
        return response
    }

}
