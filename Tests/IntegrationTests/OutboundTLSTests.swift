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
        let process: Process
        let port: Int

        init(directory: String, requireClient: Bool = false) throws {
            port = try ScrapeIntegrationTests.freePort()
            process = try startPython("""
            import http.server, ssl, base64
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
            """, at: directory + "/kubelet-\(requireClient).py")
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

    /// A Python HTTP proxy that tunnels CONNECT requests, logging each with its
    /// `Proxy-Authorization` and `X-Tenant` headers to `proxy.log`; with credentials given, a
    /// request without them gets 407.
    final class Proxy {
        let process: Process
        let port: Int

        init(directory: String, credentials: String) throws {
            port = try ScrapeIntegrationTests.freePort()
            process = try startPython("""
            import http.server, socket, select, base64
            class Handler(http.server.BaseHTTPRequestHandler):
                protocol_version = 'HTTP/1.1'
                def do_CONNECT(self):
                    auth = self.headers.get('Proxy-Authorization') or '-'
                    with open('\(directory)/proxy.log', 'a') as f:
                        f.write('CONNECT %s %s %s\\n' % (self.path, auth, self.headers.get('X-Tenant') or '-'))
                    if auth != 'Basic ' + base64.b64encode(b'\(credentials)').decode():
                        self.send_response(407)
                        self.send_header('Content-Length', '0')
                        self.end_headers()
                        return
                    host, port = self.path.rsplit(':', 1)
                    upstream = socket.create_connection((host, int(port)))
                    self.send_response(200, 'Connection established')
                    self.end_headers()
                    ends = [self.connection, upstream]
                    while True:
                        ready, _, _ = select.select(ends, [], [], 30)
                        if not ready:
                            break
                        for end in ready:
                            data = end.recv(65536)
                            if not data:
                                upstream.close()
                                return
                            (upstream if end is self.connection else self.connection).sendall(data)
                def log_message(self, *args):
                    pass
            http.server.ThreadingHTTPServer(('127.0.0.1', \(port)), Handler).serve_forever()
            """, at: directory + "/proxy.py")
        }

        deinit { process.terminate() }
    }

    /// `proxy_url` (with credentials in the URL and `proxy_connect_header`), a proxy that refuses
    /// the credentials, a proxy that is not there, and `no_proxy`, under which loopback targets go
    /// direct (Go's rule, which Prometheus follows once a list is given).
    @Test func scrapesThroughAProxyUnlessNoProxyApplies() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let certificates = try await WebConfigTests.Certificates(in: directory)
        try "first-token\n".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        let kubelet = try Kubelet(directory: directory)
        let proxy = try Proxy(directory: directory, credentials: "alice:pw")
        let closed = try ScrapeIntegrationTests.freePort()
        let common = "tls_config: {ca_file: \(certificates.path("ca.crt"))}\nauthorization: {credentials_file: \(directory)/token}"
        func job(_ name: String, _ settings: String) -> String {
            """
              - job_name: \(name)
                scheme: https
                metrics_path: /metrics/cadvisor
                static_configs: [{targets: ["127.0.0.1:\(kubelet.port)"]}]
            \((common + "\n" + settings).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            """
        }
        try """
            global: {scrape_interval: 1s, scrape_timeout: 1s}
            scrape_configs:
            \(job("proxied", "proxy_url: http://alice:pw@127.0.0.1:\(proxy.port)\nproxy_connect_header: {X-Tenant: [node-a]}"))
            \(job("refused", "proxy_url: http://mallory:x@127.0.0.1:\(proxy.port)"))
            \(job("no-proxy-there", "proxy_url: http://127.0.0.1:\(closed)"))
            \(job("bypassed", "proxy_url: http://127.0.0.1:\(closed)\nno_proxy: example.com,10.0.0.0/8"))
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let agent = try AgentProcess(arguments: ["--config.file=\(directory)/agent.yml"], directory: directory)
        try await agent.waitForListening()
        var seen: [String: (health: String, error: String)] = [:]
        let settled = try await AlertingIntegrationTests.eventually(seconds: 20) {
            seen = try await Self.targets(agent)
            return seen.count == 4 && seen.values.allSatisfy { $0.health != "unknown" }
        }
        #expect(settled, "\(seen)\n\(agent.log)")
        #expect(seen["proxied"]?.health == "up" && seen["bypassed"]?.health == "up", "\(seen)")
        #expect(seen["refused"]?.health == "down" && seen["no-proxy-there"]?.health == "down", "\(seen)")
        #expect(seen["refused"]?.error.lowercased().contains("proxy") == true, "\(seen)")
        let log = (try? String(contentsOfFile: directory + "/proxy.log", encoding: .utf8)) ?? ""
        let credentials = Data("alice:pw".utf8).base64EncodedString()
        #expect(log.contains("CONNECT 127.0.0.1:\(kubelet.port) Basic \(credentials) node-a"), "\(log)")
        // The scrapes that went through carried the token to the target itself.
        #expect(((try? String(contentsOfFile: directory + "/seen.log", encoding: .utf8)) ?? "").contains("Bearer first-token"))
    }
}
