import Foundation
import Logging
import ObsCore
import Testing
import TraceCollector

#if canImport(Glibc)
import Glibc
#endif

/// Acknowledged span exports are durable: two writers export OTLP/JSON batches while the daemon is
/// killed with SIGKILL at random moments. After each kill the trace store is opened in this process
/// and every acknowledged span must be there exactly once; the daemon then restarts on the same
/// directory (which the check has flushed into a segment) for the next round.
@Suite(.serialized) struct TraceCrashRecoveryTests {
    static let rounds = 5
    static let spansPerExport = 20

    actor Ledger {
        var acknowledged: [TraceID: Set<UInt64>] = [:]
        var exports = 0

        func record(_ trace: TraceID, _ spans: [UInt64]) {
            exports += 1
            acknowledged[trace, default: []].formUnion(spans)
        }
    }

    /// One export: a trace per writer and round, spans numbered by batch.
    static func export(writer: Int, round: Int, batch: Int) -> (String, TraceID, [UInt64]) {
        let trace = TraceID(high: UInt64(writer + 1), low: UInt64(round + 1))
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        let ids = (0..<spansPerExport).map { UInt64(batch * spansPerExport + $0 + 1) }
        let spans = ids.map { id in
            "{\"traceId\":\"\(trace.hex)\",\"spanId\":\"\(SpanID.hex(id))\",\"name\":\"op \(id)\",\"startTimeUnixNano\":\"\(now)\","
                + "\"endTimeUnixNano\":\"\(now + 1000)\",\"attributes\":[{\"key\":\"batch\",\"value\":{\"intValue\":\"\(batch)\"}}]}"
        }
        let body = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"w\(writer)\"}}]},"
            + "\"scopeSpans\":[{\"spans\":[" + spans.joined(separator: ",") + "]}]}]}"
        return (body, trace, ids)
    }

    @Test func acknowledgedExportsSurviveKill9() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let dataDirectory = directory + "/data"
        let ledger = Ledger()
        for round in 0..<Self.rounds {
            let agent = try AgentProcess(arguments: [], directory: directory, dataDirectory: dataDirectory)
            try await agent.waitForListening()
            let url = agent.baseURL + "/v1/traces"
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<2 {
                    group.addTask {
                        var batch = 0
                        while true {
                            let (body, trace, ids) = Self.export(writer: writer, round: round, batch: batch)
                            batch += 1
                            guard let reply = try? await http(.POST, url, body: body, headers: [("Content-Type", "application/json")]),
                                  reply.status == 200 else { return }
                            await ledger.record(trace, ids)
                        }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(Int.random(in: 100...500)))
                    agent.signal(SIGKILL)
                }
            }
            let status = try await agent.waitForExit()
            #expect(status != 0, "round \(round): the daemon must have been killed")
            try verify(dataDirectory: dataDirectory, expected: await ledger.acknowledged, round: round)
        }
        #expect(await ledger.exports > 0)
    }

    func verify(dataDirectory: String, expected: [TraceID: Set<UInt64>], round: Int) throws {
        let store = try TraceStore(directory: dataDirectory + "/traces", logger: Logger(label: "verify"))
        defer { store.close() }
        for (trace, ids) in expected {
            let stored = (try store.trace(trace) ?? []).flatMap { $0.scopes.flatMap { $0.spans.map(\.spanID) } }
            let missing = ids.subtracting(stored)
            #expect(missing.isEmpty, "round \(round): \(missing.count) of \(ids.count) acknowledged spans of \(trace) missing after kill -9")
            #expect(stored.count == Set(stored).count, "round \(round): spans of \(trace) stored twice")
        }
    }
}
