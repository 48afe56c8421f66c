import Foundation
import Logging
import ObsCore
import Testing
@testable import TraceCollector

/// Search over the head and segments with the index: the same traces as checking every span, while
/// equality on services, names and attributes narrows the traces read, and keys with too many values
/// fall back to reading blocks.
@Suite struct TraceSearchTests {
    static func store(_ path: String) throws -> TraceStore {
        let store = try TraceStore(directory: path, logger: Logger(label: "test"))
        let base = UInt64(Date().timeIntervalSince1970 * 1e9)
        var batches: [ResourceSpans] = []
        for number in 1...600 {
            let trace = TraceID(high: UInt64(number) &* 0x9E37_79B9_7F4A_7C15, low: UInt64(number))
            var span = Span(traceID: trace, spanID: UInt64(number), name: "op \(number % 7)", start: base + UInt64(number),
                            end: base + UInt64(number) + UInt64(number % 50) * 1_000_000)
            span.kind = number % 2 == 0 ? .server : .client
            span.statusCode = number % 10 == 0 ? .error : .unset
            span.attributes = [Attribute("http.status_code", .int(Int64(200 + number % 4))), Attribute("request.id", .string("r-\(number)")),
                               Attribute("retry", .bool(number % 3 == 0)), Attribute("code", .string("\(number % 5)"))]
            let service = "svc-\(number % 4)"
            batches.append(ResourceSpans(resource: [Attribute("service.name", .string(service))],
                                         scopes: [ScopeSpans(scope: InstrumentationScope(), spans: [span])]))
            // Half the traces end up in a segment, half stay in the head.
            if number == 300 {
                try store.append(batches)
                try store.flush()
                batches = []
            }
        }
        try store.append(batches)
        return store
    }

    static let queries = [
        #"{ resource.service.name = "svc-1" }"#,
        #"{ name = "op 3" && span.http.status_code = 201 }"#,
        #"{ .retry = true || status = error }"#,
        #"{ span.request.id = "r-417" }"#,
        #"{ span.code = 3 }"#,
        #"{ kind = server && resource.service.name = "svc-2" && span.http.status_code >= 202 }"#,
        #"{ span.http.status_code != 200 && name =~ "op [12]" }"#,
    ]

    @Test(arguments: queries)
    func indexedSearchFindsWhatAFullScanFinds(_ query: String) throws {
        let path = NSTemporaryDirectory() + "trace-search-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try Self.store(path)
        defer { store.close() }
        let filter = try TraceQLParser.parse(query)
        var request = TraceSearch.Request()
        request.filter = filter
        request.limit = 10_000
        let found = Set(try TraceSearch(store: store).find(request).map(\.summary.traceID))
        var expected = Set<TraceID>()
        try store.scan(start: 0, end: .max) { summary, batches in
            for batch in batches {
                for scope in batch.scopes where scope.spans.contains(where: { filter.matches($0, resource: batch.resource) }) {
                    expected.insert(summary.traceID)
                }
            }
            return true
        }
        #expect(!expected.isEmpty)
        #expect(found == expected, "\(query): \(found.count) found, \(expected.count) expected")
    }

    @Test func theIndexNarrowsAndGivesUpOnIds() throws {
        let path = NSTemporaryDirectory() + "trace-search-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try Self.store(path)
        defer { store.close() }
        let segment = try #require(store.state.withLock { $0.segments.first })
        let service = try TraceQLParser.parse(#"{ resource.service.name = "svc-1" }"#).candidates
        #expect(service.positions(postings: segment.postings, unindexed: segment.unindexedKeys)?.count == 75)
        let id = try TraceQLParser.parse(#"{ span.request.id = "r-17" }"#).candidates
        #expect(id.positions(postings: segment.postings, unindexed: segment.unindexedKeys) == nil)
    }
}
