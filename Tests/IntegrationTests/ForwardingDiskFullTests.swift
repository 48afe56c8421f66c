import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Forwarding on a full disk. The agent's data directory is a small tmpfs; its destinations (a
/// receiver decoding remote write and Loki push on its own, `Fixtures/telemetry-receiver.py`) are
/// down, so the metrics WAL and the log spool only grow. Intake must stop with a clear error once
/// the disk is full; what was acknowledged before must all arrive, once, when the destination is
/// back (the disk still full), and nothing again after a `kill -9` and a restart.
@Suite(.serialized) struct ForwardingDiskFullTests {
    static let canMount: Bool = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount")

    static func scalar(_ reply: HTTPReply) -> Int {
        let result = ((reply.json?["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first
        return Int((result?["value"] as? [Any])?.last as? String ?? "") ?? 0
    }

    @Test(.enabled(if: canMount, "needs root to mount a tmpfs"))
    func aFullDiskStopsIntakeAndLosesNothingAcknowledged() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let disk = directory + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        guard startPeerAndWait("/bin/mount", ["-t", "tmpfs", "-o", "size=12m", "tmpfs", disk]) == 0 else {
            throw TestFailure("cannot mount a tmpfs at \(disk)")
        }
        defer { _ = startPeerAndWait("/bin/umount", ["-l", disk]) }
        let receiverPort = try ScrapeIntegrationTests.freePort()
        try """
            remote_write:
              - name: central
                url: http://127.0.0.1:\(receiverPort)/api/v1/write
                queue_config: {batch_send_deadline: 200ms, min_backoff: 100ms, max_backoff: 1s}
            logs:
              forward:
                - name: central
                  url: http://127.0.0.1:\(receiverPort)/loki/api/v1/push
                  batchwait: 200ms
                  backoff_config: {min_period: 100ms, max_period: 1s}
            """.write(toFile: directory + "/agent.yml", atomically: true, encoding: .utf8)
        let arguments = ["--config.file=\(directory)/agent.yml"]
        var agent = try AgentProcess(arguments: arguments, directory: directory, dataDirectory: disk + "/data")
        try await agent.waitForListening()

        // All but about 1.5 MB of the disk taken by a file the test removes later.
        var stats = statvfs()
        statvfs(disk, &stats)
        let filler = disk + "/filler"
        try Data(count: max(0, Int(stats.f_bavail) * Int(stats.f_frsize) - 1_500_000)).write(to: URL(fileURLWithPath: filler))

        var acknowledgedLines: [String] = []
        var acknowledgedSamples: [String] = []
        var logRefusal: HTTPReply?
        var writeRefusal: HTTPReply?
        let padding = String(repeating: "x", count: 300)
        let start = Int64(Date().timeIntervalSince1970 * 1000) - 600_000
        for push in 0..<400 where logRefusal == nil || writeRefusal == nil {
            let now = Int64(Date().timeIntervalSince1970 * 1e9)
            let lines = (0..<100).map { "push \(push) line \($0) \(padding)" }
            let values = lines.enumerated().map { #"["\#(now + Int64($0.offset))","\#($0.element)"]"# }.joined(separator: ",")
            let logs = try await http(.POST, agent.baseURL + "/loki/api/v1/push",
                                      body: #"{"streams":[{"stream":{"job":"disk"},"values":[\#(values)]}]}"#,
                                      headers: [("Content-Type", "application/json")])
            if logs.status == 204 {
                acknowledgedLines += lines
            } else if logRefusal == nil {
                logRefusal = logs
            }
            let samples = (0..<200).map { (start + Int64(push * 1000 + $0), Double($0)) }
            let write = try await remoteWrite(agent.baseURL, [WriteSeries(labels: [("__name__", "disk_fill"), ("push", "\(push)")], samples: samples)])
            if write.status == 204 {
                acknowledgedSamples += samples.map { "\(push)@\($0.0)" }
            } else if writeRefusal == nil {
                writeRefusal = write
            }
        }
        #expect(logRefusal.map { $0.status >= 500 && $0.body.contains("No space left on device") } == true,
                "\(logRefusal.map { "\($0.status) \($0.body)" } ?? "no log push refused")")
        #expect(writeRefusal.map { $0.status >= 500 && $0.body.contains("No space left on device") } == true,
                "\(writeRefusal.map { "\($0.status) \($0.body)" } ?? "no remote write refused")")
        #expect(acknowledgedLines.count >= 500 && acknowledgedSamples.count >= 1000,
                "\(acknowledgedLines.count) lines and \(acknowledgedSamples.count) samples acknowledged")

        // The destination comes back while the disk is still full: the queues deliver and keep
        // their positions (saved in place, needing no new blocks). Then the agent is killed, and
        // restarted once there is room again: nothing is sent twice.
        let receiver = try await TelemetryReceiver(port: receiverPort, in: directory)
        var received = TelemetryReceiver.Received()
        let arrived = try await AlertingIntegrationTests.eventually(seconds: 90) {
            received = receiver.received
            return received.lines.count >= acknowledgedLines.count && received.samples.count >= acknowledgedSamples.count
        }
        #expect(arrived, "\(received.lines.count)/\(acknowledgedLines.count) lines, \(received.samples.count)/\(acknowledgedSamples.count) samples\n\(agent.log)")
        // Positions are saved after each delivery; give the last one its moment.
        try await Task.sleep(for: .seconds(1))
        agent.signal(SIGKILL)
        _ = try await agent.waitForExit()
        try FileManager.default.removeItem(atPath: filler)
        agent = try AgentProcess(arguments: arguments, directory: directory, dataDirectory: disk + "/data")
        try await agent.waitForListening()
        try await Task.sleep(for: .seconds(3))
        received = receiver.received
        let sameLines = received.lines.sorted() == acknowledgedLines.sorted()
        let sameSamples = received.samples.sorted() == acknowledgedSamples.sorted()
        #expect(sameLines,
                "\(Set(acknowledgedLines).subtracting(received.lines).count) lines missing, \(received.lines.count - Set(received.lines).count) twice")
        #expect(sameSamples,
                "\(Set(acknowledgedSamples).subtracting(received.samples).count) samples missing, \(received.samples.count - Set(received.samples).count) twice")
        // The agent's own store holds exactly what it acknowledged too.
        let localLines = try await http(.GET, agent.baseURL + "/loki/api/v1/query?query=" + percent("sum(count_over_time({job=\"disk\"}[1h]))"))
        #expect(Self.scalar(localLines) == acknowledgedLines.count, "\(localLines.body)")
        let localSamples = try await http(.GET, agent.baseURL + "/api/v1/query?query=" + percent("sum(count_over_time(disk_fill[1h]))"))
        #expect(Self.scalar(localSamples) == acknowledgedSamples.count, "\(localSamples.body)")
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}

/// Runs a tool to its end; its exit status (-1 if it could not start).
func startPeerAndWait(_ executable: String, _ arguments: [String]) -> Int32 {
    guard let process = try? startPeer(executable, arguments) else { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}
