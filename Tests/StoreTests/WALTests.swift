import Logging
@testable import MetricsTSDB
import NIOCore
import ObsCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct WALTests {
    static let logger = Logger(label: "test")

    static let records: [WALRecord] = [
        .series([(SeriesRef(1), Labels(["__name__": "up", "job": "node"])), (SeriesRef(2), Labels(["__name__": "x", "a": "ü\"\n"]))]),
        .samples([WALSample(ref: 1, timestamp: 1000, value: 1), WALSample(ref: 2, timestamp: 999, value: .nan),
                  WALSample(ref: 1, timestamp: 2000, value: -3.5)]),
        .samples([]),
    ]

    @Test func recordsRoundTrip() throws {
        for record in Self.records {
            var buffer = ByteBuffer()
            record.encodePayload(into: &buffer)
            #expect(try WALRecord.decode(kind: record.kind.rawValue, payload: &buffer) == record)
            #expect(buffer.readableBytes == 0)
        }
    }

    /// Decoding `record`'s payload cut short at any length throws.
    static func expectEveryCutThrows(_ record: WALRecord) {
        var full = ByteBuffer()
        record.encodePayload(into: &full)
        for length in 0..<full.readableBytes {
            #expect(throws: CoreError.self) {
                var cut = full.getSlice(at: 0, length: length)!
                _ = try WALRecord.decode(kind: record.kind.rawValue, payload: &cut)
            }
        }
    }

    @Test func truncatedPayloadsThrow() throws {
        for record in Self.records.prefix(2) { Self.expectEveryCutThrows(record) }
        #expect(throws: CoreError.self) {
            var empty = ByteBuffer()
            _ = try WALRecord.decode(kind: 99, payload: &empty)
        }
    }

    /// Checkpoint records are zstd frames (type bit 0x40) where that is smaller, and read back to
    /// the same records; a zstd bit in a file of a version without it is damage.
    @Test func checkpointRecordsAreZstdCompressed() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let wal = try WAL(directory: directory)
        _ = try wal.replay { _ in }
        let samples = WALRecord.samples((0..<2000).map { WALSample(ref: UInt64($0 % 50), timestamp: Int64($0) * 15_000, value: Double($0 % 7)) })
        try wal.log([Self.records[0], samples])
        try wal.checkpoint(leading: [GoldenFormatTests.walRecordsV4.last!]) { $0 }
        let path = wal.path(ofCheckpoint: try #require(try wal.checkpoints().last))
        let (records, damage) = try WAL.read(path)
        #expect(damage == nil)
        #expect(records == [GoldenFormatTests.walRecordsV4.last!, Self.records[0], samples])
        let bytes = try #require(try FileIO.readFile(path))
        let snappy = WAL.magic.count + records.reduce(0) { $0 + WAL.frame($1).count }
        #expect(bytes.count * 3 < snappy * 2, "zstd \(bytes.count) bytes against snappy \(snappy)")
        // The first record's type byte: head chunks (6) with the zstd bit.
        #expect(bytes[WAL.magic.count] == 0x46)
        var older = bytes
        older[6] = 3
        try FileIO.writeAtomically(older, to: path)
        #expect(try WAL.read(path).damage?.reason == "zstd record in a version 3 file")
        wal.shutdown()
    }

    /// A snapshot's head-chunks record cut anywhere, or with any byte changed, is refused or decodes
    /// to something that still restores safely; it never traps or allocates from a bad count.
    @Test func damagedHeadChunksRecordsAreRefused() throws {
        let record = GoldenFormatTests.walRecordsV4.last!
        Self.expectEveryCutThrows(record)
        var full = ByteBuffer()
        record.encodePayload(into: &full)
        let bytes = Array(full.readableBytesView)
        for index in bytes.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = bytes
                damaged[index] ^= flip
                var buffer = ByteBuffer(bytes: damaged)
                guard case let .headChunks(entries)? = try? WALRecord.decode(kind: record.kind.rawValue, payload: &buffer) else { continue }
                for entry in entries {
                    let series = MemSeries(ref: entry.ref, labels: Labels(["__name__": "m"]))
                    _ = series.restore(entry, minValid: .min, outOfOrderFloor: nil)
                    _ = series.append(timestamp: entry.lastTime &+ 1, value: 1)
                    _ = series.encodedChunks(minTime: .min, maxTime: .max)
                }
            }
        }
    }

    @Test func logAndReplay() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let wal = try WAL(directory: directory)
        #expect(try wal.replay { _ in } == WAL.ReplayReport())
        try wal.log(Array(Self.records.prefix(2)))
        try wal.log([Self.records[1]])
        wal.shutdown()

        var replayed: [WALRecord] = []
        let again = try WAL(directory: directory)
        let report = try again.replay { replayed.append($0) }
        #expect(replayed == [Self.records[0], Self.records[1], Self.records[1]])
        #expect(report.records == 3)
        #expect(report.truncatedBytes == 0)
        #expect(try again.segments().count == 2)  // the old one and a fresh one for writing
    }

    /// A segment from a newer build is not damage: replay refuses, names the file, and leaves it
    /// and every later segment as they were.
    @Test func newerFormatIsRefusedAndLeftUntouched() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let wal = try WAL(directory: directory)
        _ = try wal.replay { _ in }
        try wal.log(Array(Self.records.prefix(2)))
        wal.shutdown()
        let reader = try WAL(directory: directory)
        let segments = try reader.segments()
        let path = reader.path(ofSegment: segments[0])
        var bytes = try FileIO.readFile(path)!
        bytes[6] = WALRecord.readableVersions.max()! + 1
        try FileIO.writeAtomically(bytes, to: path)
        #expect {
            _ = try WAL(directory: directory).replay { _ in }
        } throws: { error in
            guard case let CoreError.newerFormat(named, version, _) = error else { return false }
            return named == path && version == bytes[6]
        }
        #expect(try FileIO.readFile(path) == bytes)
        #expect(try WAL(directory: directory).segments() == segments)
    }

    @Test func segmentsRollOver() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let wal = try WAL(directory: directory, segmentSize: 200)
        _ = try wal.replay { _ in }
        for _ in 0..<10 { try wal.log([Self.records[1]]) }
        #expect(try wal.segments().count > 2)
        var count = 0
        _ = try WAL(directory: directory).replay { _ in count += 1 }
        #expect(count == 10)
    }

    /// Cuts the last segment at every byte offset: replay keeps every complete record before the
    /// cut, reports the dropped bytes and leaves a log that replays cleanly afterwards.
    @Test func tornTailIsCutAtEveryOffset() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        let source = directory + "/source"
        let wal = try WAL(directory: source)
        _ = try wal.replay { _ in }
        try wal.log([Self.records[0]])
        try wal.log([Self.records[1]])
        wal.shutdown()
        let segment = wal.path(ofSegment: 1)
        let bytes = try FileIO.readFile(segment)!

        for cut in stride(from: WAL.magic.count, to: bytes.count, by: 3) {
            let copy = directory + "/cut\(cut)"
            try FileIO.makeDirectories(copy)
            try FileIO.writeAtomically(bytes.prefix(cut), to: copy + "/00000001")
            var replayed: [WALRecord] = []
            let report = try WAL(directory: copy).replay { replayed.append($0) }
            #expect(replayed.count <= 1)
            #expect(report.truncatedBytes == (replayed.isEmpty ? cut - WAL.magic.count : cut - (bytes.count - recordSize(Self.records[1]))))
            var second: [WALRecord] = []
            let clean = try WAL(directory: copy).replay { second.append($0) }
            #expect(second == replayed)
            #expect(clean.truncatedBytes == 0)
        }
    }

    @Test func checksumMismatchDropsTheRestIncludingLaterSegments() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTree(directory) }
        // One record per segment.
        let wal = try WAL(directory: directory, segmentSize: WAL.magic.count + recordSize(Self.records[1]))
        _ = try wal.replay { _ in }
        for _ in 0..<5 { try wal.log([Self.records[1]]) }
        wal.shutdown()
        let segments = try wal.segments()
        #expect(segments.count >= 3)
        // Flip a payload byte in the second segment.
        var bytes = try FileIO.readFile(wal.path(ofSegment: segments[1]))!
        bytes[WAL.magic.count + WAL.recordHeaderSize + 2] ^= 0x40
        try FileIO.writeAtomically(bytes, to: wal.path(ofSegment: segments[1]))

        var count = 0
        let report = try WAL(directory: directory).replay { _ in count += 1 }
        #expect(count == 1)
        #expect(report.truncatedBytes > 0)
        // The damaged segment and everything after it are gone; a fresh segment follows the good one.
        #expect(try WAL(directory: directory).segments() == [segments[0], segments[0] + 1])
    }

    func recordSize(_ record: WALRecord) -> Int {
        var payload = ByteBuffer()
        record.encodePayload(into: &payload)
        return WAL.recordHeaderSize + payload.readableBytes
    }
}
