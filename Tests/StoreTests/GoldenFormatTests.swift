import Logging
@testable import MetricsTSDB
import NIOCore
import ObsCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Byte-exact golden files for every on-disk format version. Encoding the fixed sample data must
/// give exactly the committed bytes (a format change must come with a new version), and the committed
/// files must still decode (data written by older builds stays readable).
/// Regenerate after a deliberate version bump with `OBS_UPDATE_GOLDEN=1 swift test --filter GoldenFormatTests`.
@Suite(.serialized) struct GoldenFormatTests {
    static let directory: String = {
        let file = #filePath
        return String(file[..<file.lastIndex(of: "/")!]) + "/Golden"
    }()

    static var updating: Bool { getenv("OBS_UPDATE_GOLDEN") != nil }

    static let samples: [(Int64, Double)] = [
        (1_700_000_000_000, 1), (1_700_000_015_000, 1.5), (1_700_000_030_000, 1.5), (1_700_000_045_250, -2.25),
        (1_700_000_060_000, .nan), (1_700_000_075_000, Double(bitPattern: 0x7ff0_0000_0000_0002)), (1_700_000_090_000, 1e300),
    ]

    static let labels = Labels(["__name__": "http_requests_total", "job": "api", "code": "200"])

    func check(_ bytes: [UInt8], _ name: String) throws {
        let path = Self.directory + "/" + name
        if Self.updating {
            try FileIO.makeDirectories(String(path[..<path.lastIndex(of: "/")!]))
            try FileIO.writeAtomically(bytes, to: path)
            return
        }
        let golden = try FileIO.readFile(path)
        #expect(golden != nil, "golden file \(name) is missing")
        #expect(golden == bytes, "\(name) no longer matches its golden file")
    }

    @Test func xorChunkV1() throws {
        var appender = XORAppender()
        for (t, v) in Self.samples { appender.append(timestamp: t, value: v) }
        try check(appender.bytes, "chunk-xor-v1.bin")
        var iterator = FloatChunkIterator(try FileIO.readFile(Self.directory + "/chunk-xor-v1.bin") ?? [])
        var decoded: [(Int64, UInt64)] = []
        while iterator.next() { decoded.append((iterator.timestamp, iterator.value.bitPattern)) }
        #expect(decoded.map(\.0) == Self.samples.map(\.0))
        #expect(decoded.map(\.1) == Self.samples.map(\.1.bitPattern))
    }

    /// One file per value coding: a constant, a gauge of deltas with jittered timestamps, a counter
    /// of delta-of-deltas.
    @Test func decimalChunkV1() throws {
        let series: [(String, [(Int64, Double)])] = [
            ("constant", (0..<30).map { (Self.samples[0].0 + Int64($0) * 15_000, 1.5) }),
            ("delta", (0..<20).map { (i: Int) -> (Int64, Double) in
                let quarters = i % 2 == 0 ? 5 + i % 3 : -3 - i % 5
                return (Self.samples[0].0 + Int64(i) * 15_000 + Int64(i % 4) * 3, Double(quarters) / 4)
            }),
            ("dod", (0..<20).map { (i: Int) -> (Int64, Double) in
                let cents = 12_345_600 + i * i * 50
                return (Self.samples[0].0 + Int64(i) * 15_000, Double(cents) / 100)
            }),
        ]
        for (name, samples) in series {
            var appender = XORAppender()
            for (t, v) in samples { appender.append(timestamp: t, value: v) }
            let bytes = appender.compactBytes
            #expect(bytes.first == DecimalChunk.tag, "\(name)")
            let coding: [String: UInt8] = ["constant": 0, "delta": 1, "dod": 2]
            #expect(bytes.count > 3 && bytes[3] & 0x03 == coding[name], "\(name)")
            try check(bytes, "chunk-decimal-v1-\(name).bin")
            var iterator = FloatChunkIterator(try FileIO.readFile(Self.directory + "/chunk-decimal-v1-\(name).bin") ?? [])
            var decoded: [(Int64, UInt64)] = []
            while iterator.next() { decoded.append((iterator.timestamp, iterator.value.bitPattern)) }
            #expect(decoded.map(\.0) == samples.map(\.0), "\(name)")
            #expect(decoded.map(\.1) == samples.map(\.1.bitPattern), "\(name)")
        }
    }

    @Test func histogramChunkV1() throws {
        var appender = HistogramChunkAppender()
        for (i, h) in HistogramStoreTests.histograms.enumerated() {
            appender.append(timestamp: Self.samples[i].0, histogram: h)
        }
        try check(appender.bytes, "chunk-histogram-v1.bin")
        let decoded = HistogramStoreTests.decode(try FileIO.readFile(Self.directory + "/chunk-histogram-v1.bin") ?? [])
        #expect(decoded.count == HistogramStoreTests.histograms.count)
        #expect(zip(decoded, HistogramStoreTests.histograms).allSatisfy { $0.1.sameValue(as: $1) })
    }

    static let walRecords: [WALRecord] = [
        .series([(SeriesRef(7), labels)]),
        .samples(samples.map { WALSample(ref: 7, timestamp: $0.0, value: $0.1) }),
        .deletions([(SeriesRef(7), Int64(1_700_000_030_000), Int64(1_700_000_030_000))]),
    ]

    /// Version 3 added the exemplar record.
    static let walRecordsV3 = walRecords + [
        .exemplars([WALExemplar(ref: 7, exemplar: Exemplar(labels: Labels(["trace_id": "4bf92f3577b34da6"]), value: 0.067,
                                                            timestamp: 1_700_000_015_123))]),
    ]

    /// Version 4 added the head-chunks record of snapshots: a closed chunk, an open one with its
    /// appender state, and an out-of-order sample.
    static let walRecordsV4: [WALRecord] = {
        var closed = XORAppender()
        for (t, v) in samples.prefix(4) { closed.append(timestamp: t, value: v) }
        var open = XORAppender()
        for (t, v) in samples.dropFirst(4) { open.append(timestamp: t, value: v) }
        return walRecordsV3 + [
            .headChunks([WALSeriesChunks(
                ref: 7, lastTime: samples.last!.0, lastValueBits: samples.last!.1.bitPattern,
                closed: [WALSeriesChunks.Chunk(minTime: samples[0].0, maxTime: samples[3].0, bytes: closed.bytes)],
                open: open.resumeState,
                outOfOrder: [WALSeriesChunks.OutOfOrderSample(timestamp: 1_700_000_050_000, bits: (4.5).bitPattern)])]),
        ]
    }()

    /// Version 5 lets a snapshot's closed chunks be decimal chunks.
    static let walRecordsV5: [WALRecord] = {
        var closed = XORAppender()
        for i in 0..<30 { closed.append(timestamp: samples[0].0 + Int64(i) * 15_000, value: Double(1000 + i * 3) / 10) }
        var open = XORAppender()
        for (t, v) in samples.dropFirst(4) { open.append(timestamp: t + 30 * 15_000, value: v) }
        return walRecordsV3 + [
            .headChunks([WALSeriesChunks(
                ref: 7, lastTime: samples.last!.0 + 30 * 15_000, lastValueBits: samples.last!.1.bitPattern,
                closed: [WALSeriesChunks.Chunk(minTime: closed.minTime, maxTime: closed.maxTime, bytes: closed.compactBytes)],
                open: open.resumeState,
                outOfOrder: [])]),
        ]
    }()

    @Test func walSegmentV5() throws {
        guard case let .headChunks(series) = Self.walRecordsV5.last! else { return }
        #expect(series[0].closed[0].bytes.first == DecimalChunk.tag)
        var segment = WAL.magic
        for record in Self.walRecordsV5 { segment += WAL.frame(record) }
        try check(segment, "wal-segment-v5.bin")
        let (records, damage) = try WAL.read(Self.directory + "/wal-segment-v5.bin")
        #expect(damage == nil)
        #expect(records == Self.walRecordsV5)
    }

    /// Version 4 segments (snapshots of XOR and histogram chunks only) written by earlier builds still replay.
    @Test func walSegmentV4StillReads() throws {
        let (records, damage) = try WAL.read(Self.directory + "/wal-segment-v4.bin")
        #expect(damage == nil)
        #expect(records == Self.walRecordsV4)
    }

    /// Version 3 segments (exemplars, no snapshots) written by earlier builds still replay.
    @Test func walSegmentV3StillReads() throws {
        let (records, damage) = try WAL.read(Self.directory + "/wal-segment-v3.bin")
        #expect(damage == nil)
        #expect(records == Self.walRecordsV3)
    }

    /// Version 2 segments (compressed, no exemplars) written by earlier builds still replay.
    @Test func walSegmentV2StillReads() throws {
        let (records, damage) = try WAL.read(Self.directory + "/wal-segment-v2.bin")
        #expect(damage == nil)
        #expect(records == Self.walRecords)
    }

    /// Version 1 segments (no compression) written by earlier builds still replay.
    @Test func walSegmentV1StillReads() throws {
        let (records, damage) = try WAL.read(Self.directory + "/wal-segment-v1.bin")
        #expect(damage == nil)
        #expect(records == Self.walRecords)
    }

    /// Blocks written by earlier builds (index version 1) still open and answer queries.
    @Test func blockV1StillReads() throws {
        let block = try Block(directory: Self.directory + "/block-v1")
        #expect(block.indexVersion == 1)
        #expect(block.seriesCount == 2)
        #expect(try block.series(1).labels == Self.labels)
        #expect(try block.select([try LabelMatcher(.equal, "job", "api")]) == [1])
        let (_, metas) = try block.series(0)
        #expect(metas.count == 1)
        var iterator = FloatChunkIterator(try block.chunk(at: metas[0].offset))
        var count = 0
        while iterator.next() { count += 1 }
        #expect(count == 7)
    }

    /// Blocks with index version 2 and chunks file version 1 (no decimal chunks) still read.
    @Test func blockV2StillReads() throws {
        let block = try Block(directory: Self.directory + "/block-v2")
        #expect(block.indexVersion == 2)
        #expect(block.meta.ulid == "01GOLDENBLOCKV1000000000000")
        #expect(block.seriesCount == 2)
        #expect(try block.series(1).labels == Self.labels)
        #expect(try block.select([try LabelMatcher(.equal, "job", "api")]) == [1])
        let (_, metas) = try block.series(1)
        var iterator = FloatChunkIterator(try block.chunk(at: metas[0].offset))
        var decoded: [UInt64] = []
        while iterator.next() { decoded.append(iterator.value.bitPattern) }
        #expect(decoded == Self.samples.map(\.1.bitPattern))
    }

    /// Index version 2 with chunks file version 2: an XOR chunk and a decimal one.
    @Test func blockChunksV2() throws {
        let scratch = makeTemporaryDirectory()
        defer { removeTree(scratch) }
        let writer = try BlockWriter(parent: scratch, minTime: 1_700_000_000_000, maxTime: 1_700_007_200_000, level: 1,
                                 sources: [], id: "01GOLDENBLOCKV3000000000000")
        var first = XORAppender()
        for (t, v) in Self.samples { first.append(timestamp: t, value: v) }
        var decimal = XORAppender()
        for i in 0..<30 { decimal.append(timestamp: 1_700_000_000_000 + Int64(i) * 15_000, value: Double(i * i) / 4) }
        let decimalBytes = decimal.compactBytes
        #expect(decimalBytes.first == DecimalChunk.tag)
        try writer.add(Labels(["__name__": "a", "job": "x"]),
                       chunks: [EncodedChunk(minTime: decimal.minTime, maxTime: decimal.maxTime, bytes: decimalBytes)], sampleCount: 30)
        try writer.add(Self.labels, chunks: [EncodedChunk(minTime: first.minTime, maxTime: first.maxTime, bytes: first.bytes)],
                       sampleCount: 7)
        let meta = try writer.finish()
        let written = scratch + "/" + meta.ulid
        for file in [BlockFormat.indexFile, BlockFormat.chunksFile, BlockFormat.metaFile] {
            try check(try FileIO.readFile(written + "/" + file) ?? [], "block-chunks-v2/" + file)
        }
        let block = try Block(directory: Self.directory + "/block-chunks-v2")
        #expect(block.indexVersion == 2)
        #expect(block.seriesCount == 2)
        #expect(try block.select([try LabelMatcher(.equal, "job", "api")]) == [1])
        let (_, metas) = try block.series(0)
        var iterator = FloatChunkIterator(try block.chunk(at: metas[0].offset))
        var decoded: [Double] = []
        while iterator.next() { decoded.append(iterator.value) }
        #expect(decoded == (0..<30).map { Double($0 * $0) / 4 })
    }

    @Test func tombstonesV1() throws {
        let scratch = makeTemporaryDirectory()
        defer { removeTree(scratch) }
        _ = system("cp -r '\(Self.directory)/block-v2' '\(scratch)/block'")
        let block = try Block(directory: scratch + "/block")
        try block.addTombstones([1: Intervals([(1_700_000_015_000, 1_700_000_030_000), (1_700_000_090_000, 1_700_000_090_000)])])
        try check(try FileIO.readFile(scratch + "/block/tombstones") ?? [], "tombstones-v1.bin")

        // The committed file reads back; a damaged one is refused when the block opens.
        try FileIO.writeAtomically(try FileIO.readFile(Self.directory + "/tombstones-v1.bin") ?? [], to: scratch + "/block/tombstones")
        let reopened = try Block(directory: scratch + "/block")
        #expect(reopened.tombstones[1] == Intervals([(1_700_000_015_000, 1_700_000_030_000), (1_700_000_090_000, 1_700_000_090_000)]))
        var damaged = try FileIO.readFile(scratch + "/block/tombstones")!
        damaged[10] ^= 0x01
        try FileIO.writeAtomically(damaged, to: scratch + "/block/tombstones")
        #expect(throws: CoreError.self) { try Block(directory: scratch + "/block") }
    }
}
