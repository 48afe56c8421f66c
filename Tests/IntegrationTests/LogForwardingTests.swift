import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `logs.forward` to a Loki push endpoint (a second agent, which serves Loki's push API): lines are
/// tailed and forwarded; the destination goes away, the forwarding agent is restarted and then
/// killed with SIGKILL meanwhile, the destination comes back; then it holds every line once, with
/// the external labels, exactly as the forwarding agent's own store does. A second destination,
/// decoding Loki's protobuf on its own and down until the end, gets the same lines.
@Suite(.serialized) struct LogForwardingTests {
    /// A container's log file in the kubelet's layout (`pods/shop_web-1_uid-1/web/0.log`), written
    /// in CRI format: `line 0`, `line 1`, …
    final class PodLog {
        let file: String
        private(set) var written: [String] = []

        init(in directory: String) throws {
            let folder = directory + "/pods/shop_web-1_uid-1/web"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            file = folder + "/0.log"
            FileManager.default.createFile(atPath: file, contents: nil)
        }

        func write(_ count: Int) throws {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
            try handle.seekToEnd()
            let stamp = ISO8601DateFormatter().string(from: Date())
            for _ in 0..<count {
                let line = "line \(written.count)"
                handle.write(Data("\(stamp) stdout F \(line)\n".utf8))
                written.append(line)
            }
            try handle.close()
        }
    }

    static func lines(_ base: String, _ query: String) async throws -> [String] {
        let now = Int64(Date().timeIntervalSince1970) * 1_000_000_000
        let url = base + "/loki/api/v1/query_range?query=\(percent(query))&limit=5000&start=\(now - 3_600_000_000_000)&end=\(now + 60_000_000_000)"
        let reply = try await http(.GET, url)
        let streams = ((reply.json?["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? []
        return streams.flatMap { ($0["values"] as? [[String]] ?? []).map { $0[1] } }.sorted()
    }

    @Test func everyLineArrivesOnceThroughAnOutageARestartAndAKill() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let pod = try PodLog(in: directory)
        func write(_ count: Int) throws { try pod.write(count) }
        let receiverPort = try ScrapeIntegrationTests.freePort()
        let receiverArguments = ["--web.listen-address=127.0.0.1:\(receiverPort)"]
        let independentPort = try ScrapeIntegrationTests.freePort()
        var receiver = try AgentProcess(arguments: receiverArguments, dataDirectory: directory + "/receiver-data")
        try await receiver.waitForListening()
        try """
            logs:
              inputs:
                - name: pods
                  paths: ["\(directory)/pods/*/*/*.log"]
                  labels: {job: pods}
              forward:
                - name: central
                  url: http://127.0.0.1:\(receiverPort)/loki/api/v1/push
                  tenant_id: node-a
                  batchwait: 200ms
                  external_labels: {node: node-a}
                  backoff_config: {min_period: 100ms, max_period: 1s}
                - name: independent
                  url: http://127.0.0.1:\(independentPort)/loki/api/v1/push
                  tenant_id: node-a
                  batchwait: 200ms
                  backoff_config: {min_period: 100ms, max_period: 1s}
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let arguments = ["--config.file=\(directory)/agent.yml"]
        var agent = try AgentProcess(arguments: arguments, directory: directory)
        try await agent.waitForListening()
        try write(20)
        let first = try await AlertingIntegrationTests.eventually(seconds: 30) {
            try await Self.lines(receiver.baseURL, "{job=\"pods\"}").count == 20
        }
        #expect(first, "\(agent.log)")
        receiver.signal(SIGTERM)
        _ = try await receiver.waitForExit()
        try write(20)
        try await Task.sleep(for: .seconds(1))
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
        agent = try AgentProcess(arguments: arguments, directory: directory)
        try await agent.waitForListening()
        try write(20)
        try await Task.sleep(for: .seconds(1))
        agent = try await agent.crashAndRestart()
        try write(20)
        receiver = try AgentProcess(arguments: receiverArguments, dataDirectory: directory + "/receiver-data")
        try await receiver.waitForListening()
        let independent = try await TelemetryReceiver(port: independentPort, in: directory)
        var received: [String] = []
        let all = try await AlertingIntegrationTests.eventually(seconds: 60) {
            received = try await Self.lines(receiver.baseURL, "{job=\"pods\"}")
            return received.count >= 80
        }
        #expect(all, "\(received.count) lines\n\(agent.log)")
        try await Task.sleep(for: .seconds(1))
        received = try await Self.lines(receiver.baseURL, "{job=\"pods\"}")
        let local = try await Self.lines(agent.baseURL, "{job=\"pods\"}")
        #expect(local.count == 80)
        #expect(received == local, "\(Set(local).subtracting(received).sorted().prefix(5)) missing; \(received.count) received")
        #expect(Set(received).count == received.count, "a line arrived twice")
        // The destination that was down from the start, decoding on its own, has the same lines.
        _ = try await AlertingIntegrationTests.eventually(seconds: 30) { independent.received.lines.count >= local.count }
        let elsewhere = independent.received.lines.sorted()
        #expect(elsewhere == local, "\(elsewhere.count) lines at the independent receiver")
        // The stream carries the external label on the receiving side only.
        #expect(try await Self.lines(receiver.baseURL, "{job=\"pods\", node=\"node-a\"}").count == 80)
        let status = try await http(.GET, agent.baseURL + "/api/v1/status/forwarding")
        #expect(status.body.contains("\"logs\":[{\"name\":\"central\""), "\(status.body)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
        receiver.signal(SIGTERM)
        _ = try await receiver.waitForExit()
    }

    /// `protocol: http/protobuf` and `protocol: grpc`: the same lines go to OTLP destinations (the
    /// OpenTelemetry project's generated classes decode them, one over HTTP, one a grpcio server),
    /// down until after a `kill -9`: each line once, the stream's labels as resource attributes with
    /// the semantic-convention names, structured metadata as the record's attributes.
    @Test func otlpDestinationsGetEveryLineOnceWithItsAttributes() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let pod = try PodLog(in: directory)
        func write(_ count: Int) throws { try pod.write(count) }
        let httpPort = try ScrapeIntegrationTests.freePort()
        let grpcPort = try ScrapeIntegrationTests.freePort()
        try """
            logs:
              inputs:
                - name: pods
                  paths: ["\(directory)/pods/*/*/*.log"]
                  labels: {job: pods}
                  kubernetes_labels: true
              forward:
                - name: collector
                  protocol: http/protobuf
                  endpoint: http://127.0.0.1:\(httpPort)
                  external_labels: {node: node-a}
                  batchwait: 200ms
                  backoff_config: {min_period: 100ms, max_period: 1s}
                - name: collector-grpc
                  protocol: grpc
                  endpoint: http://127.0.0.1:\(grpcPort)
                  batchwait: 200ms
                  backoff_config: {min_period: 100ms, max_period: 1s}
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let arguments = ["--config.file=\(directory)/agent.yml"]
        var agent = try AgentProcess(arguments: arguments, directory: directory)
        try await agent.waitForListening()
        try write(20)
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        let push = try await http(.POST, agent.baseURL + "/loki/api/v1/push",
                                  body: #"{"streams":[{"stream":{"job":"api"},"values":[["\#(now)","checkout failed",{"trace_id":"4bf92f3577b34da6"}]]}]}"#,
                                  headers: [("Content-Type", "application/json")])
        #expect(push.status == 204, "\(push.body)")
        let stored = try await AlertingIntegrationTests.eventually(seconds: 30) {
            try await Self.lines(agent.baseURL, "{job=\"pods\"}").count == 20
        }
        #expect(stored, "\(agent.log)")
        agent = try await agent.crashAndRestart()
        try write(20)
        let overHTTP = try await TelemetryReceiver(port: httpPort, in: directory)
        let overGRPC = try await TelemetryReceiver(port: grpcPort, in: directory, options: ["--grpc"])
        let expected = (pod.written + ["checkout failed"]).sorted()
        for receiver in [overHTTP, overGRPC] {
            let arrived = try await AlertingIntegrationTests.eventually(seconds: 60) { receiver.received.lines.count >= expected.count }
            #expect(arrived, "\(receiver.received.lines.count) lines\n\(agent.log)")
        }
        try await Task.sleep(for: .seconds(1))
        for (receiver, external) in [(overHTTP, "node-a"), (overGRPC, nil)] {
            let records = receiver.received.logRecords
            #expect(records.map(\.line).sorted() == expected, "\(records.count) records")
            let tailed = records.first { $0.line == "line 0" }
            #expect(tailed?.resource["k8s.namespace.name"] == "shop" && tailed?.resource["k8s.pod.name"] == "web-1"
                    && tailed?.resource["k8s.container.name"] == "web" && tailed?.resource["job"] == "pods"
                    && tailed?.resource["log.iostream"] == "stdout" && tailed?.resource["node"] == external, "\(String(describing: tailed))")
            let pushed = records.first { $0.line == "checkout failed" }
            #expect(pushed?.attributes == ["trace_id": "4bf92f3577b34da6"] && pushed?.resource == (external.map { ["job": "api", "node": $0] } ?? ["job": "api"]),
                    "\(String(describing: pushed))")
        }
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}
