import Foundation
@testable import LogIngest
import Logging
import ObsCore
import Testing

/// A small tmpfs as the store's disk (needs root and `mount`, which CI has; skipped elsewhere).
struct SmallDisk {
    let path: String

    static let available: Bool = {
        guard getuid() == 0 else { return false }
        guard let disk = try? SmallDisk(megabytes: 1) else { return false }
        disk.unmount()
        return true
    }()

    init(megabytes: Int) throws {
        path = makeTemporaryDirectory()
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]) == 0 else {
            throw CocoaError(.fileWriteUnknown)
        }
    }

    func unmount() {
        _ = Self.run("/bin/umount", [path])
        removeTree(path)
    }

    /// Fills the disk, leaving about `keep` bytes free; returns the filler's path.
    func fill(leaving keep: Int) throws -> String {
        var stats = statvfs()
        statvfs(path, &stats)
        let free = Int(stats.f_bavail) * Int(stats.f_frsize)
        let filler = path + "/filler"
        try Data(count: max(0, free - keep)).write(to: URL(fileURLWithPath: filler))
        return filler
    }

    static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

@Suite(.serialized) struct LogStoreDiskFullTests {
    /// Writes until the disk is full: every commit either succeeds (and its lines are readable, then
    /// and after a reopen) or fails with an error, never half. Once space returns, writes go on and
    /// segments are written again, with no restart.
    @Test(.enabled(if: SmallDisk.available, "needs root to mount a tmpfs"))
    func aFullDiskRefusesWritesAndRecoversWhenSpaceReturns() async throws {
        let disk = try SmallDisk(megabytes: 4)
        defer { disk.unmount() }
        let directory = disk.path + "/logs"
        var options = LogStore.Options()
        options.flushBytes = 64 << 10
        options.flushRetryInterval = 0
        options.walSegmentSize = 256 << 10
        let store = try LogStore(directory: directory, options: options, metrics: MetricsRegistry(), logger: Logger(label: "test"))
        let filler = try disk.fill(leaving: 400 << 10)
        let stream = Labels(["app": "fill"])
        var acknowledged: [String] = []
        var failures = 0
        // Lines that compress poorly, so the disk fills in a few hundred commits.
        var generator = SystemRandomNumberGenerator()
        for batch in 0..<400 {
            var appender = store.appender()
            var lines: [String] = []
            for index in 0..<8 {
                let noise = (0..<48).map { _ in String(generator.next() as UInt64, radix: 36) }.joined()
                let line = "batch \(batch) line \(index) \(noise)"
                lines.append(line)
                try appender.append(stream, LogEntry(timestamp: Int64(batch * 8 + index + 1) * 1_000_000, line: line))
            }
            do {
                try await appender.commit(positions: [])
                acknowledged += lines
            } catch {
                failures += 1
                #expect(!"\(error)".isEmpty)
            }
        }
        #expect(failures > 0, "the disk never filled")
        func stored() throws -> Set<String> {
            Set(try store.select([], start: 0, end: .max, direction: .forward, limit: 1_000_000, filter: nil).flatMap { $0.entries.map(\.line) })
        }
        #expect(Set(acknowledged).isSubset(of: try stored()))

        // Space comes back: the next commits succeed and the head is flushed to a segment.
        try FileManager.default.removeItem(atPath: filler)
        var appender = store.appender()
        try appender.append(stream, LogEntry(timestamp: 10_000_000_000, line: "after the disk emptied"))
        try await appender.commit(positions: [])
        acknowledged.append("after the disk emptied")
        try store.flush()
        #expect(Set(acknowledged).isSubset(of: try stored()))
        store.close()

        let reopened = try LogStore(directory: directory, options: options, metrics: MetricsRegistry(), logger: Logger(label: "test"))
        defer { reopened.close() }
        let afterReopen = Set(try reopened.select([], start: 0, end: .max, direction: .forward, limit: 1_000_000, filter: nil)
            .flatMap { $0.entries.map(\.line) })
        #expect(Set(acknowledged).isSubset(of: afterReopen))
    }
}
