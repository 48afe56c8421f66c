import Foundation
import Testing

/// `--web.config.file` against Prometheus 2.42 with the same file: TLS (wrong CA, expired
/// certificates, client certificates required or not) and basic auth (wrong password, missing
/// header), on the main listener and the OTLP/HTTP one, compared status code by status code.
@Suite(.serialized) struct WebConfigTests {
    static var prometheusAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus") }

    /// A CA, a server certificate for 127.0.0.1, client certificates (good, from another CA,
    /// expired) and an expired server certificate, made with openssl.
    struct Certificates {
        let directory: String

        init(in directory: String) async throws {
            self.directory = directory
            let script = """
                set -e
                cd '\(directory)'
                q() { "$@" > /dev/null 2>&1; }
                q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=test-ca
                q openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 30 -subj /CN=other-ca
                printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
                q openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
                q openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 30 -extfile san.ext
                q openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client
                q openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 30
                q openssl req -newkey rsa:2048 -nodes -keyout other.key -out other.csr -subj /CN=intruder
                q openssl x509 -req -in other.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial -out other.crt -days 30
                mkdir -p db && touch db/index.txt && echo 1000 > db/serial
                printf '[ca]\\ndefault_ca=t\\n[t]\\ndir=.\\ndatabase=db/index.txt\\nserial=db/serial\\nnew_certs_dir=db\\ndefault_md=sha256\\npolicy=p\\n[p]\\ncommonName=supplied\\n' > ca.cnf
                q openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in client.csr -out expired-client.crt -startdate 20200101000000Z -enddate 20200201000000Z -notext
                q openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in server.csr -out expired-server.crt -startdate 20200101000000Z -enddate 20200201000000Z -notext -extfile san.ext
                """
            let result = try await runProcess("/bin/bash", ["-c", script])
            guard result.status == 0 else { throw TestFailure("making certificates failed: \(result.output)") }
        }

        func path(_ name: String) -> String { directory + "/" + name }
    }

    /// A bcrypt hash of `secret` (cost 4, so the tests stay quick), made with Python's crypt.
    static func bcrypt(_ password: String) async throws -> String {
        let result = try await runProcess("/usr/bin/python3", ["-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))", password])
        let hash = result.output.split(separator: "\n").last.map(String.init) ?? ""
        guard hash.hasPrefix("$2") else { throw TestFailure("no bcrypt: \(result.output)") }
        return hash
    }

    /// `web.yml` in `directory`: TLS with a client certificate required and verified against
    /// `ca.crt`, and the user alice with password `secret`.
    static func strictWebConfig(in directory: String) async throws -> String {
        let hash = try await bcrypt("secret")
        let path = directory + "/web.yml"
        try """
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca.crt
            basic_auth_users:
              alice: '\(hash)'
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The status code curl sees (`000` when the connection or handshake fails).
    static func status(_ url: String, _ arguments: [String]) async throws -> String {
        let result = try await runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"] + arguments + [url])
        return String(result.output.suffix(3))
    }

    @Test(.enabled(if: prometheusAvailable, "needs Debian's prometheus 2.42"))
    func theWebConfigurationBehavesAsPrometheusDoes() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let certificates = try await Certificates(in: directory)
        let webConfig = try await Self.strictWebConfig(in: directory)

        let prometheusPort = try ScrapeIntegrationTests.freePort()
        try "scrape_configs: []\n".write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = ["--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/prometheus-data",
                                "--web.listen-address=127.0.0.1:\(prometheusPort)", "--web.config.file=\(webConfig)"]
        prometheus.standardOutput = FileHandle.nullDevice
        prometheus.standardError = FileHandle.nullDevice
        try prometheus.run()
        defer { prometheus.terminate() }
        // Prometheus is up once its TLS listener answers.
        let probe = ["--cacert", certificates.path("ca.crt"), "--cert", certificates.path("client.crt"), "--key", certificates.path("client.key")]
        let prometheusDeadline = ContinuousClock.now + .seconds(30)
        while try await Self.status("https://127.0.0.1:\(prometheusPort)/-/healthy", probe) == "000" {
            guard ContinuousClock.now < prometheusDeadline, prometheus.isRunning else { throw TestFailure("Prometheus did not start") }
            try await Task.sleep(for: .milliseconds(100))
        }

        let otlpPort = try ScrapeIntegrationTests.freePort()
        let agent = try AgentProcess(arguments: ["--web.config.file=\(webConfig)", "--otlp.http.listen-address=127.0.0.1:\(otlpPort)"],
                                     directory: directory)
        try await agent.waitForListeningOverTLS(caFile: certificates.path("ca.crt"), client: certificates.path("client"))

        let good = ["--cacert", certificates.path("ca.crt"), "--cert", certificates.path("client.crt"), "--key", certificates.path("client.key")]
        let cases: [(String, [String], String)] = [
            ("good certificate and password", good + ["-u", "alice:secret"], "200"),
            ("wrong password", good + ["-u", "alice:nope"], "401"),
            ("unknown user", good + ["-u", "bob:secret"], "401"),
            ("no authorization header", good, "401"),
            ("no client certificate", ["--cacert", certificates.path("ca.crt"), "-u", "alice:secret"], "000"),
            ("client certificate of another CA",
             ["--cacert", certificates.path("ca.crt"), "--cert", certificates.path("other.crt"), "--key", certificates.path("other.key"), "-u", "alice:secret"], "000"),
            ("expired client certificate",
             ["--cacert", certificates.path("ca.crt"), "--cert", certificates.path("expired-client.crt"), "--key", certificates.path("client.key"), "-u", "alice:secret"], "000"),
            ("server checked against the wrong CA",
             ["--cacert", certificates.path("other-ca.crt"), "--cert", certificates.path("client.crt"), "--key", certificates.path("client.key"), "-u", "alice:secret"], "000"),
        ]
        for path in ["/-/healthy", "/-/ready", "/api/v1/status/flags", "/api/v1/query?query=1", "/no-such-path"] {
            for (name, arguments, expected) in cases {
                let theirs = try await Self.status("https://127.0.0.1:\(prometheusPort)" + path, arguments)
                let ours = try await Self.status(agent.baseURL.replacingOccurrences(of: "http://", with: "https://") + path, arguments)
                #expect(ours == theirs, "\(path), \(name): Prometheus \(theirs), obs-agent \(ours)")
                if path == "/-/healthy" { #expect(ours == expected, "\(name)") }
            }
        }
        // Plain HTTP on the TLS port gets Go's answer.
        #expect(try await Self.status(agent.baseURL + "/-/healthy", []) == "400")
        #expect(try await Self.status("http://127.0.0.1:\(prometheusPort)/-/healthy", []) == "400")

        // The OTLP/HTTP listener is held to the same file.
        let otlp = "https://127.0.0.1:\(otlpPort)/v1/traces"
        #expect(try await Self.status(otlp, good + ["-X", "POST", "-H", "Content-Type: application/json", "-d", "{}"]) == "401")
        #expect(try await Self.status(otlp, good + ["-u", "alice:secret", "-X", "POST", "-H", "Content-Type: application/json", "-d", "{}"]) == "200")
        #expect(try await Self.status(otlp, ["--cacert", certificates.path("ca.crt"), "-u", "alice:secret", "-X", "POST", "-d", "{}"]) == "000")

        // A renewed (here: expired) certificate is served from the next connection, and the good one again after.
        try FileManager.default.removeItem(atPath: certificates.path("server.crt"))
        try FileManager.default.copyItem(atPath: certificates.path("expired-server.crt"), toPath: certificates.path("server.crt"))
        #expect(try await Self.status(agent.baseURL.replacingOccurrences(of: "http://", with: "https://") + "/-/healthy", good + ["-u", "alice:secret"]) == "000")

        // obsctl with its TLS and basic-auth options.
        try "secret\n".write(toFile: directory + "/password", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: certificates.path("server.crt"))
        let regenerate = try await runProcess("/bin/bash", ["-c", "cd '\(directory)' && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 30 -extfile san.ext"])
        #expect(regenerate.status == 0)
        let obsctl = try await runTool("obsctl", ["status", "--url", agent.baseURL.replacingOccurrences(of: "http://", with: "https://"),
                                                  "--ca-file", certificates.path("ca.crt"), "--cert-file", certificates.path("client.crt"),
                                                  "--key-file", certificates.path("client.key"), "--username", "alice",
                                                  "--password-file", directory + "/password"])
        #expect(obsctl.status == 0, "\(obsctl.output)")
        agent.signal(SIGTERM)
        _ = try await agent.waitForExit()
    }

    /// The OTLP/gRPC listener is held to the same web configuration: TLS with a required client
    /// certificate and basic authentication, answered with gRPC's status codes (grpcio as the client).
    @Test func otlpGRPCListenerUsesTheWebConfiguration() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let certificates = try await Certificates(in: directory)
        let webConfig = try await Self.strictWebConfig(in: directory)
        let agent = try AgentProcess(arguments: ["--web.config.file=\(webConfig)", "--otlp.grpc.listen-address=127.0.0.1:0",
                                                 "--web.max-request-body-size=64KB"], directory: directory)
        try await agent.waitForListeningOverTLS(caFile: certificates.path("ca.crt"), client: certificates.path("client"))
        try await agent.waitForLog { $0.contains("protocol=otlp-grpc") }
        let line = agent.log.split(separator: "\n").first { $0.contains("protocol=otlp-grpc") }!
        let address = String(line.split(separator: " ").first { $0.hasPrefix("address=") }!.dropFirst(8))
        let file = #filePath
        let script = String(file[..<file.lastIndex(of: "/")!]) + "/Fixtures/traces/grpc_calls.py"
        let run = try await runProcess("/usr/bin/env", ["python3", script, address, directory])
        let codes = try #require(try? JSONSerialization.jsonObject(with: Data((run.output.split(separator: "\n").last ?? "").utf8)) as? [String: String],
                                 "\(run.output)")
        let expected = [
            "good": "OK", "gzip": "OK", "no credentials": "UNAUTHENTICATED", "wrong password": "UNAUTHENTICATED",
            "no client certificate": "UNAVAILABLE", "client certificate of another CA": "UNAVAILABLE", "expired client certificate": "UNAVAILABLE",
            "server checked against the wrong CA": "UNAVAILABLE", "plaintext": "UNAVAILABLE", "unknown method": "UNIMPLEMENTED",
            "too large": "RESOURCE_EXHAUSTED",
        ]
        #expect(codes == expected, "\(run.output)")
        // Both accepted exports are stored.
        let good = ["--cacert", certificates.path("ca.crt"), "--cert", certificates.path("client.crt"), "--key", certificates.path("client.key"),
                    "-u", "alice:secret"]
        let base = agent.baseURL.replacingOccurrences(of: "http://", with: "https://")
        for trace in ["01", "02"] {
            let id = String(repeating: trace, count: 16)
            #expect(try await Self.status(base + "/api/v2/traces/\(id)", good) == "200", "trace \(id)")
        }
    }

    /// A web configuration with unknown keys or a broken TLS setup stops the daemon at startup,
    /// naming the file and the key.
    @Test func aBadWebConfigurationIsAStartupError() async throws {
        let directory = AgentProcess.temporaryDirectory()
        for (text, message) in [
            ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  cipher_suites: [x]\n", "cipher_suites"),
            ("basic_auth_users:\n  alice: plaintext\n", "bcrypt"),
            ("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n", "missing.crt"),
            ("http_server_config:\n  http2: true\n", "HTTP/2"),
        ] {
            try text.write(toFile: directory + "/web.yml", atomically: true, encoding: .utf8)
            let agent = try AgentProcess(arguments: ["--web.config.file=\(directory)/web.yml"], directory: directory)
            #expect(try await agent.waitForExit() == 1)
            #expect(agent.log.contains(message), "\(agent.log)")
        }
    }
}

extension AgentProcess {
    /// `waitForListening` for a TLS listener: the port from the log, then `/-/healthy` over TLS.
    func waitForListeningOverTLS(caFile: String, client: String) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let range = log.range(of: #"msg=Listening address=127\.0\.0\.1:\d+"#, options: .regularExpression) {
                let port = Int(log[range].split(separator: ":").last!)!
                setPort(port)
                let result = try await runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", caFile,
                                                                     "--cert", client + ".crt", "--key", client + ".key",
                                                                     "https://127.0.0.1:\(port)/-/healthy"])
                if result.output.hasSuffix("200") || result.output.hasSuffix("401") { return }
            }
            if !process.isRunning { throw TestFailure("agent exited early:\n\(log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("agent did not start over TLS:\n\(log)")
    }
}
