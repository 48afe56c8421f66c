import Logging
@testable import MetricsTSDB
import ObsCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct BlockTests {
    static let logger = Logger(label: "test")

    static func options(range: Int64 = 1000, retentionTime: Int64? = nil, retentionSize: Int64? = nil,
                        merge: Bool = false) -> MetricsStore.Options {
        var options = MetricsStore.Options()
        options.blockRange = range
        options.maxBlockRange = merge ? range * 9 : range
        options.retentionTime = retentionTime
        options.retentionSize = retentionSize
        return options
    }

    static let names = ["a", "b", "c"]

    static func fill(_ store: MetricsStore, from: Int64 = 0, to: Int64 = 5000) async throws {
        var appender = store.appender()
        for name in names {
            for t in stride(from: from, to: to, by: 10) {
                try appender.append(Labels(["__name__": name, "job": "j"]), ref: nil, timestamp: t, value: Double(t) / 10)
            }
        }
        try await appender.commit()
    }

    static func timestamps(_ store: MetricsStore, _ name: String, from: Int64 = .min, to: Int64 = .max) throws -> [Int64] {
        let selected = try store.querier(minTime: from, maxTime: to).select([try LabelMatcher(.equal, "__name__", name)])
        guard let series = selected.first else { return [] }
        #expect(selected.count == 1)
        var iterator = series.makeIterator()
        var result: [Int64] = []
        while iterator.next() {
            #expect(iterator.value == Double(iterator.timestamp) / 10)
            result.append(iterator.timestamp)
        }
        return result
    }

    @Test func headIsCutIntoBlocksAndQueriesSeeOneView() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let expected = Array(stride(from: Int64(0), to: 5000, by: 10))
        do {
            let store = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
            try await Self.fill(store)
            #expect(try store.compact() == 4)
            #expect(store.blockList.map(\.meta.minTime) == [0, 1000, 2000, 3000])
            #expect(store.blockList.allSatisfy { $0.meta.stats.numSeries == 3 && $0.meta.stats.numSamples == 300 })
            for name in Self.names { #expect(try Self.timestamps(store, name) == expected) }
            // Ranges across the block/head boundary and inside one block.
            #expect(try Self.timestamps(store, "a", from: 3995, to: 4015) == [4000, 4010])
            #expect(try Self.timestamps(store, "b", from: 1200, to: 1230) == [1200, 1210, 1220, 1230])
            #expect(try store.querier(minTime: .min, maxTime: .max).labelValues("__name__", []) == Self.names)
            // The head no longer takes samples that belong to a block.
            var late = store.appender()
            #expect(throws: AppendError.tooOld(labels: Labels(["__name__": "a", "job": "j"]), timestamp: 3999)) {
                try late.append(Labels(["__name__": "a", "job": "j"]), ref: nil, timestamp: 3999, value: 1)
            }
            store.close()
        }
        // Blocks plus the checkpointed WAL give back exactly the same data.
        let reopened = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        #expect(reopened.blockList.count == 4)
        for name in Self.names { #expect(try Self.timestamps(reopened, name) == expected) }
        #expect(try WAL(directory: directory + "/wal").checkpoints().count == 1)
    }

    /// Chunks that lie wholly inside a block's range go into it as they are (120 samples every 10 ms
    /// fill a 1,200 ms block exactly), with their sample counts from their headers.
    @Test func alignedChunksGoIntoBlocksAsTheyAre() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try MetricsStore(directory: directory, options: Self.options(range: 1200), metrics: MetricsRegistry(), logger: Self.logger)
        try await Self.fill(store, to: 6000)
        let headChunks = try #require(store.head.allSeries().first { $0.labels.metricName == "a" }).chunks(minTime: 0, maxTime: 1199)
        #expect(try store.compact() == 4)
        #expect(store.blockList.allSatisfy { $0.meta.stats.numSeries == 3 && $0.meta.stats.numSamples == 360 && $0.meta.stats.numChunks == 3 })
        let blockA = try #require(try store.blockList[0].querier(minTime: 0, maxTime: 1199).select([try LabelMatcher(.equal, "__name__", "a")]).first)
        var iterator = blockA.makeIterator()
        var count = 0
        while iterator.next() { count += 1 }
        #expect(count == 120 && headChunks.count == 1)
        for name in Self.names { #expect(try Self.timestamps(store, name) == Array(stride(from: Int64(0), to: 6000, by: 10))) }
    }

    @Test func crashBetweenBlockAndCheckpointDoesNotDuplicateSamples() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        try await Self.fill(store)
        store.close()
        // Keep the WAL as it was before compaction, as if the process died right after the blocks
        // were renamed into place.
        let saved = directory + "/wal-before"
        _ = system("cp -r '\(directory)/wal' '\(saved)'")
        let compacting = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        try compacting.compact()
        compacting.close()
        try FileIO.removeTree(directory + "/wal")
        _ = system("mv '\(saved)' '\(directory)/wal'")

        let reopened = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        #expect(try Self.timestamps(reopened, "c") == Array(stride(from: Int64(0), to: 5000, by: 10)))
    }

    /// An appender holding a series that head truncation drops before the commit must not lose the
    /// sample: it lands in a new head series, logged under its new reference.
    @Test func appendRacingTruncationIsKept() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let idle = Labels(["__name__": "idle"])
        do {
            let store = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
            var early = store.appender()
            for t in stride(from: Int64(0), through: 100, by: 10) { try early.append(idle, ref: nil, timestamp: t, value: 1) }
            try await early.commit()
            try await Self.fill(store)
            var racing = store.appender()
            try racing.append(idle, ref: nil, timestamp: 4500, value: 2)
            try store.compact()
            try await racing.commit()
            #expect(try Self.idleTimes(store, idle) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 4500])
            store.close()
        }
        let reopened = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        #expect(try Self.idleTimes(reopened, idle) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 4500])
    }

    static func idleTimes(_ store: MetricsStore, _ labels: Labels) throws -> [Int64] {
        let selected = try store.querier(minTime: .min, maxTime: .max).select([try LabelMatcher(.equal, "__name__", "idle")])
        var times: [Int64] = []
        for series in selected {
            var iterator = series.makeIterator()
            while iterator.next() { times.append(iterator.timestamp) }
        }
        return times
    }

    @Test func retentionByTimeDeletesWholeOldBlocks() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try MetricsStore(directory: directory, options: Self.options(retentionTime: 2000),
                                     metrics: MetricsRegistry(), logger: Self.logger)
        try await Self.fill(store)
        try store.compact()
        // Newest sample 4990: blocks ending at or before 2990 go.
        #expect(store.blockList.map(\.meta.minTime) == [2000, 3000])
        #expect(try Self.timestamps(store, "a").first == 2000)
        #expect(try FileIO.listDirectory(directory + "/blocks").count == 2)
    }

    @Test func retentionBySizeDeletesOldestFirst() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let unlimited = try MetricsStore(directory: directory + "/probe", options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        try await Self.fill(unlimited)
        try unlimited.compact()
        let blockSize = Int64(unlimited.blockList[0].sizeInBytes)
        let walSize = Int64(unlimited.wal.sizeInBytes())

        let limited = try MetricsStore(directory: directory + "/limited",
                                       options: Self.options(retentionSize: walSize + blockSize * 2 + blockSize / 2),
                                       metrics: MetricsRegistry(), logger: Self.logger)
        try await Self.fill(limited)
        try limited.compact()
        #expect(limited.blockList.map(\.meta.minTime) == [2000, 3000])
    }

    @Test func damagedBlockIsSetAsideAndTheRestOpens() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        try await Self.fill(store)
        try store.compact()
        let victim = store.blockList[1].directory
        store.close()
        var index = try FileIO.readFile(victim + "/index")!
        index[20] ^= 0xFF
        try FileIO.writeAtomically(index, to: victim + "/index")
        #expect(throws: CoreError.self) { try Block(directory: victim) }

        let reopened = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        #expect(reopened.blockList.count == 3)
        #expect(try FileIO.listDirectory(directory + "/blocks").contains { $0.hasSuffix(".broken") })
        // An unfinished block directory from an interrupted write is removed.
        try FileIO.makeDirectories(directory + "/blocks/01UNFINISHED.tmp")
        _ = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        #expect(try !FileIO.listDirectory(directory + "/blocks").contains("01UNFINISHED.tmp"))
    }

    @Test func adjacentBlocksAreMergedAndTheirSourcesRemoved() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let expected = Array(stride(from: Int64(0), to: 5000, by: 10))
        let store = try MetricsStore(directory: directory, options: Self.options(merge: true), metrics: MetricsRegistry(), logger: Self.logger)
        try await Self.fill(store)
        // Four 1s blocks are cut; the three in [0, 3000) become one level-2 block.
        #expect(try store.compact() == 5)
        let blocks = store.blockList
        #expect(blocks.map(\.meta.minTime) == [0, 3000])
        #expect(blocks[0].meta.maxTime == 3000)
        #expect(blocks[0].meta.compaction.level == 2)
        #expect(blocks[0].meta.compaction.sources.count == 3)
        #expect(blocks[0].meta.stats.numSamples == 900)
        #expect(try FileIO.listDirectory(directory + "/blocks").count == 2)
        for name in Self.names { #expect(try Self.timestamps(store, name) == expected) }
        store.close()

        // A source left behind by a crash before its deletion is removed on open.
        let reopened = try MetricsStore(directory: directory, options: Self.options(merge: true), metrics: MetricsRegistry(), logger: Self.logger)
        #expect(reopened.blockList.count == 2)
    }

    @Test func supersededBlocksAreDetected() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let store = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        try await Self.fill(store)
        try store.compact()
        let sources = Array(store.blockList.prefix(3))
        let meta = try BlockCompactor.merge(sources, into: directory + "/blocks", id: BlockID.make(milliseconds: 1))
        store.close()
        // Merged block written, sources not yet deleted: opening keeps only the merged one.
        let reopened = try MetricsStore(directory: directory, options: Self.options(), metrics: MetricsRegistry(), logger: Self.logger)
        #expect(reopened.blockList.first?.meta.ulid == meta.ulid)
        #expect(reopened.blockList.map(\.meta.minTime) == [0, 3000])
        for name in Self.names { #expect(try Self.timestamps(reopened, name) == Array(stride(from: Int64(0), to: 5000, by: 10))) }
    }

    @Test func blockIDsSortByTime() {
        let earlier = BlockID.make(milliseconds: 1_700_000_000_000)
        let later = BlockID.make(milliseconds: 1_700_000_000_001)
        #expect(earlier.count == 26 && later.count == 26)
        #expect(earlier < later)
        #expect(BlockID.make(milliseconds: 0).hasPrefix("0000000000"))
    }
}
