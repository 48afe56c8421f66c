import Foundation
import Testing

/// The configuration shipped in `deploy/kubernetes/configmap.yaml` is the one tested: its files are
/// taken out of the ConfigMap as the kubelet would mount them, and the agent runs them.
@Suite(.serialized) struct DeployTests {
    static var repository: String {
        let file = #filePath
        return String(file[..<file.range(of: "/Tests/IntegrationTests/")!.lowerBound])
    }

    /// Writes each `data` entry of the ConfigMap into `directory`.
    static func mountConfigMap(into directory: String) async throws {
        let script = """
            import os, sys, yaml
            with open(sys.argv[1]) as f:
                config_map = yaml.safe_load(f)
            for name, text in config_map["data"].items():
                with open(os.path.join(sys.argv[2], name), "w") as out:
                    out.write(text)
            """
        let run = try await runProcess("/usr/bin/python3", ["-c", script, repository + "/deploy/kubernetes/configmap.yaml", directory])
        guard run.status == 0 else { throw TestFailure("cannot read the ConfigMap: \(run.output)") }
    }

    @Test func theShippedConfigurationRuns() async throws {
        let directory = AgentProcess.temporaryDirectory()
        try await Self.mountConfigMap(into: directory)
        let config = directory + "/obs-agent.yml"
        // Without NODE_NAME (no downward API) the selectors would match nothing: a startup error.
        let refused = try await runTool("obs-agent", ["--config.file=\(config)", "--storage.path=\(directory)/refused"])
        #expect(refused.status != 0 && refused.output.contains("environment variable NODE_NAME"), "\(refused.output)")

        let agent = try AgentProcess(arguments: ["--config.file=\(config)", "--config.auto-reload-interval=30s"], directory: directory,
                                     environment: ["NODE_NAME": "node-a"])
        try await agent.waitForListening()
        let rules = try await http(.GET, agent.baseURL + "/api/v1/rules")
        let groups = ((rules.json?["data"] as? [String: Any])?["groups"] as? [[String: Any]]) ?? []
        #expect(groups.map { $0["name"] as? String ?? "" } == ["node", "containers", "agent"], "\(rules.body)")
        #expect(groups.reduce(0) { $0 + (($1["rules"] as? [Any])?.count ?? 0) } == 8)
        #expect(groups.allSatisfy { (($0["rules"] as? [[String: Any]]) ?? []).allSatisfy { $0["health"] as? String != "err" } }, "\(rules.body)")
        #expect(try await http(.GET, agent.baseURL + "/api/v2/receivers").body == #"[{"name":"node"}]"#)
        // obsctl checks it as the agent loads it: here, without the pod's NODE_NAME, it says so.
        let check = try await runTool("obsctl", ["check", "config", config])
        #expect(check.status == 1 && check.output.contains("environment variable NODE_NAME"), "\(check.output)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    /// A stand-in kubelet: the recorded pages of `Fixtures/kubelet/`, HTTPS with `certificates`'
    /// server certificate, for the bearer token in `tokenFile` only (re-read at each request).
    static func startKubelet(in directory: String, tokenFile: String, tls: WebConfigTests.Certificates?) async throws -> (Process, Int) {
        let portFile = directory + "/kubelet.port"
        var arguments = [KubernetesDiscoveryTests.fixtures + "/stand-in-kubelet.py", portFile, tokenFile, directory + "/kubelet-seen.log"]
        if let tls { arguments += [tls.path("server.crt"), tls.path("server.key")] }
        let kubelet = try startPeer("/usr/bin/python3", arguments)
        guard let port = try await KubernetesDiscoveryTests.readPort(portFile) else {
            kubelet.terminate()
            throw TestFailure("the stand-in kubelet did not start")
        }
        return (kubelet, port)
    }

    /// The ConfigMap's own kubelet and cAdvisor jobs, in-cluster discovery included, against a
    /// stand-in API server and a stand-in kubelet (HTTPS, a certificate of its own, a bearer token
    /// required). What a pod is given is put where the test can: the service-account directory
    /// (`OBS_AGENT_SERVICE_ACCOUNT_DIR`, and the token path in the configuration) and the pod log
    /// directory are temporary ones, the API server's address comes from `KUBERNETES_SERVICE_*` as
    /// in a pod. Nothing else in the configuration changes. The token then rotates.
    @Test func theShippedConfigurationScrapesTheKubeletWithItsRotatingToken() async throws {
        let directory = AgentProcess.temporaryDirectory()
        try await Self.mountConfigMap(into: directory)
        let certificates = try await WebConfigTests.Certificates(in: directory)
        let serviceAccount = directory + "/serviceaccount"
        try FileManager.default.createDirectory(atPath: serviceAccount, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/pods", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: certificates.path("ca.crt"), toPath: serviceAccount + "/ca.crt")
        try "token-one\n".write(toFile: serviceAccount + "/token", atomically: true, encoding: .utf8)
        let config = directory + "/obs-agent.yml"
        let shipped = try String(contentsOfFile: config, encoding: .utf8)
        let mounted = shipped.replacingOccurrences(of: "/var/run/secrets/kubernetes.io/serviceaccount", with: serviceAccount)
            .replacingOccurrences(of: "/var/log/pods", with: directory + "/pods")
        #expect(mounted != shipped)
        try mounted.write(toFile: config, atomically: true, encoding: .utf8)

        let (kubelet, kubeletPort) = try await Self.startKubelet(in: directory, tokenFile: serviceAccount + "/token", tls: certificates)
        defer { kubelet.terminate() }
        let (apiServer, apiPort) = try await KubernetesDiscoveryTests.startAPIServer(in: directory, environment: [
            "KUBELET_PORT": String(kubeletPort), "TLS_CERT": certificates.path("server.crt"), "TLS_KEY": certificates.path("server.key"),
        ])
        defer { kill(apiServer.processIdentifier, SIGKILL) }
        let agent = try AgentProcess(arguments: ["--config.file=\(config)"], directory: directory, environment: [
            "NODE_NAME": "node-a", "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(apiPort),
            "OBS_AGENT_SERVICE_ACCOUNT_DIR": serviceAccount,
        ])
        try await agent.waitForListening()
        // Scrapes are 30 s apart in the shipped configuration: allow two of them.
        var health: [String: (health: String, error: String)] = [:]
        let up = try await AlertingIntegrationTests.eventually(seconds: 75) {
            health = try await OutboundTLSTests.targets(agent)
            return ["kubelet", "cadvisor", "kubelet-probes"].allSatisfy { health[$0]?.health == "up" }
        }
        #expect(up, "\(health)\n\(agent.log)")
        let requests = (try? String(contentsOfFile: directory + "/requests.log", encoding: .utf8)) ?? ""
        #expect(requests.contains("fieldSelector=metadata.name%3Dnode-a Bearer token-one"), "\(requests)")
        let cpu = try await http(.GET, agent.baseURL + "/api/v1/query?query=" + percent("count(container_cpu_usage_seconds_total{job=\"cadvisor\",instance=\"node-a\"})"))
        #expect(cpu.body.contains("\"11\""), "\(cpu.body)")

        try "token-two\n".write(toFile: serviceAccount + "/token", atomically: true, encoding: .utf8)
        let rotated = try await AlertingIntegrationTests.eventually(seconds: 75) {
            let seen = (try? String(contentsOfFile: directory + "/kubelet-seen.log", encoding: .utf8)) ?? ""
            return seen.contains("/metrics/cadvisor Bearer token-two")
        }
        #expect(rotated)
        #expect(try await OutboundTLSTests.targets(agent)["cadvisor"]?.health == "up")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }

    /// The image ships one binary: `obs-agent` called through a link named `obsctl` is the client.
    @Test func theDaemonBinaryIsObsctlByThatName() async throws {
        let directory = AgentProcess.temporaryDirectory()
        try FileManager.default.createSymbolicLink(atPath: directory + "/obsctl", withDestinationPath: AgentProcess.binary("obs-agent"))
        let agent = try AgentProcess(arguments: [], directory: directory)
        try await agent.waitForListening()
        let status = try await runProcess(directory + "/obsctl", ["--url", agent.baseURL, "status"])
        #expect(status.status == 0 && status.output.contains("ready"), "\(status.output)")
        let help = try await runProcess(directory + "/obsctl", ["--help"])
        #expect(help.output.contains("Query and inspect a running obs-agent"), "\(help.output)")
        let daemon = try await runProcess(AgentProcess.binary("obs-agent"), ["--help"])
        #expect(daemon.output.contains("in one process"), "\(daemon.output)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}
