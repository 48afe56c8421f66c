import Foundation
@testable import LogIngest
import Logging
import ObsCore
import Testing

func makeTemporaryDirectory() -> String {
    var template = Array("/tmp/obs-logs-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: path!)
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The log store: append, read back in both directions, flush to segments, reopen, limits.
@Suite struct LogStoreTests {
    static let logger = Logger(label: "test")
    let web = Labels(["namespace": "shop", "app": "web"])
    let db = Labels(["namespace": "shop", "app": "db"])
    let second: Int64 = 1_000_000_000

    func open(_ directory: String, _ configure: (inout LogStore.Options) -> Void = { _ in }) throws -> LogStore {
        var options = LogStore.Options()
        configure(&options)
        return try LogStore(directory: directory, options: options, metrics: MetricsRegistry(), logger: Self.logger)
    }

    func write(_ store: LogStore, _ items: [(Labels, Int64, String)], positions: [TailPosition] = []) async throws {
        var appender = store.appender()
        for (stream, time, line) in items { try appender.append(stream, LogEntry(timestamp: time, line: line)) }
        try await appender.commit(positions: positions)
    }

    func lines(_ streams: [LogStream]) -> [String] {
        streams.flatMap { $0.entries.map(\.line) }
    }

    func everything(_ store: LogStore, _ direction: LogDirection = .forward, limit: Int = 1000,
                    _ matchers: [LabelMatcher] = []) throws -> [LogStream] {
        try store.select(matchers, start: 0, end: .max, direction: direction, limit: limit, filter: nil)
    }

    @Test func entriesComeBackByStreamDirectionAndLimit() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try open(directory)
        try await write(store, [(web, 3 * second, "web 3"), (db, 1 * second, "db 1"), (web, 1 * second, "web 1"), (db, 2 * second, "db 2")])
        let forward = try everything(store)
        #expect(forward.map(\.labels) == [db, web])
        #expect(lines(forward) == ["db 1", "db 2", "web 1", "web 3"])
        // The limit keeps the newest entries across streams when reading backwards.
        let backward = try everything(store, .backward, limit: 2)
        #expect(Set(lines(backward)) == ["web 3", "db 2"])
        #expect(backward.first { $0.labels == web }?.entries.map(\.timestamp) == [3 * second])
        let onlyWeb = try everything(store, .forward, [try LabelMatcher(.equal, "app", "web")])
        #expect(lines(onlyWeb) == ["web 1", "web 3"])
        let filtered = try store.select([], start: 0, end: .max, direction: .forward, limit: 10) { line in
            line.count >= 5 && line[4] == UInt8(ascii: "3")
        }
        #expect(lines(filtered) == ["web 3"])
        #expect(try store.streams([try LabelMatcher(.regexMatch, "app", "d.*")], start: 0, end: .max) == [db])
        store.close()
    }

    @Test func segmentsAndTheWALSurviveAReopen() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let position = TailPosition(path: "/var/log/pods/a/b/0.log", device: 1, inode: 2, fingerprint: 3, offset: 400)
        do {
            let store = try open(directory) { $0.blockSize = 64 }
            // Long enough that the WAL compresses the record.
            try await write(store, (0..<20).map { (web, Int64($0) * second, "line \($0)") }, positions: [position])
            try await write(store, (0..<200).map { (db, Int64($0) * second + 1, "a longer line that repeats \($0 % 7)") })
            try store.flush()
            var later = position
            later.offset = 900
            try await write(store, [(web, 30 * second, "after the flush"), (db, 31 * second, "db after")], positions: [later])
            // Not closed: the last commit is only in the WAL, as after a crash.
        }
        let store = try open(directory)
        let all = try everything(store)
        #expect(lines(all).count == 222)
        #expect(lines(all).last == "db after" || lines(all).last == "after the flush")
        #expect(all.first { $0.labels == web }?.entries.map(\.timestamp) == (0..<20).map { Int64($0) * second } + [30 * second])
        #expect(store.positions()[position.path]?.offset == 900)
        // Time ranges select within segments and the head alike.
        let middle = try store.select([try LabelMatcher(.equal, "app", "web")], start: 5 * second, end: 7 * second, direction: .forward, limit: 100, filter: nil)
        #expect(lines(middle) == ["line 5", "line 6"])
        try store.flush()
        store.close()
        let reopened = try open(directory)
        #expect(lines(try everything(reopened)).count == 222)
        #expect(reopened.positions()[position.path]?.offset == 900)
        reopened.close()
    }

    /// The WAL names its streams itself: entries after a flush survive even when the segment that
    /// first named their stream is gone.
    @Test func theWALOutlivesTheSegmentsNamingItsStreams() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        do {
            let store = try open(directory)
            try await write(store, [(web, second, "before")])
            try store.flush()
            try await write(store, [(web, 2 * second, "after")])
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: directory + "/segments") {
            try FileManager.default.removeItem(atPath: directory + "/segments/" + name)
        }
        let store = try open(directory)
        #expect(lines(try everything(store)) == ["after"])
        #expect(try everything(store).first?.labels == web)
        store.close()
    }

    @Test func entriesFarBehindAreRefusedAloneAndResendsDropped() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try open(directory) { $0.outOfOrderWindow = 10 * 1_000_000_000 }
        try await write(store, [(web, 100 * second, "newest")])
        var appender = store.appender()
        try appender.append(web, LogEntry(timestamp: 95 * second, line: "late but inside"))
        #expect(throws: LogAppendError.self) { try appender.append(web, LogEntry(timestamp: 80 * second, line: "too late")) }
        try appender.append(web, LogEntry(timestamp: 100 * second, line: "newest"))
        try await appender.commit()
        #expect(lines(try everything(store)) == ["late but inside", "newest"])
        do {
            try appender.append(web, LogEntry(timestamp: 1, line: "x"))
            Issue.record("an entry far behind was accepted")
        } catch {
            #expect(error.description.contains("entry too far behind"))
        }
        store.close()
    }

    @Test func aDamagedSegmentIsSetAside() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        do {
            let store = try open(directory)
            try await write(store, [(web, second, "one")])
            store.close()
        }
        let segment = try FileManager.default.contentsOfDirectory(atPath: directory + "/segments").first { $0.hasSuffix(".seg") }!
        let path = directory + "/segments/" + segment
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 5] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        let store = try open(directory)
        #expect(try everything(store).isEmpty)
        #expect(FileManager.default.fileExists(atPath: path + ".corrupt"))
        store.close()
    }

    /// Flipped bytes inside a block pass the index checks at startup; the first read that meets them
    /// sets the segment aside, counts it, and answers from the rest of the store.
    @Test func aSegmentWithADamagedBlockIsSetAsideWhenRead() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        do {
            let store = try open(directory)
            try await write(store, [(web, second, String(repeating: "payload ", count: 64))])
            store.close()
            let reopened = try open(directory)
            try await write(reopened, [(db, 2 * second, "kept")])
            reopened.close()
        }
        let segments = try FileManager.default.contentsOfDirectory(atPath: directory + "/segments").filter { $0.hasSuffix(".seg") }.sorted()
        #expect(segments.count == 2)
        let path = directory + "/segments/" + segments[0]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for offset in 12..<76 { bytes[offset] ^= 0x5A }
        try bytes.write(to: URL(fileURLWithPath: path))
        let metrics = MetricsRegistry()
        let store = try LogStore(directory: directory, options: LogStore.Options(), metrics: metrics, logger: Self.logger)
        defer { store.close() }
        #expect(lines(try everything(store)) == ["kept"])
        #expect(FileManager.default.fileExists(atPath: path + ".corrupt"))
        #expect(metrics.render().contains("obs_logs_store_segments_corrupt_total 1"))
        // Later reads do not meet it again.
        #expect(lines(try everything(store)) == ["kept"])
    }

    /// Loki's label limits and an active-stream cap: the refused stream's entries are reported one
    /// by one in Loki's words; every other stream of the batch is stored.
    @Test func streamLimitsRefuseOnlyTheOffendingStreams() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try open(directory) { $0.maxActiveStreams = 3 }
        defer { store.close() }
        var appender = store.appender()
        let hugeValue = Labels(["app": String(repeating: "v", count: 1 << 20)])
        let longName = Labels([String(repeating: "n", count: 2000): "x"])
        let tooMany = Labels(Dictionary(uniqueKeysWithValues: (0..<16).map { ("l\($0)", "v") }))
        for stream in [hugeValue, longName, tooMany] {
            #expect(throws: LogAppendError.self) { try appender.append(stream, LogEntry(timestamp: second, line: "x")) }
        }
        var refusedNew = 0
        for index in 0..<10 {
            do {
                try appender.append(Labels(["pod": "p\(index)"]), LogEntry(timestamp: second, line: "line \(index)"))
            } catch {
                #expect(error.description.hasPrefix("Maximum active stream limit exceeded"))
                refusedNew += 1
            }
        }
        // A stream already admitted keeps being taken.
        try appender.append(Labels(["pod": "p0"]), LogEntry(timestamp: 2 * second, line: "again"))
        try await appender.commit(positions: [])
        #expect(refusedNew == 7)
        #expect(lines(try everything(store)).sorted() == ["again", "line 0", "line 1", "line 2"])
    }

    @Test func retentionByTimeDropsSegmentsPastTheirAge() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try open(directory) { $0.retentionPeriod = 3_600 * 1_000_000_000 }
        let now = WallClock.milliseconds() * 1_000_000
        try await write(store, [(web, now - 7_200 * 1_000_000_000, "two hours old")])
        try store.flush()
        try await write(store, [(db, now, "fresh")])
        try store.flush()
        try store.maintain()
        #expect(lines(try everything(store)) == ["fresh"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/segments").count == 1)
        store.close()
    }

    @Test func retentionBySizeDropsTheOldestSegments() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try open(directory) { $0.retentionBytes = 1 }
        for round in 0..<3 {
            let position = TailPosition(path: "/logs/a.log", device: 1, inode: 1, fingerprint: 1, offset: Int64(round))
            try await write(store, [(web, Int64(round + 1) * second, "round \(round)")], positions: [position])
            try store.flush()
        }
        try store.maintain()
        // Only the newest segment stays, because it carries the tail positions.
        #expect(lines(try everything(store)) == ["round 2"])
        #expect(store.positions()["/logs/a.log"]?.offset == 2)
        store.close()
    }
}
