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

        /// A tailer running in a task, with the registry its gauges are read from.
        struct Running {
            let task: Task<Void, Never>
            let metrics: MetricsRegistry

            /// Whether the tailer has opened `path` (it then reports that file's lag).
            var watches: (String) -> Bool {
                { path in metrics.render().contains("obs_logs_tail_lag_bytes{path=\"\(path)\"}") }
            }

            func stop() async {
                task.cancel()
                await task.value
            }
        }

        func start(_ inputs: [TailInput]) throws -> Running {
            let metrics = MetricsRegistry()
            let tailer = try LogTailer(inputs: inputs, store: store, positionsPath: directory + "/positions.db",
                                       metrics: metrics, logger: LogTailerTests.logger)
            return Running(task: Task { await tailer.run() }, metrics: metrics)
        }

        /// The stored streams once `done` holds for their lines. The deadline is far beyond what a
        /// passing run needs: the wait ends as soon as the condition holds, and a loaded machine
        /// (the whole suite runs in parallel) can starve the tailer's thread pool for seconds.
        func stored(until done: ([String]) -> Bool) async throws -> [LogStream] {
            let deadline = ContinuousClock.now + .seconds(60)
            var streams: [LogStream] = []
            while ContinuousClock.now < deadline {
                streams = try store.select([], start: 0, end: .max, direction: .forward, limit: .max, filter: nil)
                if done(streams.flatMap { $0.entries.map(\.line) }) { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            return streams
        }

        /// Runs a tailer over `inputs` until `done` holds for the stored lines.
        func tail(_ inputs: [TailInput], until done: ([String]) -> Bool) async throws -> [LogStream] {
            let running = try start(inputs)
            let streams = try await stored(until: done)
            await running.stop()
            return streams
        }
    }

    /// Polls `condition` until it holds (or a minute passes).
    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
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
        // Lines written once the tailer has opened the file (at its end) are read; the old one is not.
        let running = try fixture.start([input])
        #expect(try await Self.eventually { running.watches(path) })
        fixture.append(path, "short\n0123456789abcdef\n")
        let streams = try await fixture.stored { $0.count >= 2 }
        await running.stop()
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
