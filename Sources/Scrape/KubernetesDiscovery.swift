import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOSSL
import ObsCore
import OutboundHTTP
import ObsYAML
import Synchronization

/// `kubernetes_sd_configs` entry: which objects to watch and how to reach the API server.
public struct KubernetesSDConfig: Sendable, Equatable {
    public enum Role: String, Sendable {
        case pod, node, service
    }

    public var role: Role
    /// `api_server`; nil means in-cluster (or the kubeconfig's server).
    public var apiServer: String?
    public var kubeconfigFile: String?
    /// Namespaces to watch (pods); empty means all.
    public var namespaces: [String] = []
    public var labelSelector: String?
    /// For example `spec.nodeName=$(NODE_NAME)`, so a DaemonSet sees only its own node's pods.
    public var fieldSelector: String?
    /// Relist even when the watch is healthy, milliseconds.
    public var resyncInterval: Int64 = 600_000
    /// Authentication and TLS towards `api_server` (in-cluster and kubeconfig connections bring
    /// their own).
    public var http = HTTPClientSettings()

    public init(role: Role) {
        self.role = role
    }
}

/// Discovers pods or nodes from the Kubernetes API: list, then watch from the list's
/// resourceVersion, relisting when the watch ends, fails or the resync interval passes. Each object
/// is one target group with Prometheus's `__meta_kubernetes_*` labels.
final class KubernetesDiscovery: Sendable {
    let config: KubernetesSDConfig
    let source: String
    private let logger: Logger
    private let publish: @Sendable ([TargetGroup]) -> Void
    /// Groups by object (`namespace/name`).
    private let objects = Mutex<[String: TargetGroup]>([:])

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

    /// Runs until cancelled: one list-and-watch loop per collection (per namespace for pods).
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for path in paths() {
                group.addTask { await self.follow(path) }
            }
        }
    }

    /// Lists and watches one collection for ever, backing off after failures.
    private func follow(_ path: String) async {
        var backoff: Duration = .milliseconds(500)
        while !Task.isCancelled {
            var client: HTTPClient?
            do {
                let connection = try Self.connection(for: config)
                var configuration = HTTPClient.Configuration()
                if let tls = connection.tls { configuration.tlsConfiguration = tls }
                configuration.timeout.connect = .seconds(10)
                client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
                let version = try await list(path, connection: connection, client: client!)
                backoff = .milliseconds(500)
                try await watch(path, from: version, connection: connection, client: client!)
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

    /// The collection paths to list and watch.
    private func paths() -> [String] {
        let resource = switch config.role {
        case .pod: "pods"
        case .node: "nodes"
        case .service: "services"
        }
        if config.role != .node && !config.namespaces.isEmpty {
            return config.namespaces.map { "/api/v1/namespaces/\($0)/\(resource)" }
        }
        return ["/api/v1/\(resource)"]
    }

    private func query(_ extra: [(String, String)]) -> String {
        var items = extra
        if let labelSelector = config.labelSelector { items.append(("labelSelector", labelSelector)) }
        if let fieldSelector = config.fieldSelector { items.append(("fieldSelector", fieldSelector)) }
        guard !items.isEmpty else { return "" }
        return "?" + items.map { "\($0.0)=\(ScrapeTarget.percentEncoded($0.1))" }.joined(separator: "&")
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
    private func list(_ path: String, connection: Connection, client: HTTPClient) async throws -> String {
        let response = try await client.execute(try request(connection.server + path + query([]), connection: connection), timeout: .seconds(60))
        guard response.status == .ok else { throw DiscoveryError(description: "list \(path): HTTP \(response.status.code)") }
        let body = try await response.body.collect(upTo: 256 << 20)
        guard let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw DiscoveryError(description: "list \(path): not a JSON object")
        }
        let items = object["items"] as? [[String: Any]] ?? []
        let version = (object["metadata"] as? [String: Any])?["resourceVersion"] as? String ?? ""
        objects.withLock { objects in
            objects = objects.filter { !$0.key.hasPrefix(path + "|") }
            for item in items {
                if let group = group(for: item) { objects[path + "|" + key(of: item)] = group }
            }
        }
        publishAll()
        return version
    }

    /// Follows the watch until it ends or the resync interval passes.
    private func watch(_ path: String, from version: String, connection: Connection, client: HTTPClient) async throws {
        let url = connection.server + path + query([("watch", "true"), ("resourceVersion", version), ("allowWatchBookmarks", "true"),
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
                guard let event = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let type = event["type"] as? String, let item = event["object"] as? [String: Any]
                else { throw DiscoveryError(description: "watch \(path): malformed event") }
                switch type {
                case "ADDED", "MODIFIED":
                    let group = group(for: item)
                    objects.withLock { $0[path + "|" + key(of: item)] = group }
                case "DELETED":
                    _ = objects.withLock { $0.removeValue(forKey: path + "|" + key(of: item)) }
                case "BOOKMARK":
                    continue
                default:
                    // ERROR (usually 410 Gone: the version is too old): relist.
                    throw DiscoveryError(description: "watch \(path): \(type) \((item["message"] as? String) ?? "")")
                }
                publishAll()
            }
        }
    }

    private func publishAll() {
        let groups = objects.withLock { Array($0.values) }.sorted { $0.source < $1.source }
        publish(groups)
    }

    private func key(of item: [String: Any]) -> String {
        let metadata = item["metadata"] as? [String: Any] ?? [:]
        return "\(metadata["namespace"] as? String ?? "")/\(metadata["name"] as? String ?? "")"
    }

    // MARK: Labels

    func group(for item: [String: Any]) -> TargetGroup? {
        switch config.role {
        case .pod: Self.podGroup(item, source: source)
        case .node: Self.nodeGroup(item, source: source)
        case .service: Self.serviceGroup(item, source: source)
        }
    }

    /// Label and annotation keys become label-name suffixes: anything but `[a-zA-Z0-9_]` turns into `_`.
    static func sanitize(_ name: String) -> String {
        String(name.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_") ? Character(scalar) : "_"
        })
    }

    static func metadataLabels(_ metadata: [String: Any], prefix: String, into labels: inout [String: String]) {
        for (key, value) in metadata["labels"] as? [String: String] ?? [:] {
            labels[prefix + "_label_" + sanitize(key)] = value
            labels[prefix + "_labelpresent_" + sanitize(key)] = "true"
        }
        for (key, value) in metadata["annotations"] as? [String: String] ?? [:] {
            labels[prefix + "_annotation_" + sanitize(key)] = value
            labels[prefix + "_annotationpresent_" + sanitize(key)] = "true"
        }
    }

    /// One target per container port (a container without ports gets one at the pod IP), with the
    /// pod's labels on the group, as Prometheus's pod role does.
    static func podGroup(_ pod: [String: Any], source: String) -> TargetGroup? {
        let metadata = pod["metadata"] as? [String: Any] ?? [:]
        let spec = pod["spec"] as? [String: Any] ?? [:]
        let status = pod["status"] as? [String: Any] ?? [:]
        let namespace = metadata["namespace"] as? String ?? ""
        let name = metadata["name"] as? String ?? ""
        let groupSource = "\(source)/pod/\(namespace)/\(name)"
        let phase = status["phase"] as? String ?? ""
        guard let ip = status["podIP"] as? String, !ip.isEmpty, phase != "Succeeded", phase != "Failed" else {
            return TargetGroup(targets: [], source: groupSource)
        }
        let prefix = "__meta_kubernetes_pod"
        var labels: [String: String] = [
            "__meta_kubernetes_namespace": namespace,
            prefix + "_name": name,
            prefix + "_ip": ip,
            prefix + "_node_name": spec["nodeName"] as? String ?? "",
            prefix + "_host_ip": status["hostIP"] as? String ?? "",
            prefix + "_uid": metadata["uid"] as? String ?? "",
            prefix + "_phase": phase,
        ]
        metadataLabels(metadata, prefix: prefix, into: &labels)
        if let owner = (metadata["ownerReferences"] as? [[String: Any]])?.first(where: { $0["controller"] as? Bool == true }) {
            labels[prefix + "_controller_kind"] = owner["kind"] as? String ?? ""
            labels[prefix + "_controller_name"] = owner["name"] as? String ?? ""
        }
        let conditions = status["conditions"] as? [[String: Any]] ?? []
        let ready = conditions.first { $0["type"] as? String == "Ready" }?["status"] as? String
        labels[prefix + "_ready"] = ready.map { $0.lowercased() } ?? "unknown"
        var targets: [[String: String]] = []
        let statuses = (status["containerStatuses"] as? [[String: Any]] ?? []) + (status["initContainerStatuses"] as? [[String: Any]] ?? [])
        for (containers, isInit) in [(spec["containers"] as? [[String: Any]] ?? [], false), (spec["initContainers"] as? [[String: Any]] ?? [], true)] {
            for container in containers {
                let containerName = container["name"] as? String ?? ""
                var base: [String: String] = [
                    prefix + "_container_name": containerName,
                    prefix + "_container_image": container["image"] as? String ?? "",
                    prefix + "_container_init": isInit ? "true" : "false",
                ]
                if let id = statuses.first(where: { $0["name"] as? String == containerName })?["containerID"] as? String {
                    base[prefix + "_container_id"] = id
                }
                let ports = container["ports"] as? [[String: Any]] ?? []
                if ports.isEmpty {
                    // Init containers without ports are not targets.
                    if !isInit { targets.append(base.merging(["__address__": ip]) { $1 }) }
                    continue
                }
                for port in ports {
                    let number = (port["containerPort"] as? NSNumber)?.intValue ?? 0
                    var target = base
                    target["__address__"] = ip.contains(":") ? "[\(ip)]:\(number)" : "\(ip):\(number)"
                    target[prefix + "_container_port_name"] = port["name"] as? String ?? ""
                    target[prefix + "_container_port_number"] = String(number)
                    target[prefix + "_container_port_protocol"] = port["protocol"] as? String ?? "TCP"
                    targets.append(target)
                }
            }
        }
        return TargetGroup(targets: targets, labels: labels.filter { !$0.value.isEmpty || $0.key.hasSuffix("_ready") }, source: groupSource)
    }

    /// One target per node at its kubelet port, `instance` set to the node name.
    static func nodeGroup(_ node: [String: Any], source: String) -> TargetGroup? {
        let metadata = node["metadata"] as? [String: Any] ?? [:]
        let spec = node["spec"] as? [String: Any] ?? [:]
        let status = node["status"] as? [String: Any] ?? [:]
        let name = metadata["name"] as? String ?? ""
        let prefix = "__meta_kubernetes_node"
        var labels: [String: String] = [prefix + "_name": name, "instance": name]
        if let provider = spec["providerID"] as? String { labels[prefix + "_provider_id"] = provider }
        metadataLabels(metadata, prefix: prefix, into: &labels)
        let addresses = status["addresses"] as? [[String: Any]] ?? []
        for address in addresses {
            if let type = address["type"] as? String, let value = address["address"] as? String {
                labels[prefix + "_address_" + type] = labels[prefix + "_address_" + type] ?? value
            }
        }
        let preference = ["InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"]
        guard let chosen = preference.lazy.compactMap({ type in
            addresses.first { $0["type"] as? String == type }?["address"] as? String
        }).first else { return TargetGroup(targets: [], source: "\(source)/node/\(name)") }
        let endpoints = status["daemonEndpoints"] as? [String: Any]
        let port = ((endpoints?["kubeletEndpoint"] as? [String: Any])?["Port"] as? NSNumber)?.intValue ?? 10250
        let host = chosen.contains(":") ? "[\(chosen)]" : chosen
        return TargetGroup(targets: [["__address__": "\(host):\(port)"]], labels: labels, source: "\(source)/node/\(name)")
    }

    /// One target per service port at `<name>.<namespace>.svc:<port>`, as Prometheus's service role:
    /// the service's labels and annotations on the group; port, type and cluster IP (or external
    /// name) on each target.
    static func serviceGroup(_ service: [String: Any], source: String) -> TargetGroup? {
        let metadata = service["metadata"] as? [String: Any] ?? [:]
        let spec = service["spec"] as? [String: Any] ?? [:]
        let namespace = metadata["namespace"] as? String ?? ""
        let name = metadata["name"] as? String ?? ""
        let prefix = "__meta_kubernetes_service"
        var labels: [String: String] = ["__meta_kubernetes_namespace": namespace, prefix + "_name": name]
        metadataLabels(metadata, prefix: prefix, into: &labels)
        let type = spec["type"] as? String ?? "ClusterIP"
        var targets: [[String: String]] = []
        for port in spec["ports"] as? [[String: Any]] ?? [] {
            let number = String((port["port"] as? NSNumber)?.intValue ?? 0)
            var target: [String: String] = [
                "__address__": "\(name).\(namespace).svc:\(number)",
                prefix + "_port_name": port["name"] as? String ?? "",
                prefix + "_port_number": number,
                prefix + "_port_protocol": port["protocol"] as? String ?? "TCP",
                prefix + "_type": type,
            ]
            if type == "ExternalName" {
                target[prefix + "_external_name"] = spec["externalName"] as? String ?? ""
            } else {
                target[prefix + "_cluster_ip"] = spec["clusterIP"] as? String ?? ""
            }
            targets.append(target)
        }
        return TargetGroup(targets: targets, labels: labels, source: "\(source)/svc/\(namespace)/\(name)")
    }

    // MARK: Connection

    static let serviceAccount = "/var/run/secrets/kubernetes.io/serviceaccount"

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
        let token = try String(contentsOfFile: serviceAccount + "/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(serviceAccount + "/ca.crt")
        let address = host.contains(":") ? "[\(host)]" : host
        return Connection(server: "https://\(address):\(port)", token: token, tls: tls)
    }

    /// The current context of a kubeconfig: server, certificate authority, bearer token.
    static func kubeconfig(_ path: String) throws -> Connection {
        let text = try String(contentsOfFile: path, encoding: .utf8)
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
                token = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return Connection(server: server.hasSuffix("/") ? String(server.dropLast()) : server, token: token, tls: tls)
    }
}
