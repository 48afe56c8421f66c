import ObsCore

/// The `endpoints` and `endpointslice` roles: one target per address and port of an Endpoints
/// or EndpointSlice object, enriched with its service's labels and, for addresses that point at
/// a known pod, the pod's labels and the matching container port; then one target for every
/// container port of those pods that no endpoint port covered. As Prometheus builds them.
extension KubernetesTargets {
    /// One address and port of an endpoints object, with the labels its own kind gives it.
    struct EndpointAddress {
        var ip: String
        var port: Int?
        var labels: [String: String]
        var targetRef: KubernetesObject?
        /// The endpoints role labels the container port with the endpoint port's protocol.
        var containerPortProtocol: String?
    }

    static func endpointTargets(_ addresses: [EndpointAddress], objects: KubernetesObjects) -> [[String: String]] {
        var targets: [[String: String]] = []
        // Pods the addresses resolved to, by `namespace/name`, with the ports already targeted.
        var seenPods: [String: (pod: KubernetesObject, ports: Set<Int>)] = [:]
        for address in addresses {
            var target = address.labels
            target["__address__"] = address.port.map { joinHostPort(address.ip, $0) } ?? address.ip
            guard let ref = address.targetRef, ref["kind"] as? String == "Pod",
                  let pod = objects.named(.pods, ref["namespace"] as? String ?? "", ref["name"] as? String ?? "")
            else {
                targets.append(target)
                continue
            }
            let key = "\(ref["namespace"] as? String ?? "")/\(ref["name"] as? String ?? "")"
            target.merge(podLabels(pod)) { $1 }
            if let number = address.port {
                match: for container in containers(pod) {
                    for port in container["ports"] as? [KubernetesObject] ?? [] where integer(port["containerPort"]) == number {
                        target.merge(containerPortLabels(container, port, protocol: address.containerPortProtocol)) { $1 }
                        break match
                    }
                }
            }
            seenPods[key, default: (pod, [])].ports.formUnion(address.port.map { [$0] } ?? [])
            targets.append(target)
        }
        for (_, seen) in seenPods.sorted(by: { $0.key < $1.key }) {
            // A pod that is starting or was evicted has no IP yet.
            guard let ip = (seen.pod["status"] as? KubernetesObject)?["podIP"] as? String, !ip.isEmpty else { continue }
            for container in containers(seen.pod) {
                for port in container["ports"] as? [KubernetesObject] ?? [] {
                    let number = integer(port["containerPort"]) ?? 0
                    guard !seen.ports.contains(number) else { continue }
                    var target = containerPortLabels(container, port).merging(podLabels(seen.pod)) { $1 }
                    target["__address__"] = joinHostPort(ip, number)
                    targets.append(target)
                }
            }
        }
        return targets.map { $0.filter { !$0.value.isEmpty } }
    }

    /// The group's labels shared by both roles: namespace, the object's own name, labels and
    /// annotations, and its service's (same name for Endpoints, the `kubernetes.io/service-name`
    /// label for EndpointSlices) when the service is known.
    static func endpointsGroupLabels(_ metadata: KubernetesObject, prefix: String, service: String?, objects: KubernetesObjects) -> [String: String] {
        let namespace = metadata["namespace"] as? String ?? ""
        var labels = ["__meta_kubernetes_namespace": namespace, prefix + "_name": metadata["name"] as? String ?? ""]
        if let service, let object = objects.named(.services, namespace, service) {
            labels.merge(serviceLabels(object)) { $1 }
        }
        metadataLabels(metadata, prefix: prefix, into: &labels)
        return labels
    }

    static func endpointsGroup(_ endpoints: KubernetesObject, objects: KubernetesObjects, source: String) -> TargetGroup? {
        let metadata = endpoints["metadata"] as? KubernetesObject ?? [:]
        let namespace = metadata["namespace"] as? String ?? ""
        let name = metadata["name"] as? String ?? ""
        let prefix = "__meta_kubernetes_endpoint"
        var addresses: [EndpointAddress] = []
        for subset in endpoints["subsets"] as? [KubernetesObject] ?? [] {
            for port in subset["ports"] as? [KubernetesObject] ?? [] {
                let number = integer(port["port"]) ?? 0
                let portProtocol = port["protocol"] as? String ?? "TCP"
                for (list, ready) in [("addresses", "true"), ("notReadyAddresses", "false")] {
                    for entry in subset[list] as? [KubernetesObject] ?? [] {
                        let ref = entry["targetRef"] as? KubernetesObject
                        var labels = [
                            prefix + "_port_name": port["name"] as? String ?? "",
                            prefix + "_port_protocol": portProtocol,
                            prefix + "_ready": ready,
                            prefix + "_node_name": entry["nodeName"] as? String ?? "",
                            prefix + "_hostname": entry["hostname"] as? String ?? "",
                            prefix + "_port_app_protocol": port["appProtocol"] as? String ?? "",
                        ]
                        if let ref {
                            labels[prefix + "_address_target_kind"] = ref["kind"] as? String ?? ""
                            labels[prefix + "_address_target_name"] = ref["name"] as? String ?? ""
                        }
                        addresses.append(EndpointAddress(ip: entry["ip"] as? String ?? "", port: number, labels: labels,
                                                         targetRef: ref, containerPortProtocol: portProtocol))
                    }
                }
            }
        }
        return TargetGroup(targets: endpointTargets(addresses, objects: objects),
                           labels: endpointsGroupLabels(metadata, prefix: "__meta_kubernetes_endpoints", service: name, objects: objects),
                           source: "\(source)/endpoints/\(namespace)/\(name)")
    }

    static func endpointSliceGroup(_ slice: KubernetesObject, objects: KubernetesObjects, source: String) -> TargetGroup? {
        let metadata = slice["metadata"] as? KubernetesObject ?? [:]
        let namespace = metadata["namespace"] as? String ?? ""
        let name = metadata["name"] as? String ?? ""
        let prefix = "__meta_kubernetes_endpointslice"
        var addresses: [EndpointAddress] = []
        // A port entry without a number (all ports of the address) gives targets without a port.
        let ports = slice["ports"] as? [KubernetesObject] ?? []
        for endpoint in slice["endpoints"] as? [KubernetesObject] ?? [] {
            let conditions = endpoint["conditions"] as? KubernetesObject ?? [:]
            let ref = endpoint["targetRef"] as? KubernetesObject
            for port in ports {
                var labels = [
                    prefix + "_port_name": port["name"] as? String ?? "",
                    prefix + "_port_protocol": port["protocol"] as? String ?? "",
                    prefix + "_port": integer(port["port"]).map(String.init) ?? "",
                    prefix + "_port_app_protocol": port["appProtocol"] as? String ?? "",
                    prefix + "_endpoint_hostname": endpoint["hostname"] as? String ?? "",
                    prefix + "_endpoint_node_name": endpoint["nodeName"] as? String ?? "",
                    prefix + "_endpoint_zone": endpoint["zone"] as? String ?? "",
                ]
                for condition in ["ready", "serving", "terminating"] {
                    if let value = conditions[condition] as? Bool { labels[prefix + "_endpoint_conditions_" + condition] = value ? "true" : "false" }
                }
                if let ref {
                    labels[prefix + "_address_target_kind"] = ref["kind"] as? String ?? ""
                    labels[prefix + "_address_target_name"] = ref["name"] as? String ?? ""
                }
                for (key, value) in endpoint["deprecatedTopology"] as? [String: String] ?? [:] {
                    labels[prefix + "_endpoint_topology_" + sanitize(key)] = value
                    labels[prefix + "_endpoint_topology_present_" + sanitize(key)] = "true"
                }
                for ip in endpoint["addresses"] as? [String] ?? [] {
                    addresses.append(EndpointAddress(ip: ip, port: integer(port["port"]), labels: labels, targetRef: ref))
                }
            }
        }
        var labels = endpointsGroupLabels(metadata, prefix: prefix, service: (metadata["labels"] as? [String: String])?["kubernetes.io/service-name"],
                                          objects: objects)
        labels[prefix + "_address_type"] = slice["addressType"] as? String ?? ""
        return TargetGroup(targets: endpointTargets(addresses, objects: objects), labels: labels.filter { !$0.value.isEmpty },
                           source: "\(source)/endpointslice/\(namespace)/\(name)")
    }
}
