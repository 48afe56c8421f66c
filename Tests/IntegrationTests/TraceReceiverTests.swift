import Foundation
import Testing

/// Real clients: the OpenTelemetry Python SDK's OTLP/HTTP, OTLP/gRPC and Zipkin exporters send a
/// trace each, and every trace is found by id (Tempo and Jaeger) and by search with its attributes
/// intact. Also the OTLP/HTTP answers for partial and failed exports.
@Suite(.serialized) struct TraceReceiverTests {
    static func fixture(_ name: String) -> String {
        let file = #filePath
        return String(file[..<file.lastIndex(of: "/")!]) + "/Fixtures/traces/" + name
    }

    func grpcAddress(_ agent: AgentProcess) async throws -> String {
        try await agent.waitForLog { $0.contains("protocol=otlp-grpc") }
        let line = agent.log.split(separator: "\n").first { $0.contains("protocol=otlp-grpc") }!
        return String(line.split(separator: " ").first { $0.hasPrefix("address=") }!.dropFirst(8))
    }

    @Test func openTelemetrySDKExportersRoundTrip() async throws {
        let agent = try AgentProcess(arguments: ["--otlp.grpc.listen-address=127.0.0.1:0"])
        try await agent.waitForListening()
        let grpc = try await grpcAddress(agent)
        let run = try await runProcess("/usr/bin/env", ["python3", Self.fixture("otel_clients.py"), agent.baseURL, grpc])
        #expect(run.status == 0, "\(run.output)")
        guard let sent = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: [String: String]] else {
            Issue.record("client output: \(run.output)")
            return
        }
        #expect(sent.count == 3)
        for (exporter, info) in sent {
            let traceID = info["trace_id"]!, service = info["service"]!
            let reply = try await http(.GET, agent.baseURL + "/api/v2/traces/\(traceID)")
            #expect(reply.status == 200, "\(exporter): \(reply.body)")
            let body = reply.body
            // Every attribute the client set arrives (Zipkin carries them as strings).
            for key in ["http.request.method", "http.route", "http.response.status_code", "url.scheme", "user_agent.original",
                        "server.address", "server.port", "cart.items", "cart.total", "customer.vip", "feature.flags", "request.id",
                        "peer.service", "rpc.system"] {
                #expect(body.contains("\"key\":\"\(key)\""), "\(exporter) lost \(key): \(body)")
            }
            #expect(body.contains(service) && body.contains("POST /checkout") && body.contains("charge card"), "\(exporter): \(body)")
            if exporter != "zipkin" {
                #expect(body.contains(#"{"key":"cart.total","value":{"doubleValue":59.9}}"#), "\(exporter): \(body)")
                #expect(body.contains(#"{"key":"customer.vip","value":{"boolValue":true}}"#), "\(exporter): \(body)")
                #expect(body.contains(#""arrayValue":{"values":[{"stringValue":"fast-pay"},{"stringValue":"new-ui"}]}"#), "\(exporter): \(body)")
                #expect(body.contains("\"status\":{\"code\":2,\"message\":\"payment gateway failed\"}"), "\(exporter): \(body)")
                #expect(body.contains("payment.retry") && body.contains("shop.instrumentation"), "\(exporter): \(body)")
            }
            // Found by search, on a resource attribute and a span attribute (Zipkin tags are strings).
            let status = exporter == "zipkin" ? "= \"502\"" : ">= 500"
            let query = "{ resource.service.name = \"\(service)\" && span.http.response.status_code \(status) }"
            let search = try await http(.GET, agent.baseURL + "/api/search?q=" + percent(query))
            #expect(search.body.contains(traceID), "\(exporter) search: \(search.body)")
            let jaeger = try await http(.GET, agent.baseURL + "/jaeger/api/traces?service=\(service)&tags=" + percent(#"{"request.id":"r-8812"}"#))
            #expect(jaeger.body.contains(traceID), "\(exporter) jaeger search: \(jaeger.body)")
        }
    }

    /// The gRPC listener under abuse: a connection that sends nothing is closed after the read
    /// timeout, bytes that are not HTTP/2 close the connection, and the daemon keeps answering.
    @Test func grpcListenerDropsSilentAndGarbageConnections() async throws {
        let agent = try AgentProcess(arguments: ["--otlp.grpc.listen-address=127.0.0.1:0", "--web.read-timeout=1s"])
        try await agent.waitForListening()
        let grpc = try await grpcAddress(agent)
        let script = """
            import socket, sys, time
            host, port = sys.argv[1].split(":")
            def closed_after(payload, wait):
                s = socket.create_connection((host, int(port)))
                s.settimeout(wait)
                if payload:
                    s.sendall(payload)
                start = time.time()
                try:
                    while s.recv(4096):
                        pass
                    return "closed after %.1fs" % (time.time() - start)
                except socket.timeout:
                    return "still open"
            print(closed_after(b"", 5))
            print(closed_after(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" + bytes(1000), 5))
            """
        let run = try await runProcess("/usr/bin/env", ["python3", "-c", script, grpc])
        let lines = run.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines.allSatisfy { $0.hasPrefix("closed after") }, "\(run.output)")
        #expect(try await http(.GET, agent.baseURL + "/-/ready").status == 200)
    }

    @Test func exportAnswers() async throws {
        let agent = try AgentProcess(arguments: [])
        try await agent.waitForListening()
        let url = agent.baseURL + "/v1/traces"
        let json = [("Content-Type", "application/json")]
        let partial = try await http(.POST, url, body: """
            {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"scopeSpans":[{"spans":[
              {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"ok","startTimeUnixNano":"1","endTimeUnixNano":"2"},
              {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"","name":"bad"}]}]}]}
            """, headers: json)
        #expect(partial.status == 200)
        #expect(partial.body.contains(#""partialSuccess":{"rejectedSpans":"1""#), "\(partial.body)")
        let stored = try await http(.GET, agent.baseURL + "/api/traces/0af7651916cd43dd8448eb211c80319c")
        #expect(stored.status == 200 && stored.body.contains("\"name\":\"ok\""))
        let broken = try await http(.POST, url, body: "{\"resourceSpans\":[", headers: json)
        #expect(broken.status == 400 && broken.body.contains("\"code\":3"), "\(broken.body)")
        let unsupported = try await http(.POST, url, body: "x", headers: [("Content-Type", "text/plain")])
        #expect(unsupported.status == 415)
        let zipkin = try await http(.POST, agent.baseURL + "/api/v2/spans", body: """
            [{"traceId":"463ac35c9f6413ad","id":"a2fb4a1d1a96d312","name":"get /users","kind":"SERVER","timestamp":1700000000000000,
              "duration":150000,"localEndpoint":{"serviceName":"frontend"},"tags":{"http.method":"GET","error":"timeout"}}]
            """, headers: json)
        #expect(zipkin.status == 202)
        let back = try await http(.GET, agent.baseURL + "/zipkin/api/v2/trace/463ac35c9f6413ad")
        #expect(back.body.contains(#""traceId":"463ac35c9f6413ad""#) && back.body.contains(#""error":"timeout""#), "\(back.body)")
        let malformed = try await http(.POST, agent.baseURL + "/api/v2/spans", body: "{}", headers: json)
        #expect(malformed.status == 400)

        // obsctl: the tree with durations and waterfall, a search table, a clear error for an unknown id.
        let tree = try await runTool("obsctl", ["traces", "get", "--url", agent.baseURL, "463ac35c9f6413ad"])
        #expect(tree.status == 0 && tree.output.contains("frontend: get /users") && tree.output.contains("150.0ms"), "\(tree.output)")
        let found = try await runTool("obsctl", ["traces", "search", "--url", agent.baseURL, "--service", "frontend", "--since", "100000h"])
        #expect(found.status == 0 && found.output.contains("0000000000000000463ac35c9f6413ad"), "\(found.output)")
        let missing = try await runTool("obsctl", ["traces", "get", "--url", agent.baseURL, "abc"])
        #expect(missing.status == 1 && missing.output.contains("not found"), "\(missing.output)")
    }
}
