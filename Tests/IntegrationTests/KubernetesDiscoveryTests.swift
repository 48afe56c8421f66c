import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Kubernetes discovery against a local stand-in for the API server (recorded Pod and Node
/// objects): list with a node field selector, then a watch that adds and deletes a pod; the usual
/// `prometheus.io/scrape` relabeling applies unchanged.
@Suite(.serialized) struct KubernetesDiscoveryTests {
    static let fixtures: String = {
        let file = #filePath
        return String(file[..<file.lastIndex(of: "/")!]) + "/Fixtures"
    }()

    func targets(_ base: String) async throws -> (active: [[String: Any]], dropped: [[String: Any]]) {
        let reply = try await http(.GET, base + "/api/v1/targets")
        let data = (try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])?["data"] as? [String: Any]
        return (data?["activeTargets"] as? [[String: Any]] ?? [], data?["droppedTargets"] as? [[String: Any]] ?? [])
    }

    func pods(_ active: [[String: Any]]) -> Set<String> {
        Set(active.compactMap { ($0["labels"] as? [String: String])?["pod"] })
    }

    /// Starts the stand-in API server, which logs each request to `requests.log` in `directory`;
    /// `environment` as the script describes (`KUBELET_PORT`, `TLS_CERT`, `TLS_KEY`, `HOLD_WATCH`).
    static func startAPIServer(in directory: String, environment: [String: String] = [:]) async throws -> (server: Process, port: Int) {
        let portFile = directory + "/apiserver.port"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", Self.fixtures + "/fake-kube-apiserver.py", "0", directory + "/requests.log", portFile]
        server.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // Its output must not hold the test runner's pipe open.
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        guard let port = try await readPort(portFile) else {
            kill(server.processIdentifier, SIGKILL)
            throw TestFailure("the stand-in API server did not start")
        }
        return (server, port)
    }

    /// The port a stand-in wrote once it bound a free one (so nothing can take it in between).
    static func readPort(_ file: String) async throws -> Int? {
        for _ in 0..<500 {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), let value = Int(text) { return value }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    @Test func listAndWatchPodsAndNodes() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let requests = directory + "/requests.log"
        try "kube-token\n".write(toFile: directory + "/kube-token", atomically: true, encoding: .utf8)
        let release = directory + "/release-watch"
        let (server, port) = try await Self.startAPIServer(in: directory, environment: ["HOLD_WATCH": release])
        defer { kill(server.processIdentifier, SIGKILL) }
        let config = directory + "/agent.yml"
        try """
        global:
          scrape_interval: 1s
        scrape_configs:
          - job_name: pods
            kubernetes_sd_configs:
              - role: pod
                api_server: http://127.0.0.1:\(port)
                selectors:
                  - role: pod
                    field: spec.nodeName=$(OBS_TEST_NODE_NAME)
            relabel_configs:
              - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
                action: keep
                regex: true
              - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
                regex: ([^:]+)(?::\\d+)?;(\\d+)
                replacement: $1:$2
                target_label: __address__
              - action: labelmap
                regex: __meta_kubernetes_pod_label_(.+)
              - source_labels: [__meta_kubernetes_namespace]
                target_label: namespace
              - source_labels: [__meta_kubernetes_pod_name]
                target_label: pod
          - job_name: nodes
            kubernetes_sd_configs:
              - role: node
                api_server: http://127.0.0.1:\(port)
                authorization: {credentials_file: \(directory)/kube-token}
          - job_name: services
            kubernetes_sd_configs:
              - role: service
                api_server: http://127.0.0.1:\(port)
                namespaces: {names: [shop]}
            relabel_configs:
              - source_labels: [__meta_kubernetes_service_annotation_prometheus_io_probe]
                action: keep
                regex: true
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(config)"], directory: directory,
                                     environment: ["OBS_TEST_NODE_NAME": "node-a"])
        try await agent.waitForListening()
        let base = agent.baseURL

        // The list: web-1 kept (annotated), db-1 dropped (not annotated), job-1 gone (Succeeded).
        var state = try await targets(base)
        // Generous: on a loaded machine the first list can take seconds; the loop ends as soon as it lands.
        for _ in 0..<300 where pods(state.active).isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            state = try await targets(base)
        }
        #expect(pods(state.active) == ["web-1"] || pods(state.active) == ["web-1", "web-3"])
        let web1 = state.active.first { ($0["labels"] as? [String: String])?["pod"] == "web-1" }
        let labels = web1?["labels"] as? [String: String] ?? [:]
        #expect(labels["instance"] == "10.0.0.1:9102")
        #expect(labels["app"] == "web")
        #expect(labels["app_kubernetes_io_part_of"] == "shop")
        #expect(labels["namespace"] == "shop")
        let discovered = web1?["discoveredLabels"] as? [String: String] ?? [:]
        #expect(discovered["__meta_kubernetes_pod_controller_kind"] == "ReplicaSet")
        #expect(discovered["__meta_kubernetes_pod_container_port_name"] == "http")
        #expect(discovered["__meta_kubernetes_pod_ready"] == "true")
        #expect(discovered["__meta_kubernetes_pod_node_name"] == "node-a")
        #expect(state.dropped.contains { ($0["discoveredLabels"] as? [String: String])?["__meta_kubernetes_pod_name"] == "db-1" })
        let node = state.active.first { $0["scrapePool"] as? String == "nodes" }
        #expect((node?["labels"] as? [String: String])?["instance"] == "node-a")
        #expect(node?["scrapeUrl"] as? String == "http://10.0.0.10:10250/metrics")
        #expect((node?["discoveredLabels"] as? [String: String])?["__meta_kubernetes_node_address_InternalIP"] == "10.0.0.10")

        // Services: one target per port of the kept service, with Prometheus's labels.
        for _ in 0..<300 where state.active.filter({ $0["scrapePool"] as? String == "services" }).count < 2 {
            try await Task.sleep(for: .milliseconds(100))
            state = try await targets(base)
        }
        let services = state.active.filter { $0["scrapePool"] as? String == "services" }
        #expect(services.compactMap { $0["scrapeUrl"] as? String }.sorted() == ["http://web.shop.svc:80/metrics", "http://web.shop.svc:9102/metrics"],
                "\(services)")
        let http80 = services.first { ($0["discoveredLabels"] as? [String: String])?["__meta_kubernetes_service_port_name"] == "http" }
        let serviceLabels = http80?["discoveredLabels"] as? [String: String] ?? [:]
        #expect(serviceLabels["__meta_kubernetes_service_cluster_ip"] == "10.96.0.10" && serviceLabels["__meta_kubernetes_service_type"] == "ClusterIP")
        #expect(serviceLabels["__meta_kubernetes_service_label_app"] == "web" && serviceLabels["__meta_kubernetes_namespace"] == "shop")
        #expect(serviceLabels["__meta_kubernetes_service_port_number"] == "80" && serviceLabels["__meta_kubernetes_service_port_protocol"] == "TCP")
        let external = state.dropped.first { ($0["discoveredLabels"] as? [String: String])?["__meta_kubernetes_service_name"] == "db" }
        #expect((external?["discoveredLabels"] as? [String: String])?["__meta_kubernetes_service_external_name"] == "db.example.com")

        // The watch adds web-3, then deletes web-1, once the list has been looked at.
        FileManager.default.createFile(atPath: release, contents: nil)
        for _ in 0..<300 where pods(state.active) != ["web-3"] {
            try await Task.sleep(for: .milliseconds(100))
            state = try await targets(base)
        }
        #expect(pods(state.active) == ["web-3"])

        // The field selector went to the API server, with the node name from the environment.
        let sent = (try? String(contentsOfFile: requests, encoding: .utf8)) ?? ""
        #expect(sent.contains("fieldSelector=spec.nodeName%3Dnode-a"))
        #expect(sent.contains("watch=true&resourceVersion=100"))
        // api_server with client settings: the token from the file goes with the node requests.
        #expect(sent.contains("/api/v1/nodes Bearer kube-token") && sent.contains("/api/v1/pods?"), "\(sent)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    /// The endpoints roles: targets from EndpointSlices and Endpoints, with the service's labels
    /// and, where the address is a known pod, the pod's and its container port's; a container port
    /// no endpoint names becomes a target of its own. A pod selector keeps the pods to this node,
    /// and relabeling on the pod's node keeps this node's endpoints, as a DaemonSet does.
    @Test func endpointSlicesAndEndpointsCarryTheirServiceAndPods() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let (server, port) = try await Self.startAPIServer(in: directory)
        defer { kill(server.processIdentifier, SIGKILL) }
        let config = directory + "/agent.yml"
        try """
        global:
          scrape_interval: 1s
        scrape_configs:
          - job_name: slices
            kubernetes_sd_configs:
              - role: endpointslice
                api_server: http://127.0.0.1:\(port)
                namespaces: {names: [shop]}
                selectors:
                  - role: pod
                    field: spec.nodeName=$(OBS_TEST_NODE_NAME)
            relabel_configs:
              - source_labels: [__meta_kubernetes_pod_node_name]
                action: keep
                regex: node-a
          - job_name: endpoints
            kubernetes_sd_configs:
              - role: endpoints
                api_server: http://127.0.0.1:\(port)
                namespaces: {names: [shop]}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(config)"], directory: directory,
                                     environment: ["OBS_TEST_NODE_NAME": "node-a"])
        try await agent.waitForListening()
        func pool(_ name: String, _ targets: [[String: Any]]) -> [String: [String: String]] {
            var byAddress: [String: [String: String]] = [:]
            for target in targets {
                let labels = target["discoveredLabels"] as? [String: String] ?? [:]
                if target["scrapePool"] as? String == name || labels["job"] == name, let address = labels["__address__"] {
                    byAddress[address] = labels
                }
            }
            return byAddress
        }
        var state = try await targets(agent.baseURL)
        // The service and pods may land after the slices: wait for the complete picture.
        for _ in 0..<300 where pool("slices", state.active)["10.0.0.1:9090"] == nil
            || pool("slices", state.active)["10.0.0.1:8080"]?["__meta_kubernetes_service_name"] == nil
            || pool("endpoints", state.active).count < 3 {
            try await Task.sleep(for: .milliseconds(100))
            state = try await targets(agent.baseURL)
        }
        let slices = pool("slices", state.active)
        #expect(Set(slices.keys) == ["10.0.0.1:8080", "10.0.0.1:9090"])
        let web = slices["10.0.0.1:8080"] ?? [:]
        let expected: [String: String] = [
            "__meta_kubernetes_namespace": "shop",
            "__meta_kubernetes_endpointslice_name": "web-abc12",
            "__meta_kubernetes_endpointslice_address_type": "IPv4",
            "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name": "web",
            "__meta_kubernetes_endpointslice_port": "8080",
            "__meta_kubernetes_endpointslice_port_name": "http",
            "__meta_kubernetes_endpointslice_port_protocol": "TCP",
            "__meta_kubernetes_endpointslice_port_app_protocol": "http",
            "__meta_kubernetes_endpointslice_endpoint_conditions_ready": "true",
            "__meta_kubernetes_endpointslice_endpoint_conditions_serving": "true",
            "__meta_kubernetes_endpointslice_endpoint_conditions_terminating": "false",
            "__meta_kubernetes_endpointslice_endpoint_node_name": "node-a",
            "__meta_kubernetes_endpointslice_endpoint_zone": "zone-1",
            "__meta_kubernetes_endpointslice_address_target_kind": "Pod",
            "__meta_kubernetes_endpointslice_address_target_name": "web-1",
            "__meta_kubernetes_service_name": "web",
            "__meta_kubernetes_service_label_app": "web",
            "__meta_kubernetes_service_annotation_prometheus_io_probe": "true",
            "__meta_kubernetes_pod_name": "web-1",
            "__meta_kubernetes_pod_node_name": "node-a",
            "__meta_kubernetes_pod_controller_kind": "ReplicaSet",
            "__meta_kubernetes_pod_label_app": "web",
            "__meta_kubernetes_pod_container_name": "web",
            "__meta_kubernetes_pod_container_port_name": "http",
            "__meta_kubernetes_pod_container_port_number": "8080",
        ]
        for (name, value) in expected {
            #expect(web[name] == value, "\(name)")
        }
        // The port no endpoint names: pod and container labels, none of the endpoint's.
        let metrics = slices["10.0.0.1:9090"] ?? [:]
        #expect(metrics["__meta_kubernetes_pod_container_port_name"] == "metrics" && metrics["__meta_kubernetes_pod_name"] == "web-1")
        #expect(metrics["__meta_kubernetes_endpointslice_port"] == nil && metrics["__meta_kubernetes_endpointslice_name"] == "web-abc12")
        // The endpoint on the other node is dropped by the relabeling; its pod is not known here.
        let other = pool("slices", state.dropped)["10.0.1.7:8080"] ?? [:]
        #expect(other["__meta_kubernetes_endpointslice_endpoint_conditions_ready"] == "false")
        #expect(other["__meta_kubernetes_endpointslice_endpoint_node_name"] == "node-b" && other["__meta_kubernetes_pod_name"] == nil)

        let endpoints = pool("endpoints", state.active)
        #expect(Set(endpoints.keys) == ["10.0.0.1:8080", "10.0.0.1:9090", "10.0.1.7:8080"])
        #expect(endpoints["10.0.0.1:8080"]?["__meta_kubernetes_endpoint_ready"] == "true")
        #expect(endpoints["10.0.1.7:8080"]?["__meta_kubernetes_endpoint_ready"] == "false")
        #expect(endpoints["10.0.0.1:8080"]?["__meta_kubernetes_endpoints_name"] == "web")
        #expect(endpoints["10.0.0.1:8080"]?["__meta_kubernetes_endpoints_label_app"] == "web")
        #expect(endpoints["10.0.0.1:8080"]?["__meta_kubernetes_endpoint_address_target_name"] == "web-1")
        #expect(endpoints["10.0.0.1:8080"]?["__meta_kubernetes_pod_container_port_name"] == "http")
        #expect(endpoints["10.0.1.7:8080"]?["__meta_kubernetes_endpoint_node_name"] == "node-b")
        #expect(endpoints["10.0.0.1:9090"]?["__meta_kubernetes_service_name"] == "web")

        // Each kind is followed in the namespace; the pod selector went with the pod requests only.
        let sent = (try? String(contentsOfFile: directory + "/requests.log", encoding: .utf8)) ?? ""
        #expect(sent.contains("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?watch=true"))
        #expect(sent.contains("/api/v1/namespaces/shop/pods?fieldSelector=spec.nodeName%3Dnode-a"))
        #expect(sent.contains("/api/v1/namespaces/shop/services -") && sent.contains("/api/v1/namespaces/shop/endpoints -"), "\(sent)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}
