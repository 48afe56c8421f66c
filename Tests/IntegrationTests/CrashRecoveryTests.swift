import Foundation
import NIOHTTP1
import Logging
import MetricsTSDB
import ObsCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Acknowledged means durable: the daemon is killed with SIGKILL at random moments while two writers
/// push remote-write batches; after each kill the data directory is opened and every sample of every
/// batch that got a 204 must be there, bit for bit. Then the daemon restarts on the same directory
/// and the next round continues, so replay of earlier crashes is exercised too.
@Suite(.serialized) struct CrashRecoveryTests {
    static let rounds = 10
    static let seriesPerBatch = 25
    static let samplesPerSeries = 8

    /// What the writers saw acknowledged, shared between them.
    actor Ledger {
        var acknowledged: [String: [(Int64, Double)]] = [:]
        /// Histogram series: timestamp and observation count of each acknowledged histogram.
        var histograms: [String: [(Int64, Double)]] = [:]
        var batches = 0

        func record(_ batch: [WriteSeries]) {
            batches += 1
            for series in batch {
                if series.histograms.isEmpty {
                    acknowledged[series.labels[0].1, default: []].append(contentsOf: series.samples)
                } else {
                    histograms[series.labels[0].1, default: []].append(contentsOf: series.histograms.map { ($0.timestamp, Double($0.count)) })
                }
            }
        }
    }

    static func batch(writer: Int, step: Int64) -> [WriteSeries] {
        (0..<seriesPerBatch).map { index in
            let name = "crash_test_w\(writer)_s\(index)"
            let samples = (0..<Int64(samplesPerSeries)).map { offset -> (Int64, Double) in
                let timestamp = (step * Int64(samplesPerSeries) + offset) * 1000
                return (timestamp, Double(timestamp) / 7 + Double(index))
            }
            return WriteSeries(labels: [("__name__", name), ("writer", "\(writer)")], samples: samples)
        } + [WriteSeries(labels: [("__name__", "crash_test_histogram_w\(writer)")], samples: [],
                         histograms: (0..<Int64(samplesPerSeries)).map { offset in
                             let timestamp = (step * Int64(samplesPerSeries) + offset) * 1000
                             return .simple(timestamp, counts: [step % 5, offset + 1, 2], sum: Double(timestamp))
                         })]
    }

    @Test func acknowledgedSamplesSurviveKill9() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let dataDirectory = directory + "/data"
        let ledger = Ledger()
        var step: Int64 = 0
        var killedWhileWriting = 0

        for round in 0..<Self.rounds {
            let agent = try AgentProcess(arguments: [], directory: directory, dataDirectory: dataDirectory)
            try await agent.waitForListening()
            try await waitReady(agent.baseURL)
            let base = agent.baseURL
            let batchesBefore = await ledger.batches
            let firstStep = step
            // Each writer owns a disjoint range of steps so timestamps only grow per series.
            step += 10_000

            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<2 {
                    group.addTask {
                        var own = firstStep
                        while true {
                            let batch = Self.batch(writer: writer, step: own)
                            own += 1
                            guard let reply = try? await remoteWrite(base, batch) else { return }
                            if reply.status == 204 { await ledger.record(batch) } else { return }
                        }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(Int.random(in: 30...300)))
                    agent.signal(SIGKILL)
                }
            }
            let status = try await agent.waitForExit()
            #expect(status != 0, "round \(round): the daemon must have been killed")
            if await ledger.batches > batchesBefore { killedWhileWriting += 1 }

            try verify(dataDirectory: dataDirectory, expected: await ledger.acknowledged, round: round)
            try verify(dataDirectory: dataDirectory, expected: await ledger.histograms, round: round, histograms: true)
        }
        #expect(await ledger.batches > 0)
        #expect(killedWhileWriting >= Self.rounds / 2, "most kills should land during a write load")
    }

    /// Opens the killed daemon's store in this process (replaying its WAL) and checks that every
    /// acknowledged sample is present with its exact value.
    /// With `histograms`, the expected values are the histograms' observation counts.
    func verify(dataDirectory: String, expected: [String: [(Int64, Double)]], round: Int, histograms: Bool = false) throws {
        let store = try MetricsStore(directory: dataDirectory + "/metrics", metrics: MetricsRegistry(),
                                     logger: Logger(label: "verify"))
        defer { store.close() }
        let querier = try store.querier(minTime: .min, maxTime: .max)
        var missing = 0
        for (name, samples) in expected {
            let selected = try querier.select([try LabelMatcher(.equal, "__name__", name)])
            var stored: [Int64: UInt64] = [:]
            if let series = selected.first {
                var iterator = series.makeIterator()
                while iterator.next() {
                    let value = histograms ? iterator.histogram?.count ?? -1 : iterator.value
                    stored[iterator.timestamp] = value.bitPattern
                }
            }
            for (timestamp, value) in samples where stored[timestamp] != value.bitPattern {
                missing += 1
            }
        }
        #expect(missing == 0, "round \(round): \(missing) acknowledged samples missing after kill -9")
    }

    func waitReady(_ base: String) async throws {
        for _ in 0..<500 {
            if let reply = try? await http(.GET, base + "/-/ready"), reply.status == 200 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("agent never became ready")
    }
}
