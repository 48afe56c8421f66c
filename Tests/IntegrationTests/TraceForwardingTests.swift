import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `traces.forward` to an OTLP/HTTP endpoint (a second agent's `/v1/traces`): spans received are
/// forwarded; the destination goes away, the forwarding agent is restarted and then killed with
/// SIGKILL meanwhile, the destination comes back; then it holds every trace with each span once. A
/// second destination, decoding OTLP on its own and down until the end, gets each span once too.
@Suite(.serialized) struct TraceForwardingTests {
    static func export(_ base: String, round: Int, name: String = "op") async throws -> [String] {
        var ids: [String] = []
        var spans: [String] = []
        let start = UInt64(Date().timeIntervalSince1970 * 1e9)
        for trace in 0..<5 {
            let id = String(format: "%016x%016x", UInt64(round + 1), UInt64(trace + 1))
            ids.append(id)
            for span in 0..<3 {
                spans.append(#"{"traceId":"\#(id)","spanId":"\#(String(format: "%016x", UInt64(round * 100 + trace * 10 + span + 1)))","name":"\#(name)\#(name == "poison" ? "" : " \(span)")","kind":2,"startTimeUnixNano":"\#(start)","endTimeUnixNano":"\#(start + 1_000_000)"}"#)
            }
        }
        let body = #"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},"scopeSpans":[{"spans":[\#(spans.joined(separator: ","))]}]}]}"#
        let reply = try await http(.POST, base + "/v1/traces", body: body, headers: [("Content-Type", "application/json")])
        #expect(reply.status == 200, "\(reply.body)")
        return ids
    }

    static func spanCount(_ base: String, _ id: String) async throws -> Int {
        let reply = try await http(.GET, base + "/api/traces/\(id)")
        guard reply.status == 200 else { return 0 }
        return reply.body.components(separatedBy: "\"spanId\"").count - 1
    }

    @Test func everySpanArrivesOnceThroughAnOutageARestartAndAKill() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let receiverPort = try ScrapeIntegrationTests.freePort()
        let receiverArguments = ["--web.listen-address=127.0.0.1:\(receiverPort)"]
        let independentPort = try ScrapeIntegrationTests.freePort()
        var receiver = try AgentProcess(arguments: receiverArguments, dataDirectory: directory + "/receiver-data")
        try await receiver.waitForListening()
        try """
            traces:
              forward:
                - name: central
                  endpoint: http://127.0.0.1:\(receiverPort)
                  batchwait: 200ms
                  backoff_config: {min_period: 100ms, max_period: 1s}
                - name: independent
                  endpoint: http://127.0.0.1:\(independentPort)
                  batchwait: 200ms
                  backoff_config: {min_period: 100ms, max_period: 1s}
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let arguments = ["--config.file=\(directory)/agent.yml"]
        var agent = try AgentProcess(arguments: arguments, directory: directory)
        try await agent.waitForListening()
        var ids = try await Self.export(agent.baseURL, round: 0)
        let first = try await AlertingIntegrationTests.eventually(seconds: 30) {
            try await Self.spanCount(receiver.baseURL, ids[0]) == 3
        }
        #expect(first, "\(agent.log)")
        receiver.signal(SIGTERM)
        _ = try await receiver.waitForExit()
        ids += try await Self.export(agent.baseURL, round: 1)
        try await Task.sleep(for: .milliseconds(500))
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
        agent = try AgentProcess(arguments: arguments, directory: directory)
        try await agent.waitForListening()
        ids += try await Self.export(agent.baseURL, round: 2)
        try await Task.sleep(for: .milliseconds(500))
        agent = try await agent.crashAndRestart()
        ids += try await Self.export(agent.baseURL, round: 3)
        receiver = try AgentProcess(arguments: receiverArguments, dataDirectory: directory + "/receiver-data")
        try await receiver.waitForListening()
        let independent = try await TelemetryReceiver(port: independentPort, in: directory)
        let last = ids.last!
        let arrived = try await AlertingIntegrationTests.eventually(seconds: 60) {
            try await Self.spanCount(receiver.baseURL, last) == 3
        }
        #expect(arrived, "\(agent.log)")
        try await Task.sleep(for: .seconds(1))
        var counts: [String: Int] = [:]
        for id in ids { counts[id] = try await Self.spanCount(receiver.baseURL, id) }
        #expect(counts.values.allSatisfy { $0 == 3 }, "\(counts.filter { $0.value != 3 })")
        // The destination that was down from the start, decoding OTLP on its own, has each span once.
        _ = try await AlertingIntegrationTests.eventually(seconds: 30) { independent.received.spans.count >= ids.count * 3 }
        let spans = independent.received.spans
        #expect(spans.count == ids.count * 3 && Set(spans).count == spans.count && Set(spans.map { $0.prefix(32) }) == Set(ids.map { Substring($0) }),
                "\(spans.count) spans at the independent receiver")
        let status = try await http(.GET, agent.baseURL + "/api/v1/status/forwarding")
        #expect(status.body.contains("\"traces\":[{\"name\":\"central\""), "\(status.body)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
        receiver.signal(SIGTERM)
        _ = try await receiver.waitForExit()
    }

    /// `protocol: grpc` over TLS to a grpcio server built from the published OTLP schema. The
    /// server is down at first and the agent is killed meanwhile; then it answers UNAVAILABLE twice
    /// (retried) and takes every span once. A batch it refuses for good (INVALID_ARGUMENT) is
    /// dropped and counted, and what comes after still goes through. A destination that accepts
    /// the connection and never answers is timed out.
    @Test func grpcForwardingRetriesWhatItMayAndDropsWhatItMustNot() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let certificates = try await WebConfigTests.Certificates(in: directory)
        let receiverPort = try ScrapeIntegrationTests.freePort()
        let silentPort = try ScrapeIntegrationTests.freePort()
        let silent = try startPython("""
            import socket, time
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", \(silentPort)))
            listener.listen(8)
            held = []
            while True:
                held.append(listener.accept()[0])
            """, at: directory + "/silent.py")
        defer { silent.terminate() }
        try """
            traces:
              forward:
                - name: silent
                  protocol: grpc
                  endpoint: http://127.0.0.1:\(silentPort)
                  timeout: 1s
                  batchwait: 200ms
                  backoff_config: {min_period: 100ms, max_period: 500ms}
                - name: central
                  protocol: grpc
                  endpoint: https://localhost:\(receiverPort)
                  tls_config: {ca_file: \(certificates.path("ca.crt"))}
                  headers: {x-tenant: node-a}
                  batchwait: 200ms
                  backoff_config: {min_period: 100ms, max_period: 500ms}
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let arguments = ["--config.file=\(directory)/agent.yml"]
        var agent = try AgentProcess(arguments: arguments, directory: directory)
        try await agent.waitForListening()
        var ids = try await Self.export(agent.baseURL, round: 0)
        try await Task.sleep(for: .milliseconds(500))
        agent = try await agent.crashAndRestart()
        ids += try await Self.export(agent.baseURL, round: 1)
        let receiver = try await TelemetryReceiver(port: receiverPort, in: directory, options: [
            "--grpc", "--tls", certificates.path("server.crt"), certificates.path("server.key"), "--unavailable", "2",
        ])
        let arrived = try await AlertingIntegrationTests.eventually(seconds: 60) { receiver.received.spans.count >= ids.count * 3 }
        #expect(arrived, "\(receiver.received.spans.count) spans\n\(agent.log)")
        try await Task.sleep(for: .seconds(1))
        var spans = receiver.received.spans
        #expect(spans.count == ids.count * 3 && Set(spans).count == spans.count, "\(spans.count) spans for \(ids.count) traces")
        #expect(Set(spans.map { String($0.prefix(32)) }) == Set(ids))
        let metrics = try await http(.GET, agent.baseURL + "/metrics").body
        let retries = metrics.split(separator: "\n").first { $0.hasPrefix("obs_traces_forward_retries_total{forwarder=\"central\"} ") }
        #expect(retries.flatMap { Double($0.split(separator: " ").last!) }.map { $0 >= 2 } == true, "\(retries ?? "no retries counted")")

        // Refused for good: dropped and counted, and the queue goes on.
        _ = try await Self.export(agent.baseURL, round: 7, name: "poison")
        let dropped = try await AlertingIntegrationTests.eventually(seconds: 30) {
            try await http(.GET, agent.baseURL + "/metrics").body.contains("obs_traces_forward_spans_failed_total{forwarder=\"central\"} 15")
        }
        let status = try await http(.GET, agent.baseURL + "/api/v1/status/forwarding").body
        #expect(dropped, "\(status)")
        #expect(status.contains("gRPC status 3: a poison span"), "\(status)")
        #expect(status.contains("no answer within 1000ms"), "\(status)")
        let after = try await Self.export(agent.baseURL, round: 8)
        let more = try await AlertingIntegrationTests.eventually(seconds: 30) { receiver.received.spans.count >= (ids.count + after.count) * 3 }
        spans = receiver.received.spans
        #expect(more && spans.count == (ids.count + after.count) * 3, "\(spans.count) spans")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}
