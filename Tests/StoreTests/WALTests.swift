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

    @Test func truncatedPayloadsThrow() throws {
        for record in Self.records.prefix(2) {
            var full = ByteBuffer()
            record.encodePayload(into: &full)
            for length in 0..<full.readableBytes {
                #expect(throws: CoreError.self) {
                    var cut = full.getSlice(at: 0, length: length)!
                    _ = try WALRecord.decode(kind: record.kind.rawValue, payload: &cut)
                }
            }
        }
        #expect(throws: CoreError.self) {
            var empty = ByteBuffer()
            _ = try WALRecord.decode(kind: 99, payload: &empty)
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
