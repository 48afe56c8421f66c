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
}
