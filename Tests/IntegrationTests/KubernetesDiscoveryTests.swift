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

    @Test func listAndWatchPodsAndNodes() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let requests = directory + "/requests.log"
        try "kube-token\n".write(toFile: directory + "/kube-token", atomically: true, encoding: .utf8)
        let portFile = directory + "/apiserver.port"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", Self.fixtures + "/fake-kube-apiserver.py", "0", requests, portFile]
        // Its output must not hold the test runner's pipe open.
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL) }
        // The server binds a free port itself and names it, so nothing can take it in between.
        var port = 0
        for _ in 0..<300 where port == 0 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text) { port = value } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        guard port != 0 else { throw TestFailure("the stand-in API server did not start") }
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

        // The watch adds web-3, then deletes web-1.
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
}
