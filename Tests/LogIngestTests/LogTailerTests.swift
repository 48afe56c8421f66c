import Foundation
@testable import LogIngest
import Logging
import ObsCore
import Testing

/// The tailer in process against real files: labels, exclusion, start at end, truncation,
/// multiline timeouts, and resuming where the last run stopped.
@Suite(.serialized) struct LogTailerTests {
    static let logger = Logger(label: "tail-test")

    struct Fixture {
        let directory = makeTemporaryDirectory()
        var logs: String { directory + "/logs" }
        var store: LogStore!

        init() throws {
            try FileManager.default.createDirectory(atPath: directory + "/logs/shop_web-1_uid1/web", withIntermediateDirectories: true)
            store = try LogStore(directory: directory + "/store", metrics: MetricsRegistry(), logger: LogTailerTests.logger)
        }

        func append(_ path: String, _ text: String) {
            let handle = FileHandle(forWritingAtPath: path) ?? {
                FileManager.default.createFile(atPath: path, contents: nil)
                return FileHandle(forWritingAtPath: path)!
            }()
            handle.seekToEndOfFile()
            handle.write(Data(text.utf8))
            handle.closeFile()
        }

        /// Runs a tailer over `inputs` until `done` holds for the stored lines (or five seconds pass).
        func tail(_ inputs: [TailInput], until done: ([String]) -> Bool) async throws -> [LogStream] {
            let tailer = try LogTailer(inputs: inputs, store: store, positionsPath: directory + "/positions.db",
                                       metrics: MetricsRegistry(), logger: LogTailerTests.logger)
            let running = Task { await tailer.run() }
            defer { running.cancel() }
            let deadline = ContinuousClock.now + .seconds(5)
            var streams: [LogStream] = []
            while ContinuousClock.now < deadline {
                streams = try store.select([], start: 0, end: .max, direction: .forward, limit: .max, filter: nil)
                if done(streams.flatMap { $0.entries.map(\.line) }) { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            running.cancel()
            await running.value
            return streams
        }
    }

    @Test func kubeletFilesAreTailedWithTheirLabelsAndResumed() async throws {
        let fixture = try Fixture()
        defer { removeTree(fixture.directory) }
        let path = fixture.logs + "/shop_web-1_uid1/web/0.log"
        fixture.append(path, "2025-06-01T08:00:00.000000001Z stdout F one\n2025-06-01T08:00:00.000000002Z stderr F two\n")
        fixture.append(fixture.logs + "/shop_web-1_uid1/web/0.log.20250601", "rotated and excluded\n")
        var input = TailInput(name: "pods", paths: [fixture.logs + "/*/*/*.log*"])
        input.exclude = [fixture.logs + "/*/*/*.log.*"]
        input.labels = Labels(["job": "pods"])
        let first = try await fixture.tail([input]) { $0.count >= 2 }
        #expect(first.flatMap { $0.entries.map(\.line) }.sorted() == ["one", "two"])
        #expect(first.map { $0.labels["stream"] } == ["stderr", "stdout"])
        #expect(first.first?.labels["namespace"] == "shop" && first.first?.labels["container"] == "web")
        // A second run goes on from the stored position: only the new line is added.
        fixture.append(path, "2025-06-01T08:00:00.000000003Z stdout F three\n")
        let second = try await fixture.tail([input]) { $0.count >= 3 }
        #expect(second.flatMap { $0.entries.map(\.line) }.sorted() == ["one", "three", "two"])
        try await Task.sleep(for: .milliseconds(300))
        #expect(try fixture.store.select([], start: 0, end: .max, direction: .forward, limit: .max, filter: nil)
            .flatMap(\.entries).count == 3)
    }

    @Test func startAtEndSkipsExistingLinesAndLongLinesAreCut() async throws {
        let fixture = try Fixture()
        defer { removeTree(fixture.directory) }
        let path = fixture.logs + "/app.log"
        fixture.append(path, "old line\n")
        var input = TailInput(name: "app", paths: [fixture.logs + "/*.log"])
        input.startAtEnd = true
        input.maxLineSize = 10
        let tailer = Task { try await fixture.tail([input]) { $0.count >= 2 } }
        try await Task.sleep(for: .milliseconds(500))
        fixture.append(path, "short\n0123456789abcdef\n")
        let streams = try await tailer.value
        #expect(streams.flatMap { $0.entries.map(\.line) } == ["short", "0123456789"])
        #expect(streams.first?.labels["filename"] == path)
    }

    @Test func anOpenMultilineEntryIsFlushedAfterItsTimeout() async throws {
        let fixture = try Fixture()
        defer { removeTree(fixture.directory) }
        let path = fixture.logs + "/java.log"
        fixture.append(path, "ERROR failed\n\tat A.b(A.java:1)\n\tat C.d(C.java:2)\n")
        var input = TailInput(name: "java", paths: [fixture.logs + "/*.log"])
        input.format = .text
        input.multiline = (preset: "java", firstLine: nil, timeout: 200, maxLines: 100)
        let streams = try await fixture.tail([input]) { !$0.isEmpty }
        #expect(streams.flatMap { $0.entries.map(\.line) } == ["ERROR failed\n\tat A.b(A.java:1)\n\tat C.d(C.java:2)"])
    }
}
