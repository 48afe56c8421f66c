import AsyncHTTPClient
import ObsCore
import NIOSSL

extension HTTPClientSettings {
    /// A failure to use the settings for a request: a credentials file or a certificate unreadable.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Adds the credentials and the TLS configuration to `request`. Files (credentials, password,
    /// certificates) are read at each call, so rotated tokens and renewed certificates apply to the
    /// next request, as in Prometheus.
    public func apply(to request: inout HTTPClientRequest) throws(Failure) {
        if let authorization = try authorizationHeader() { request.headers.replaceOrAdd(name: "Authorization", value: authorization) }
        if customTLS { request.tlsConfiguration = try tlsConfiguration() }
    }

    /// The `Authorization` header value the credentials give (files read now); nil without any.
    public func authorizationHeader() throws(Failure) -> String? {
        switch credentials {
        case .none:
            return nil
        case let .authorization(type, credentials, file):
            let secret = try file.map { (path) throws(Failure) in try Self.read(path, "authorization credentials") } ?? credentials ?? ""
            return "\(type) \(secret)"
        case let .basic(username, password, passwordFile):
            let secret = try passwordFile.map { (path) throws(Failure) in try Self.read(path, "basic auth password") } ?? password ?? ""
            return "Basic " + Data("\(username):\(secret)".utf8).base64EncodedString()
        }
    }

    /// The client TLS configuration these settings describe.
    public func tlsConfiguration() throws(Failure) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
            if let ca { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.utf8))) }
            if let certFile { tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certFile).map { .certificate($0) } }
            if let cert { tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(cert.utf8)).map { .certificate($0) } }
            if let keyFile { tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)) }
            if let key { tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem)) }
        } catch {
            throw Failure(description: "unable to load TLS certificates or key: \(error)")
        }
        if insecureSkipVerify { tls.certificateVerification = .none }
        if let minVersion { tls.minimumTLSVersion = minVersion.nio }
        if let maxVersion { tls.maximumTLSVersion = maxVersion.nio }
        return tls
    }

    static func read(_ path: String, _ what: String) throws(Failure) -> String {
        do {
            return try FileIO.readText(path).trimmingWhitespace()
        } catch {
            throw Failure(description: "unable to read \(what) file \(path): \(error)")
        }
    }
}

extension TLSVersionName {
    public var nio: TLSVersion {
        switch self {
        case .tls10: .tlsv1
        case .tls11: .tlsv11
        case .tls12: .tlsv12
        case .tls13: .tlsv13
        }
    }
}
