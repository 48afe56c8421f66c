import Logging
@testable import MetricsTSDB
import ObsCore
import Testing

@Suite struct AdminTests {
    static let logger = Logger(label: "test")

    static func open(_ directory: String) throws -> MetricsStore {
        try MetricsStore(directory: directory, options: BlockTests.options(), metrics: MetricsRegistry(), logger: logger)
    }

    static var all: [Int64] { Array(stride(from: Int64(0), to: 5000, by: 10)) }

    @Test func deleteSeriesInHeadAndBlocksSurvivesRestartAndCleaning() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let expected = Self.all.filter { !(1500...4200).contains($0) }
        do {
            let store = try Self.open(directory)
            try await BlockTests.fill(store)
            try store.compact()
            // Spans two blocks and the head.
            try await store.deleteSeries([try LabelMatcher(.equal, "__name__", "b")], minTime: 1500, maxTime: 4200)
            #expect(try BlockTests.timestamps(store, "b") == expected)
            #expect(try BlockTests.timestamps(store, "a") == Self.all)
            store.close()
        }
        let reopened = try Self.open(directory)
        #expect(try BlockTests.timestamps(reopened, "b") == expected)
        #expect(reopened.blockList.contains { !$0.tombstones.isEmpty })
        try reopened.cleanTombstones()
        #expect(reopened.blockList.allSatisfy { $0.tombstones.isEmpty })
        #expect(reopened.blockList.map(\.meta.minTime) == [0, 1000, 2000, 3000])
        #expect(try BlockTests.timestamps(reopened, "b") == expected)
        #expect(reopened.blockList[2].meta.stats.numSamples == 200)  // "b" lost all 100 of [2000, 3000)
    }

    @Test func deletingEverythingHidesTheSeries() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try Self.open(directory)
        try await BlockTests.fill(store)
        try store.compact()
        try await store.deleteSeries([try LabelMatcher(.regexMatch, "__name__", "a|c")], minTime: .min, maxTime: .max)
        #expect(try store.querier(minTime: .min, maxTime: .max).labelValues("__name__", []) == ["b"])
        // New samples after the deletion are stored as usual.
        var appender = store.appender()
        try appender.append(Labels(["__name__": "a", "job": "j"]), ref: nil, timestamp: 6000, value: 600)
        try await appender.commit()
        #expect(try BlockTests.timestamps(store, "a") == [6000])
    }

    @Test func snapshotHoldsBlocksAndHead() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try Self.open(directory)
        try await BlockTests.fill(store)
        try store.compact()
        let name = try store.snapshot(skipHead: false)
        let snapshot = directory + "/snapshots/" + name
        let blocks = try FileIO.listDirectory(snapshot).map { try Block(directory: snapshot + "/" + $0) }
        #expect(blocks.count == 5)
        #expect(blocks.reduce(0) { $0 + $1.meta.stats.numSamples } == 1500)
        let headless = try store.snapshot(skipHead: true)
        #expect(try FileIO.listDirectory(directory + "/snapshots/" + headless).count == 4)
        // Snapshots are independent of later retention: the hard links keep the data.
        try FileIO.removeTree(store.blockList[0].directory)
        #expect(try Block(directory: snapshot + "/" + store.blockList[0].meta.ulid).meta.stats.numSamples == 300)
    }
}
