import ObsCore

/// A Kubernetes object as the API server's JSON decodes.
typealias KubernetesObject = [String: Any]

/// The objects one discovery holds, by kind, each keyed `namespace/name`: what a role's target
/// groups are built from (the endpoints roles look services and pods up by name).
struct KubernetesObjects {
    var byKind: [KubernetesResource: [String: KubernetesObject]] = [:]

    func named(_ kind: KubernetesResource, _ namespace: String, _ name: String) -> KubernetesObject? {
        byKind[kind]?[namespace + "/" + name]
    }
}

/// The collections a role lists and watches.
enum KubernetesResource: String, Sendable, CaseIterable {
    case pods, nodes, services, endpoints, endpointslices

    /// The collection's path, cluster-wide or in one namespace.
    func path(namespace: String?) -> String {
        let base = self == .endpointslices ? "/apis/discovery.k8s.io/v1" : "/api/v1"
        guard let namespace, self != .nodes else { return base + "/" + rawValue }
        return base + "/namespaces/" + namespace + "/" + rawValue
    }
}

/// Prometheus's `__meta_kubernetes_*` target groups, one per object of the role's kind.
enum KubernetesTargets {
    static func groups(role: KubernetesSDConfig.Role, objects: KubernetesObjects, source: String) -> [TargetGroup] {
        let primary: KubernetesResource = switch role {
        case .pod: .pods
        case .node: .nodes
        case .service: .services
        case .endpoints: .endpoints
        case .endpointslice: .endpointslices
        }
        return (objects.byKind[primary] ?? [:]).sorted { $0.key < $1.key }.compactMap { _, object in
            switch role {
            case .pod: podGroup(object, source: source)
            case .node: nodeGroup(object, source: source)
            case .service: serviceGroup(object, source: source)
            case .endpoints: endpointsGroup(object, objects: objects, source: source)
            case .endpointslice: endpointSliceGroup(object, objects: objects, source: source)
            }
        }
    }

    // MARK: Shared labels

    /// Label and annotation keys become label-name suffixes: anything but `[a-zA-Z0-9_]` turns into `_`.
    static func sanitize(_ name: String) -> String {
        String(name.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_") ? Character(scalar) : "_"
        })
    }

    static func metadataLabels(_ metadata: KubernetesObject, prefix: String, into labels: inout [String: String]) {
        for (key, value) in metadata["labels"] as? [String: String] ?? [:] {
            labels[prefix + "_label_" + sanitize(key)] = value
            labels[prefix + "_labelpresent_" + sanitize(key)] = "true"
        }
        for (key, value) in metadata["annotations"] as? [String: String] ?? [:] {
            labels[prefix + "_annotation_" + sanitize(key)] = value
            labels[prefix + "_annotationpresent_" + sanitize(key)] = "true"
        }
    }

    static func joinHostPort(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static func integer(_ value: Any?) -> Int? {
        (value as? Int) ?? (value as? Double).flatMap { Int(exactly: $0) }
    }

    static let podPrefix = "__meta_kubernetes_pod"

    /// What every target of a pod carries: namespace, name, addresses, phase, readiness, the
    /// controller, the pod's labels and annotations. Empty values are left out (Prometheus treats
    /// an empty label as absent); readiness is always there.
    static func podLabels(_ pod: KubernetesObject) -> [String: String] {
        let metadata = pod["metadata"] as? KubernetesObject ?? [:]
        let spec = pod["spec"] as? KubernetesObject ?? [:]
        let status = pod["status"] as? KubernetesObject ?? [:]
        let prefix = podPrefix
        var labels: [String: String] = [
            "__meta_kubernetes_namespace": metadata["namespace"] as? String ?? "",
            prefix + "_name": metadata["name"] as? String ?? "",
            prefix + "_ip": status["podIP"] as? String ?? "",
            prefix + "_node_name": spec["nodeName"] as? String ?? "",
            prefix + "_host_ip": status["hostIP"] as? String ?? "",
            prefix + "_uid": metadata["uid"] as? String ?? "",
            prefix + "_phase": status["phase"] as? String ?? "",
        ]
        metadataLabels(metadata, prefix: prefix, into: &labels)
        if let owner = (metadata["ownerReferences"] as? [KubernetesObject])?.first(where: { $0["controller"] as? Bool == true }) {
            labels[prefix + "_controller_kind"] = owner["kind"] as? String ?? ""
            labels[prefix + "_controller_name"] = owner["name"] as? String ?? ""
        }
        let conditions = status["conditions"] as? [KubernetesObject] ?? []
        let ready = conditions.first { $0["type"] as? String == "Ready" }?["status"] as? String
        labels[prefix + "_ready"] = ready.map { $0.lowercased() } ?? "unknown"
        return labels.filter { !$0.value.isEmpty }
    }

    static func containers(_ pod: KubernetesObject, initContainers: Bool = false) -> [KubernetesObject] {
        let spec = pod["spec"] as? KubernetesObject ?? [:]
        return spec[initContainers ? "initContainers" : "containers"] as? [KubernetesObject] ?? []
    }

    /// The labels of one container port (Prometheus takes the protocol from the port the target
    /// was found by, `protocol` when given).
    static func containerPortLabels(_ container: KubernetesObject, _ port: KubernetesObject, protocol given: String? = nil) -> [String: String] {
        let prefix = podPrefix
        return [
            prefix + "_container_name": container["name"] as? String ?? "",
            prefix + "_container_image": container["image"] as? String ?? "",
            prefix + "_container_port_name": port["name"] as? String ?? "",
            prefix + "_container_port_number": String(integer(port["containerPort"]) ?? 0),
            prefix + "_container_port_protocol": given ?? port["protocol"] as? String ?? "TCP",
        ]
    }

    /// The service's name, namespace, labels and annotations, which the endpoints roles put on
    /// every group whose service is known.
    static func serviceLabels(_ service: KubernetesObject) -> [String: String] {
        let metadata = service["metadata"] as? KubernetesObject ?? [:]
        var labels = [
            "__meta_kubernetes_namespace": metadata["namespace"] as? String ?? "",
            "__meta_kubernetes_service_name": metadata["name"] as? String ?? "",
        ]
        metadataLabels(metadata, prefix: "__meta_kubernetes_service", into: &labels)
        return labels
    }

    // MARK: Roles

    /// One target per container port (a container without ports gets one at the pod IP), with the
    /// pod's labels on the group, as Prometheus's pod role does.
    static func podGroup(_ pod: KubernetesObject, source: String) -> TargetGroup? {
        let metadata = pod["metadata"] as? KubernetesObject ?? [:]
        let status = pod["status"] as? KubernetesObject ?? [:]
        let groupSource = "\(source)/pod/\(metadata["namespace"] as? String ?? "")/\(metadata["name"] as? String ?? "")"
        let phase = status["phase"] as? String ?? ""
        guard let ip = status["podIP"] as? String, !ip.isEmpty, phase != "Succeeded", phase != "Failed" else {
            return TargetGroup(targets: [], source: groupSource)
        }
        let prefix = podPrefix
        var targets: [[String: String]] = []
        let statuses = (status["containerStatuses"] as? [KubernetesObject] ?? []) + (status["initContainerStatuses"] as? [KubernetesObject] ?? [])
        for isInit in [false, true] {
            for container in containers(pod, initContainers: isInit) {
                let containerName = container["name"] as? String ?? ""
                var base: [String: String] = [
                    prefix + "_container_name": containerName,
                    prefix + "_container_image": container["image"] as? String ?? "",
                    prefix + "_container_init": isInit ? "true" : "false",
                ]
                if let id = statuses.first(where: { $0["name"] as? String == containerName })?["containerID"] as? String {
                    base[prefix + "_container_id"] = id
                }
                let ports = container["ports"] as? [KubernetesObject] ?? []
                if ports.isEmpty {
                    // Init containers without ports are not targets.
                    if !isInit { targets.append(base.merging(["__address__": ip]) { $1 }) }
                    continue
                }
                for port in ports {
                    var target = base.merging(containerPortLabels(container, port)) { $1 }
                    target["__address__"] = joinHostPort(ip, integer(port["containerPort"]) ?? 0)
                    targets.append(target)
                }
            }
        }
        return TargetGroup(targets: targets, labels: podLabels(pod), source: groupSource)
    }

    /// One target per node at its kubelet port, `instance` set to the node name.
    static func nodeGroup(_ node: KubernetesObject, source: String) -> TargetGroup? {
        let metadata = node["metadata"] as? KubernetesObject ?? [:]
        let spec = node["spec"] as? KubernetesObject ?? [:]
        let status = node["status"] as? KubernetesObject ?? [:]
        let name = metadata["name"] as? String ?? ""
        let prefix = "__meta_kubernetes_node"
        var labels: [String: String] = [prefix + "_name": name, "instance": name]
        if let provider = spec["providerID"] as? String { labels[prefix + "_provider_id"] = provider }
        metadataLabels(metadata, prefix: prefix, into: &labels)
        let addresses = status["addresses"] as? [KubernetesObject] ?? []
        for address in addresses {
            if let type = address["type"] as? String, let value = address["address"] as? String {
                labels[prefix + "_address_" + type] = labels[prefix + "_address_" + type] ?? value
            }
        }
        let preference = ["InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"]
        guard let chosen = preference.lazy.compactMap({ type in
            addresses.first { $0["type"] as? String == type }?["address"] as? String
        }).first else { return TargetGroup(targets: [], source: "\(source)/node/\(name)") }
        let endpoints = status["daemonEndpoints"] as? KubernetesObject
        let port = integer((endpoints?["kubeletEndpoint"] as? KubernetesObject)?["Port"]) ?? 10250
        return TargetGroup(targets: [["__address__": joinHostPort(chosen, port)]], labels: labels, source: "\(source)/node/\(name)")
    }

    /// One target per service port at `<name>.<namespace>.svc:<port>`, as Prometheus's service role:
    /// the service's labels and annotations on the group; port, type and cluster IP (or external
    /// name) on each target.
    static func serviceGroup(_ service: KubernetesObject, source: String) -> TargetGroup? {
        let metadata = service["metadata"] as? KubernetesObject ?? [:]
        let spec = service["spec"] as? KubernetesObject ?? [:]
        let namespace = metadata["namespace"] as? String ?? ""
        let name = metadata["name"] as? String ?? ""
        let prefix = "__meta_kubernetes_service"
        let type = spec["type"] as? String ?? "ClusterIP"
        var targets: [[String: String]] = []
        for port in spec["ports"] as? [KubernetesObject] ?? [] {
            let number = String(integer(port["port"]) ?? 0)
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
        return TargetGroup(targets: targets, labels: serviceLabels(service), source: "\(source)/svc/\(namespace)/\(name)")
    }
}
