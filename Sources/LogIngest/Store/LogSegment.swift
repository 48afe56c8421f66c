import NIOCore
import ObsCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a block lives in a segment file.
struct BlockRef: Sendable {
    var stream: UInt64
    var minTime: Int64
    var maxTime: Int64
    var count: Int
    var rawLength: Int
    var offset: Int
    var length: Int
    var checksum: UInt32
}

/// A persisted, immutable segment: blocks of many streams written by one flush, its stream table
/// and block table, and the tail positions its entries cover. The index stays in memory; blocks are
/// read on demand. Format in `Store/FORMAT.md`. Thread-safe (immutable; reads use `pread`).
final class LogSegment: Sendable {
    static let magic: [UInt8] = Array("OBSLSG".utf8) + [1, 0]
    static let trailer: [UInt8] = Array("OBSLSGIX".utf8)

    let path: String
    let sequence: Int
    let streams: [UInt64: Labels]
    let blocks: [BlockRef]
    let positions: [TailPosition]
    let minTime: Int64
    let maxTime: Int64
    let size: Int

    private init(path: String, sequence: Int, streams: [UInt64: Labels], blocks: [BlockRef], positions: [TailPosition], size: Int) {
        self.path = path
        self.sequence = sequence
        self.streams = streams
        self.blocks = blocks
        self.positions = positions
        minTime = blocks.map(\.minTime).min() ?? 0
        maxTime = blocks.map(\.maxTime).max() ?? 0
        self.size = size
    }

    static func fileName(_ sequence: Int) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 10 - digits.count)) + digits + ".seg"
    }

    /// Writes `blocks` (with their streams' labels) and `positions` as segment `sequence` in
    /// `directory`, atomically. Blocking.
    static func write(directory: String, sequence: Int, blocks: [LogBlock], labels: [UInt64: Labels],
                      positions: [TailPosition]) throws -> LogSegment {
        let path = directory + "/" + fileName(sequence)
        let writer = try BlockFile.Writer(path: path, magic: magic, trailer: trailer)
        var refs: [BlockRef] = []
        refs.reserveCapacity(blocks.count)
        for block in blocks {
            let (offset, checksum) = try writer.append(block.bytes)
            refs.append(BlockRef(stream: block.stream, minTime: block.minTime, maxTime: block.maxTime, count: block.count,
                                 rawLength: block.rawLength, offset: offset, length: block.bytes.count, checksum: checksum))
        }
        var streams: [UInt64: Labels] = [:]
        for ref in refs { streams[ref.stream] = labels[ref.stream] }
        var index = ByteBuffer()
        index.writeVarint(UInt64(streams.count))
        for (id, set) in streams.sorted(by: { $0.key < $1.key }) {
            index.writeVarint(id)
            LogCodec.writeLabels(set, into: &index)
        }
        index.writeVarint(UInt64(refs.count))
        for ref in refs {
            index.writeVarint(ref.stream)
            index.writeSignedVarint(ref.minTime)
            index.writeSignedVarint(ref.maxTime)
            index.writeVarint(UInt64(ref.count))
            index.writeVarint(UInt64(ref.rawLength))
            index.writeVarint(UInt64(ref.offset))
            index.writeVarint(UInt64(ref.length))
            index.writeInteger(ref.checksum, endianness: .little)
        }
        let entries = LogWALRecord.entries([], positions: positions)
        entries.encodePayload(into: &index)
        let size = try writer.finish(index: index)
        return LogSegment(path: path, sequence: sequence, streams: streams, blocks: refs, positions: positions, size: size)
    }

    /// Opens a segment file and reads its index. Blocking.
    /// The largest decompressed block a segment may declare (blocks are cut at 256 KiB): a larger
    /// figure is damage, and would otherwise size a buffer.
    static let maxRawBlockLength = 64 << 20

    static func open(path: String, sequence: Int) throws -> LogSegment {
        func fail(_ detail: String) -> LogIngestError { .corrupt(path: path, detail: detail) }
        var index: ByteBuffer
        let size: Int
        do {
            (index, size) = try BlockFile.readIndex(path: path, magic: magic, trailer: trailer)
        } catch let damage as BlockFile.Damage {
            throw fail(damage.description)
        }
        let indexOffset = size - BlockFile.footerSize - index.readableBytes
        do {
            var streams: [UInt64: Labels] = [:]
            for _ in 0..<(try LogCodec.count(&index)) {
                streams[try LogCodec.varint(&index)] = try LogCodec.readLabels(&index)
            }
            var refs: [BlockRef] = []
            for _ in 0..<(try LogCodec.count(&index)) {
                let stream = try LogCodec.varint(&index)
                guard let minTime = try index.readSignedVarint(), let maxTime = try index.readSignedVarint() else { throw LogCodec.truncated }
                let count = Int(clamping: try LogCodec.varint(&index)), rawLength = Int(clamping: try LogCodec.varint(&index))
                let offset = Int(clamping: try LogCodec.varint(&index)), length = Int(clamping: try LogCodec.varint(&index))
                guard let crc = index.readInteger(endianness: .little, as: UInt32.self) else { throw LogCodec.truncated }
                guard offset >= magic.count, offset <= indexOffset, length <= indexOffset - offset,
                      rawLength <= LogSegment.maxRawBlockLength, streams[stream] != nil else { throw fail("block out of bounds") }
                refs.append(BlockRef(stream: stream, minTime: minTime, maxTime: maxTime, count: count, rawLength: rawLength,
                                     offset: offset, length: length, checksum: crc))
            }
            guard case let .entries(_, positions) = try LogWALRecord.decode(kind: 2, payload: &index) else { throw LogCodec.truncated }
            return LogSegment(path: path, sequence: sequence, streams: streams, blocks: refs, positions: positions, size: size)
        } catch let error as CoreError {
            throw fail("\(error)")
        }
    }

    /// Reads, checks and decompresses one block, visiting its entries in range, with `decoder`'s
    /// buffers. Blocking.
    func scan(_ block: BlockRef, start: Int64, end: Int64, filter: ((UnsafeRawBufferPointer) -> Bool)?,
              decoder: ZstdDecoder = ZstdDecoder(), _ visit: (LogEntryView) throws -> Void) throws {
        do {
            try BlockFile.withBlock(path: path, offset: block.offset, length: block.length, checksum: block.checksum,
                                    buffer: &decoder.input) { bytes in
                try LogBlock.scan(bytes, rawLength: block.rawLength, start: start, end: end, filter: filter, decoder: decoder, visit)
            }
        } catch let damage as BlockFile.Damage {
            throw LogIngestError.corrupt(path: path, detail: damage.description)
        } catch let error as CoreError {
            throw LogIngestError.corrupt(path: path, detail: "block at offset \(block.offset): \(error)")
        }
    }
}
