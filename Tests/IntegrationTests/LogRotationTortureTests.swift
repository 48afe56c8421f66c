import Foundation
import LogIngest
import Logging
import ObsCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Rotation torture: a writer appends numbered CRI lines as fast as it can to `app.log`, rotating it
/// hundreds of times, alternately by rename-and-create and by copytruncate, while the daemon tailing
/// the folder is killed with SIGKILL at random moments and restarted on the same data. At the end
/// every line must be in the log store exactly once.
///
/// A rotation happens once the running daemon has read the file to its end and stored what it read
/// (its lag gauge is published only after the store commit; kills land anywhere,
/// including between a rotation and the tailer noticing it). A file rotated twice, or copied and
/// truncated, before the tailer first read it leaves lines nothing points to, which is outside
/// what positions can recover.
@Suite(.serialized) struct LogRotationTortureTests {
    static let rotations = 200
    static let linesPerRotation = 300

    final class Writer: @unchecked Sendable {
        let directory: String
        let path: String
        let base: Int64
        let daemonUp = Atomic<Bool>(false)
        /// The running daemon's base URL, for checking that it caught up before a rotation.
        let baseURL = Mutex<String>("")
        let written = Atomic<Int>(0)
        private(set) var rotationsDone = 0

        init(directory: String) {
            self.directory = directory
            path = directory + "/app.log"
            base = WallClock.milliseconds() * 1_000_000
            FileManager.default.createFile(atPath: path, contents: nil)
        }

        func line(_ number: Int) -> String {
            let time = TimeParsing.rfc3339String(nanoseconds: base + Int64(number) * 1000)
            return "\(time) stdout F line \(number) \(String(repeating: "abcdefgh", count: number % 9))\n"
        }

        func append(_ text: String) {
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            precondition(fd >= 0)
            _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress!, $0.count - 1) }
            close(fd)
        }

        /// Returns once a running daemon has read and stored everything written (no tail lag, no file
        /// left to drain). Copytruncate loses whatever was read but not yet stored when the copy is
        /// taken and the daemon is then killed, so "read" alone is not enough to rotate.
        func waitCaughtUp() async {
            // The gauge is refreshed by each tailer pass (every 100 ms when idle): two zero readings
            // a pass apart, after a pass since the last write, mean the file was read to its end.
            var zeros = 0
            while zeros < 2 {
                try? await Task.sleep(for: .milliseconds(120))
                guard daemonUp.load(ordering: .acquiring),
                      let reply = try? await http(.GET, baseURL.withLock { $0 } + "/metrics"), reply.status == 200 else {
                    zeros = 0
                    continue
                }
                let gauges = reply.body.split(separator: "\n").filter { $0.hasPrefix("obs_logs_tail_lag_bytes{") }
                zeros = !gauges.isEmpty && gauges.allSatisfy({ $0.hasSuffix(" 0") }) ? zeros + 1 : 0
            }
        }

        /// Writes every line, rotating after each `linesPerRotation` once the daemon has caught up.
        func run() async {
            var number = 0
            for rotation in 0..<LogRotationTortureTests.rotations {
                var chunk = ""
                for _ in 0..<LogRotationTortureTests.linesPerRotation {
                    chunk += line(number)
                    number += 1
                    if chunk.utf8.count > 4000 {
                        append(chunk)
                        chunk = ""
                        written.store(number, ordering: .releasing)
                        await Task.yield()
                    }
                }
                append(chunk)
                written.store(number, ordering: .releasing)
                await waitCaughtUp()
                let rotated = directory + "/app.log.\(rotation)"
                if rotation % 2 == 0 {
                    rename(path, rotated)
                    FileManager.default.createFile(atPath: path, contents: nil)
                } else {
                    try? FileManager.default.copyItem(atPath: path, toPath: rotated)
                    truncate(path, 0)
                }
                rotationsDone += 1
                try? await Task.sleep(for: .milliseconds(Int.random(in: 0...40)))
            }
        }
    }

    /// Waits until the daemon tails `app.log` (its lag gauge appears) and has had a moment to commit
    /// the file's identity: "running" for the writer's rotations.
    func waitTailing(_ agent: AgentProcess) async throws {
        try await agent.waitForListening()
        for _ in 0..<500 {
            if let reply = try? await http(.GET, agent.baseURL + "/metrics"), reply.body.contains("obs_logs_tail_lag_bytes{path=") {
                try await Task.sleep(for: .milliseconds(100))
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("the daemon never started tailing")
    }

    @Test func everyLineOnceThroughRotationsAndKills() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let logs = directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let config = directory + "/config.yml"
        try """
        logs:
          inputs:
            - name: torture
              paths: ["\(logs)/*.log"]
              format: cri
              kubernetes_labels: false
              labels: {job: torture}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let dataDirectory = directory + "/data"
        let writer = Writer(directory: logs)
        let writing = Task { await writer.run() }
        var kills = 0
        var agent = try AgentProcess(arguments: ["--config.file=\(config)"], directory: directory, dataDirectory: dataDirectory)
        try await waitTailing(agent)
        writer.baseURL.withLock { $0 = agent.baseURL }
        writer.daemonUp.store(true, ordering: .releasing)
        while writer.rotationsDone < Self.rotations {
            try await Task.sleep(for: .milliseconds(Int.random(in: 300...1500)))
            guard writer.rotationsDone < Self.rotations else { break }
            writer.daemonUp.store(false, ordering: .releasing)
            agent.signal(SIGKILL)
            _ = try await agent.waitForExit()
            kills += 1
            agent = try AgentProcess(arguments: ["--config.file=\(config)"], directory: directory, dataDirectory: dataDirectory)
            try await waitTailing(agent)
            writer.baseURL.withLock { $0 = agent.baseURL }
            writer.daemonUp.store(true, ordering: .releasing)
        }
        await writing.value
        let total = writer.written.load(ordering: .acquiring)
        // Let the daemon read the rest, then stop it gracefully.
        let deadline = ContinuousClock.now + .seconds(30)
        var caughtUp = 0
        while ContinuousClock.now < deadline && caughtUp < 3 {
            try await Task.sleep(for: .milliseconds(300))
            guard let reply = try? await http(.GET, agent.baseURL + "/metrics") else { continue }
            let lagging = reply.body.split(separator: "\n").contains { $0.hasPrefix("obs_logs_tail_lag_bytes{") && !$0.hasSuffix(" 0") }
            caughtUp = lagging ? 0 : caughtUp + 1
        }
        agent.signal(SIGTERM)
        _ = try await agent.waitForExit()

        let store = try LogStore(directory: dataDirectory + "/logs", metrics: MetricsRegistry(), logger: Logger(label: "verify"))
        defer { store.close() }
        let streams = try store.select([try LabelMatcher(.equal, "job", "torture")], start: 0, end: .max, direction: .forward,
                                       limit: .max, filter: nil)
        var seen = [Int](repeating: 0, count: total)
        var malformed = 0
        for entry in streams.flatMap(\.entries) {
            let fields = entry.line.split(separator: " ")
            guard fields.count >= 2, let number = Int(fields[1]), number < total else {
                malformed += 1
                continue
            }
            seen[number] += 1
        }
        let missing = seen.indices.filter { seen[$0] == 0 }
        let duplicated = seen.indices.filter { seen[$0] > 1 }
        #expect(kills >= 3, "the daemon should have been killed several times (was \(kills))")
        #expect(writer.rotationsDone == Self.rotations)
        #expect(malformed == 0)
        #expect(missing.count == 0, "\(missing.count) of \(total) lines missing, first \(missing.prefix(5))")
        #expect(duplicated.count == 0, "\(duplicated.count) of \(total) lines stored more than once, first \(duplicated.prefix(5))")
    }
}
