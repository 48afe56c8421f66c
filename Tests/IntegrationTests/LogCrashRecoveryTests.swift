import Foundation
import LogIngest
import Logging
import ObsCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Acknowledged log pushes are durable: two writers push Loki JSON batches (one as protobuf would
/// be the same path after decoding) while the daemon is killed with SIGKILL at random moments. After
/// each kill the log store is opened in this process and every acknowledged line must be there
/// exactly once. The daemon restarts on the same directory for the next round.
@Suite(.serialized) struct LogCrashRecoveryTests {
    static let rounds = 6
    static let linesPerBatch = 50

    actor Ledger {
        var acknowledged: [String: Set<String>] = [:]
        var batches = 0

        func record(writer: Int, lines: [String]) {
            batches += 1
            acknowledged["w\(writer)", default: []].formUnion(lines)
        }
    }

    static func body(writer: Int, batch: Int, base: Int64) -> (String, [String]) {
        let lines = (0..<linesPerBatch).map { "writer \(writer) batch \(batch) line \($0) \(String(repeating: "x", count: $0 % 40))" }
        let values = lines.enumerated().map { index, line in
            "[\"\(base + Int64(batch * linesPerBatch + index))\",\(JSONText.quote(line))]"
        }
        return ("{\"streams\":[{\"stream\":{\"job\":\"crash\",\"writer\":\"w\(writer)\"},\"values\":[\(values.joined(separator: ","))]}]}", lines)
    }

    @Test func acknowledgedPushesSurviveKill9() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let dataDirectory = directory + "/data"
        let ledger = Ledger()
        // Entries are recent so they stay inside the out-of-order window of their stream.
        let base = WallClock.milliseconds() * 1_000_000
        var nextBatch = 0
        for round in 0..<Self.rounds {
            let agent = try AgentProcess(arguments: [], directory: directory, dataDirectory: dataDirectory)
            try await agent.waitForListening()
            try await waitReady(agent.baseURL)
            let url = agent.baseURL + "/loki/api/v1/push"
            let first = nextBatch
            nextBatch += 100_000
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<2 {
                    group.addTask {
                        var batch = first
                        while true {
                            let (body, lines) = Self.body(writer: writer, batch: batch, base: base)
                            batch += 1
                            guard let reply = try? await http(.POST, url, body: body, headers: [("Content-Type", "application/json")])
                            else { return }
                            if reply.status == 204 { await ledger.record(writer: writer, lines: lines) } else { return }
                        }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(Int.random(in: 50...400)))
                    agent.signal(SIGKILL)
                }
            }
            let status = try await agent.waitForExit()
            #expect(status != 0, "round \(round): the daemon must have been killed")
            try verify(dataDirectory: dataDirectory, expected: await ledger.acknowledged, round: round)
        }
        #expect(await ledger.batches > 0)
    }

    func verify(dataDirectory: String, expected: [String: Set<String>], round: Int) throws {
        let store = try LogStore(directory: dataDirectory + "/logs", metrics: MetricsRegistry(), logger: Logger(label: "verify"))
        defer { store.close() }
        for (writer, lines) in expected {
            let streams = try store.select([try LabelMatcher(.equal, "writer", writer)], start: 0, end: .max,
                                           direction: .forward, limit: .max, filter: nil)
            let stored = streams.flatMap { $0.entries.map(\.line) }
            let missing = lines.subtracting(stored)
            let missingCount = missing.count
            #expect(missingCount == 0, "round \(round): \(missing.count) of \(lines.count) acknowledged lines of \(writer) missing after kill -9 (\(stored.count) stored), e.g. \(missing.sorted().prefix(3))")
            let duplicates = stored.count - Set(stored).count
            #expect(duplicates == 0, "round \(round): lines of \(writer) stored twice")
        }
    }

    func waitReady(_ base: String) async throws {
        for _ in 0..<500 {
            if let reply = try? await http(.GET, base + "/-/ready"), reply.status == 200 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("agent never became ready")
    }
}
