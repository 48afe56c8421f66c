import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The outgoing clients' settings (`OutboundHTTP`): scrapes against a stand-in kubelet (HTTPS with a
/// certificate from a private CA and a bearer token required, read by the agent from a file that
/// changes, as a projected service-account token rotates; basic auth; a wrong CA, a missing token
/// and a client certificate the target demands), and the rule notifier against Alertmanager 0.25
/// behind TLS and basic auth.
@Suite(.serialized) struct OutboundTLSTests {
    /// A Python HTTPS server whose `/metrics/cadvisor` wants `Bearer <token file>` (read at each
    /// request) and whose `/basic` wants alice:secret; it appends every Authorization header it sees
    /// to `seen.log`. With `requireClient`, it also demands a client certificate from the CA.
    final class Kubelet {
        let process = Process()
        let port: Int

        init(directory: String, requireClient: Bool = false) throws {
            port = try ScrapeIntegrationTests.freePort()
            try """
            import http.server, ssl, base64
            \(WebhookRecorder.pythonPreamble)
            body = b'# TYPE container_cpu_usage_seconds_total counter\\ncontainer_cpu_usage_seconds_total{container="app"} 42\\n'
            class Handler(http.server.BaseHTTPRequestHandler):
                protocol_version = 'HTTP/1.1'
                def do_GET(self):
                    auth = self.headers.get('Authorization') or ''
                    with open('\(directory)/seen.log', 'a') as f:
                        f.write(self.path + ' ' + auth + '\\n')
                    if self.path.startswith('/metrics/cadvisor'):
                        ok = auth == 'Bearer ' + open('\(directory)/token').read().strip()
                    else:
                        ok = auth == 'Basic ' + base64.b64encode(b'alice:secret').decode()
                    self.send_response(200 if ok else 401)
                    self.send_header('Content-Type', 'text/plain; version=0.0.4')
                    self.send_header('Content-Length', str(len(body) if ok else 0))
                    self.end_headers()
                    if ok:
                        self.wfile.write(body)
                def log_message(self, *args):
                    pass
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain('\(directory)/server.crt', '\(directory)/server.key')
            if \(requireClient ? "True" : "False"):
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations('\(directory)/ca.crt')
            server = http.server.ThreadingHTTPServer(('127.0.0.1', \(port)), Handler)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            server.serve_forever()
            """.write(toFile: directory + "/kubelet-\(requireClient).py", atomically: true, encoding: .utf8)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [directory + "/kubelet-\(requireClient).py"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        deinit { process.terminate() }
    }

    static func targets(_ agent: AgentProcess) async throws -> [String: (health: String, error: String)] {
        let reply = try await http(.GET, agent.baseURL + "/api/v1/targets")
        let active = ((reply.json?["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]]) ?? []
        var result: [String: (String, String)] = [:]
        for target in active {
            result[target["scrapePool"] as? String ?? ""] = (target["health"] as? String ?? "", target["lastError"] as? String ?? "")
        }
        return result
    }

    @Test func httpsTargetsWithTokensCertificatesAndBasicAuth() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let certificates = try await WebConfigTests.Certificates(in: directory)
        try "first-token\n".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        try "secret\n".write(toFile: directory + "/password", atomically: true, encoding: .utf8)
        let kubelet = try Kubelet(directory: directory)
        let strict = try Kubelet(directory: directory, requireClient: true)
        func job(_ name: String, port: Int, path: String = "/metrics/cadvisor", _ settings: String) -> String {
            """
              - job_name: \(name)
                scheme: https
                metrics_path: \(path)
                static_configs: [{targets: ["127.0.0.1:\(port)"]}]
            \(settings.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            """
        }
        let ca = "tls_config: {ca_file: \(certificates.path("ca.crt"))}"
        let token = "authorization: {credentials_file: \(directory)/token}"
        let config = """
            global: {scrape_interval: 1s, scrape_timeout: 1s}
            scrape_configs:
            \(job("kubelet", port: kubelet.port, ca + "\n" + token))
            \(job("wrong-ca", port: kubelet.port, "tls_config: {ca_file: \(certificates.path("other-ca.crt"))}\n" + token))
            \(job("no-token", port: kubelet.port, ca))
            \(job("insecure", port: kubelet.port, "tls_config: {insecure_skip_verify: true}\n" + token))
            \(job("basic", port: kubelet.port, path: "/basic", ca + "\nbasic_auth: {username: alice, password_file: \(directory)/password}"))
            \(job("client-cert", port: strict.port, "tls_config: {ca_file: \(certificates.path("ca.crt")), cert_file: \(certificates.path("client.crt")), key_file: \(certificates.path("client.key"))}\n" + token))
            \(job("no-client-cert", port: strict.port, ca + "\n" + token))
            """
        try config.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml"], directory: directory)
        try await agent.waitForListening()
        var seen: [String: (health: String, error: String)] = [:]
        let settled = try await AlertingIntegrationTests.eventually(seconds: 20) {
            seen = try await Self.targets(agent)
            return seen.count == 7 && seen.values.allSatisfy { $0.health != "unknown" }
        }
        #expect(settled, "\(seen)\n\(agent.log)")
        for pool in ["kubelet", "insecure", "basic", "client-cert"] {
            #expect(seen[pool]?.health == "up", "\(pool): \(String(describing: seen[pool]))")
        }
        for pool in ["wrong-ca", "no-token", "no-client-cert"] {
            #expect(seen[pool]?.health == "down", "\(pool): \(String(describing: seen[pool]))")
        }
        #expect(seen["no-token"]?.error.contains("401") == true, "\(String(describing: seen["no-token"]))")
        // The token rotates: the next scrapes carry the new one and the target stays up.
        try "second-token\n".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        let rotated = try await AlertingIntegrationTests.eventually(seconds: 10) {
            ((try? String(contentsOfFile: directory + "/seen.log", encoding: .utf8)) ?? "").contains("Bearer second-token")
        }
        #expect(rotated)
        try await Task.sleep(for: .seconds(2))
        #expect(try await Self.targets(agent)["kubelet"]?.health == "up")
        let value = try await http(.GET, agent.baseURL + "/api/v1/query?query=" + percent("container_cpu_usage_seconds_total{job=\"kubelet\"}"))
        #expect(value.body.contains("\"42\""), "\(value.body)")
    }

    @Test(.enabled(if: AlertingIntegrationTests.available, "needs Debian's prometheus-alertmanager"))
    func rulesNotifyAnAlertmanagerBehindTLSAndBasicAuth() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let certificates = try await WebConfigTests.Certificates(in: directory)
        let hash = try await WebConfigTests.bcrypt("secret")
        try """
            tls_server_config: {cert_file: \(certificates.path("server.crt")), key_file: \(certificates.path("server.key"))}
            basic_auth_users: {prometheus: '\(hash)'}
            """.write(toFile: directory + "/am-web.yml", atomically: true, encoding: .utf8)
        try "route: {receiver: x}\nreceivers: [{name: x}]\n".write(toFile: directory + "/am.yml", atomically: true, encoding: .utf8)
        let amPort = try ScrapeIntegrationTests.freePort()
        let alertmanager = try startPeer(AlertingIntegrationTests.alertmanagerBinary, [
            "--config.file=\(directory)/am.yml", "--web.listen-address=127.0.0.1:\(amPort)", "--cluster.listen-address=",
            "--storage.path=\(directory)/am-data", "--web.config.file=\(directory)/am-web.yml"
        ])
        defer { alertmanager.terminate() }
        try "secret\n".write(toFile: directory + "/password", atomically: true, encoding: .utf8)
        try """
            groups: [{name: g, rules: [{alert: OverTLS, expr: vector(1)}]}]
            """.write(toFile: directory + "/rules.yml", atomically: true, encoding: .utf8)
        try """
            global: {evaluation_interval: 1s}
            rule_files: [rules.yml]
            alerting:
              alertmanagers:
                - scheme: https
                  static_configs: [{targets: ["127.0.0.1:\(amPort)"]}]
                  tls_config: {ca_file: \(certificates.path("ca.crt"))}
                  basic_auth: {username: prometheus, password_file: \(directory)/password}
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml"], directory: directory)
        try await agent.waitForListening()
        let arrived = try await AlertingIntegrationTests.eventually(seconds: 30) {
            let reply = try await runProcess("/usr/bin/curl", ["-s", "--cacert", certificates.path("ca.crt"), "-u", "prometheus:secret",
                                                               "https://127.0.0.1:\(amPort)/api/v2/alerts"])
            return reply.output.contains("OverTLS")
        }
        let metrics = try await http(.GET, agent.baseURL + "/metrics").body
        #expect(arrived, "\(metrics.split(separator: "\n").filter { $0.contains("prometheus_notifications") })\n\(agent.log)")
    }
}
