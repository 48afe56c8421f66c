import AsyncHTTPClient
import Logging
import NIOCore
import NIOSSL
import ObsCore
import OutboundHTTP
import ObsYAML
import Synchronization

/// `kubernetes_sd_configs` entry: which objects to watch and how to reach the API server.
public struct KubernetesSDConfig: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable {
        case pod, node, service, endpoints, endpointslice

        /// The collections the role follows: the endpoints roles also need services and pods,
        /// whose labels their targets carry.
        var resources: [KubernetesResource] {
            switch self {
            case .pod: [.pods]
            case .node: [.nodes]
            case .service: [.services]
            case .endpoints: [.endpoints, .services, .pods]
            case .endpointslice: [.endpointslices, .services, .pods]
            }
        }

        /// The roles whose `selectors` entries this role takes, as Prometheus allows them.
        public var selectorRoles: [Role] {
            switch self {
            case .endpoints: [.pod, .service, .endpoints]
            case .endpointslice: [.pod, .service, .endpointslice]
            default: [self]
            }
        }
    }

    /// A `selectors` entry: label and field selectors for one kind of object.
    public struct Selector: Sendable, Equatable {
        public var label: String?
        public var field: String?

        public init(label: String? = nil, field: String? = nil) {
            self.label = label
            self.field = field
        }
    }

    public var role: Role
    /// `api_server`; nil means in-cluster (or the kubeconfig's server).
    public var apiServer: String?
    public var kubeconfigFile: String?
    /// Namespaces to watch (pods); empty means all.
    public var namespaces: [String] = []
    /// By the role of the objects they select: a field selector such as `spec.nodeName=$(NODE_NAME)`
    /// keeps a DaemonSet to its own node's pods.
    public var selectors: [Role: Selector] = [:]
    /// Relist even when the watch is healthy, milliseconds.
    public var resyncInterval: Int64 = 600_000
    /// Authentication and TLS towards `api_server` (in-cluster and kubeconfig connections bring
    /// their own).
    public var http = HTTPClientSettings()

    public init(role: Role) {
        self.role = role
    }
}

/// Discovers Kubernetes objects from the API server: list, then watch from the list's
/// resourceVersion, relisting when the watch ends, fails or the resync interval passes. Each object
/// of the role's kind is one target group with Prometheus's `__meta_kubernetes_*` labels.
final class KubernetesDiscovery: Sendable {
    let config: KubernetesSDConfig
    let source: String
    private let logger: Logger
    private let publish: @Sendable ([TargetGroup]) -> Void
    /// Objects by collection path, then `namespace/name`.
    private let objects = Mutex<[String: [String: KubernetesObject]]>([:])

    init(config: KubernetesSDConfig, source: String, logger: Logger, publish: @escaping @Sendable ([TargetGroup]) -> Void) {
        self.config = config
        self.source = source
        self.logger = logger
        self.publish = publish
    }

    struct Connection {
        var server: String
        var token: String?
        var tls: TLSConfiguration?
        /// Applied to every request (credential files re-read each time), for `api_server`.
        var http: HTTPClientSettings?
    }

    struct DiscoveryError: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs until cancelled: one list-and-watch loop per collection (per namespace when given).
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for (path, resource) in collections() {
                group.addTask { await self.follow(path, resource) }
            }
        }
    }

    /// Lists and watches one collection for ever, backing off after failures.
    private func follow(_ path: String, _ resource: KubernetesResource) async {
        var backoff: Duration = .milliseconds(500)
        while !Task.isCancelled {
            var client: HTTPClient?
            do {
                let connection = try Self.connection(for: config)
                var configuration = HTTPClient.Configuration()
                if let tls = connection.tls { configuration.tlsConfiguration = tls }
                if let proxy = connection.http?.proxy?.server(for: connection.server) {
                    configuration.proxy = OutboundClients.proxy(proxy, headers: connection.http?.proxy?.connectHeaders ?? [:])
                }
                configuration.timeout.connect = .seconds(10)
                client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
                let version = try await list(path, resource, connection: connection, client: client!)
                backoff = .milliseconds(500)
                try await watch(path, resource, from: version, connection: connection, client: client!)
            } catch {
                if !Task.isCancelled {
                    logger.warning("Kubernetes discovery failed; retrying", metadata: ["source": "\(source)", "path": "\(path)", "err": "\(error)"])
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(30))
                }
            }
            try? await client?.shutdown()
        }
    }

    /// The collection paths to list and watch, with their kind.
    func collections() -> [(String, KubernetesResource)] {
        config.role.resources.flatMap { resource in
            let namespaces: [String?] = resource == .nodes || config.namespaces.isEmpty ? [nil] : config.namespaces
            return namespaces.map { (resource.path(namespace: $0), resource) }
        }
    }

    private func query(_ resource: KubernetesResource, _ extra: [(String, String)]) -> String {
        var items = extra
        let selectorRole: KubernetesSDConfig.Role = switch resource {
        case .pods: .pod
        case .nodes: .node
        case .services: .service
        case .endpoints: .endpoints
        case .endpointslices: .endpointslice
        }
        if let label = config.selectors[selectorRole]?.label { items.append(("labelSelector", label)) }
        if let field = config.selectors[selectorRole]?.field { items.append(("fieldSelector", field)) }
        guard !items.isEmpty else { return "" }
        return "?" + items.map { "\($0.0)=\(URLQuery.escape($0.1, spaceAsPlus: false))" }.joined(separator: "&")
    }

    private func request(_ url: String, connection: Connection) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        if let token = connection.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        do {
            try connection.http?.apply(to: &request)
        } catch {
            throw DiscoveryError(description: error.description)
        }
        return request
    }

    /// Lists the collection, replaces every group from `path`, and returns the resourceVersion.
    private func list(_ path: String, _ resource: KubernetesResource, connection: Connection, client: HTTPClient) async throws -> String {
        let response = try await client.execute(try request(connection.server + path + query(resource, []), connection: connection), timeout: .seconds(60))
        guard response.status == .ok else { throw DiscoveryError(description: "list \(path): HTTP \(response.status.code)") }
        let body = try await response.body.collect(upTo: 256 << 20)
        guard let object = try body.withUnsafeReadableBytes({ try JSONReader.anyDocument($0) }) as? [String: Any] else {
            throw DiscoveryError(description: "list \(path): not a JSON object")
        }
        let items = object["items"] as? [[String: Any]] ?? []
        let version = (object["metadata"] as? [String: Any])?["resourceVersion"] as? String ?? ""
        var listed: [String: KubernetesObject] = [:]
        for item in items { listed[key(of: item)] = item }
        store { $0[path] = listed }
        return version
    }

    /// Follows the watch until it ends or the resync interval passes.
    private func watch(_ path: String, _ resource: KubernetesResource, from version: String, connection: Connection, client: HTTPClient) async throws {
        let url = connection.server + path + query(resource, [("watch", "true"), ("resourceVersion", version), ("allowWatchBookmarks", "true"),
                                                    ("timeoutSeconds", String(config.resyncInterval / 1000))])
        let response = try await client.execute(try request(url, connection: connection), timeout: .milliseconds(config.resyncInterval + 30_000))
        guard response.status == .ok else { throw DiscoveryError(description: "watch \(path): HTTP \(response.status.code)") }
        var pending: [UInt8] = []
        for try await chunk in response.body {
            pending += chunk.readableBytesView
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                guard !line.isEmpty else { continue }
                guard let event = try line.withUnsafeBytes({ try JSONReader.anyDocument($0) }) as? [String: Any],
                      let type = event["type"] as? String, let item = event["object"] as? [String: Any]
                else { throw DiscoveryError(description: "watch \(path): malformed event") }
                switch type {
                case "ADDED", "MODIFIED":
                    let key = key(of: item)
                    store { $0[path, default: [:]][key] = item }
                case "DELETED":
                    let key = key(of: item)
                    store { $0[path]?[key] = nil }
                case "BOOKMARK":
                    continue
                default:
                    // ERROR (usually 410 Gone: the version is too old): relist.
                    throw DiscoveryError(description: "watch \(path): \(type) \((item["message"] as? String) ?? "")")
                }
            }
        }
    }

    /// Applies a change to the objects held and publishes every group of the role again (an
    /// endpoints group changes with its service and pods). Published under the lock: two
    /// collections changing at once must not publish their views in the opposite order.
    private func store(_ change: (inout [String: [String: KubernetesObject]]) -> Void) {
        objects.withLock { byPath in
            change(&byPath)
            var held = KubernetesObjects()
            for (path, resource) in collections() {
                held.byKind[resource, default: [:]].merge(byPath[path] ?? [:]) { $1 }
            }
            publish(KubernetesTargets.groups(role: config.role, objects: held, source: source).sorted { $0.source < $1.source })
        }
    }

    private func key(of item: [String: Any]) -> String {
        let metadata = item["metadata"] as? [String: Any] ?? [:]
        return "\(metadata["namespace"] as? String ?? "")/\(metadata["name"] as? String ?? "")"
    }

    // MARK: Connection

    /// Where a pod finds its service-account token and the cluster's CA. `OBS_AGENT_SERVICE_ACCOUNT_DIR`
    /// names another directory holding `token` and `ca.crt`, for an agent run outside a pod.
    static var serviceAccount: String {
        ProcessInfo.processInfo.environment["OBS_AGENT_SERVICE_ACCOUNT_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "/var/run/secrets/kubernetes.io/serviceaccount"
    }

    /// `api_server` as given, else the kubeconfig's current context, else in-cluster credentials.
    static func connection(for config: KubernetesSDConfig) throws -> Connection {
        if let server = config.apiServer {
            return Connection(server: server.hasSuffix("/") ? String(server.dropLast()) : server, token: nil, tls: nil, http: config.http)
        }
        if let path = config.kubeconfigFile { return try kubeconfig(path) }
        guard let host = ProcessInfo.processInfo.environment["KUBERNETES_SERVICE_HOST"],
              let port = ProcessInfo.processInfo.environment["KUBERNETES_SERVICE_PORT"] else {
            throw DiscoveryError(description: "not running in a cluster (KUBERNETES_SERVICE_HOST is unset) and no api_server or kubeconfig_file given")
        }
        let token = try FileIO.readText(serviceAccount + "/token").trimmingWhitespace()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(serviceAccount + "/ca.crt")
        let address = host.contains(":") ? "[\(host)]" : host
        return Connection(server: "https://\(address):\(port)", token: token, tls: tls)
    }

    /// The current context of a kubeconfig: server, certificate authority, bearer token.
    static func kubeconfig(_ path: String) throws -> Connection {
        let text = try FileIO.readText(path)
        guard let root = try YAMLValue.parse(text, file: path) else { throw DiscoveryError(description: "\(path): empty kubeconfig") }
        let top = try root.looseMapping()
        func named(_ list: String, _ name: String) throws -> YAMLValue? {
            for entry in try top[list]?.sequence() ?? [] {
                let map = try entry.looseMapping()
                if try map["name"]?.scalar() == name { return map["cluster"] ?? map["user"] ?? map["context"] }
            }
            return nil
        }
        guard let contextName = try top["current-context"]?.scalar(), let context = try named("contexts", contextName)?.looseMapping(),
              let clusterName = try context["cluster"]?.scalar(), let cluster = try named("clusters", clusterName)?.looseMapping(),
              let server = try cluster["server"]?.scalar()
        else { throw DiscoveryError(description: "\(path): no current context with a cluster server") }
        var tls: TLSConfiguration?
        if server.hasPrefix("https") {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let file = try cluster["certificate-authority"]?.scalar() {
                configuration.trustRoots = .file(file)
            } else if let data = try cluster["certificate-authority-data"]?.scalar(), let pem = Data(base64Encoded: data) {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem)))
            }
            if try cluster["insecure-skip-tls-verify"]?.scalar() == "true" { configuration.certificateVerification = .none }
            tls = configuration
        }
        var token: String?
        if let userName = try context["user"]?.scalar(), let user = try named("users", userName)?.looseMapping() {
            token = try user["token"]?.scalar()
            if token == nil, let file = try user["tokenFile"]?.scalar() {
                token = try FileIO.readText(file).trimmingWhitespace()
            }
        }
        return Connection(server: server.hasSuffix("/") ? String(server.dropLast()) : server, token: token, tls: tls)
    }
}
