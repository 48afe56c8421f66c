import Foundation
import Logging
import ObsCore
import Testing
@testable import TraceCollector

/// The span store: fragments of one trace merged across the head and segments, reopening with and
/// without a flush, retention, damaged segments.
@Suite struct TraceStoreTests {
    static func directory() -> String {
        let path = NSTemporaryDirectory() + "trace-store-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func batch(service: String, trace: TraceID, spans: [(id: UInt64, parent: UInt64, name: String, start: UInt64)]) -> ResourceSpans {
        let built = spans.map { item -> Span in
            var span = Span(traceID: trace, spanID: item.id, name: item.name, start: item.start, end: item.start + 1_000_000)
            span.parentSpanID = item.parent
            span.attributes = [Attribute("http.route", .string("/\(item.name)"))]
            return span
        }
        return ResourceSpans(resource: [Attribute("service.name", .string(service))],
                             scopes: [ScopeSpans(scope: InstrumentationScope(name: "test"), spans: built)])
    }

    static let first = TraceID(hex: "11111111111111111111111111111111")!
    static let second = TraceID(hex: "22222222222222222222222222222222")!
    static let now = UInt64(Date().timeIntervalSince1970 * 1e9)

    func spanIDs(_ batches: [ResourceSpans]?) -> [UInt64] {
        (batches ?? []).flatMap { $0.scopes.flatMap { $0.spans.map(\.spanID) } }.sorted()
    }

    @Test func fragmentsMergeAcrossHeadAndSegments() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try TraceStore(directory: path, logger: Logger(label: "test"))
        try store.append([Self.batch(service: "frontend", trace: Self.first, spans: [(1, 0, "root", Self.now)])])
        try store.flush()
        try store.append([Self.batch(service: "db", trace: Self.first, spans: [(2, 1, "query", Self.now + 5)]),
                          Self.batch(service: "db", trace: Self.second, spans: [(3, 0, "other", Self.now + 9)])])
        #expect(spanIDs(try store.trace(Self.first)) == [1, 2])
        #expect(try store.trace(TraceID(hex: "33")!) == nil)
        let summaries = store.summaries(start: 0, end: .max)
        #expect(summaries.map(\.traceID) == [Self.second, Self.first])
        #expect(summaries[1].rootService == "frontend" && summaries[1].rootName == "root" && summaries[1].spanCount == 2)
        store.close()

        // Reopened: everything was flushed at close; nothing is read twice.
        let again = try TraceStore(directory: path, logger: Logger(label: "test"))
        defer { again.close() }
        #expect(spanIDs(try again.trace(Self.first)) == [1, 2])
        #expect(spanIDs(try again.trace(Self.second)) == [3])
        #expect(again.usage.segments == 2 && again.usage.headTraces == 0)
        let span = try #require(try again.trace(Self.first)?.first?.scopes.first?.spans.first)
        #expect(span.attributes == [Attribute("http.route", .string("/root"))])
    }

    @Test func theWALKeepsWhatWasNotFlushed() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try TraceStore(directory: path, logger: Logger(label: "test"))
            try store.append([Self.batch(service: "a", trace: Self.first, spans: [(1, 0, "root", Self.now)])])
            try store.flush()
            try store.append([Self.batch(service: "a", trace: Self.first, spans: [(2, 1, "late", Self.now)])])
            // No close: as after a crash, only the WAL has the second export.
        }
        let reopened = try TraceStore(directory: path, logger: Logger(label: "test"))
        defer { reopened.close() }
        #expect(spanIDs(try reopened.trace(Self.first)) == [1, 2])
        #expect(reopened.usage.headTraces == 1)
    }

    /// A crash after a flush wrote its segment but before it removed the WAL it covers: reopening
    /// must not apply those WAL records again.
    @Test func aWALTheSegmentsCoverIsNotReplayedTwice() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let manager = FileManager.default
        do {
            let store = try TraceStore(directory: path, logger: Logger(label: "test"))
            try store.append([Self.batch(service: "a", trace: Self.first, spans: [(1, 0, "root", Self.now), (2, 1, "child", Self.now)])])
            try manager.copyItem(atPath: path + "/wal", toPath: path + "/wal-before-flush")
            try store.flush()
            try store.append([Self.batch(service: "a", trace: Self.first, spans: [(3, 1, "late", Self.now)])])
            // No close: the WAL holds only the late span; put back the one the segment covers.
        }
        for name in try manager.contentsOfDirectory(atPath: path + "/wal-before-flush") where !manager.fileExists(atPath: path + "/wal/" + name) {
            try manager.copyItem(atPath: path + "/wal-before-flush/" + name, toPath: path + "/wal/" + name)
        }
        let reopened = try TraceStore(directory: path, logger: Logger(label: "test"))
        defer { reopened.close() }
        #expect(spanIDs(try reopened.trace(Self.first)) == [1, 2, 3])
    }

    @Test func retentionBySizeDropsTheOldestSegments() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = TraceStoreOptions()
        options.retentionBytes = 1
        let store = try TraceStore(directory: path, options: options, logger: Logger(label: "test"))
        defer { store.close() }
        try store.append([Self.batch(service: "a", trace: Self.first, spans: [(1, 0, "root", Self.now)])])
        try store.flush()
        try store.maintain()
        #expect(store.usage.segments == 0)
        #expect(try store.trace(Self.first) == nil)
    }

    @Test func aDamagedSegmentIsSetAside() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try TraceStore(directory: path, logger: Logger(label: "test"))
            try store.append([Self.batch(service: "a", trace: Self.first, spans: [(1, 0, "root", Self.now)])])
            store.close()
        }
        let segment = path + "/segments/00000001.seg"
        var bytes = try #require(FileManager.default.contents(atPath: segment))
        bytes[bytes.count - 30] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: segment))
        let reopened = try TraceStore(directory: path, logger: Logger(label: "test"))
        defer { reopened.close() }
        #expect(reopened.usage.segments == 0)
        #expect(FileManager.default.fileExists(atPath: segment + ".corrupt"))
    }

    @Test func manyTracesAcrossBlocks() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = TraceStoreOptions()
        options.blockSize = 512
        let store = try TraceStore(directory: path, options: options, logger: Logger(label: "test"))
        defer { store.close() }
        let ids = (1...200).map { TraceID(high: UInt64($0) * 7919, low: UInt64($0)) }
        try store.append(ids.map { Self.batch(service: "s", trace: $0, spans: [(UInt64($0.low), 0, "op", Self.now)]) })
        try store.flush()
        for id in ids.shuffled().prefix(40) { #expect(spanIDs(try store.trace(id)) == [id.low]) }
    }
}
