import NIOCore
import ObsCore

/// One immutable file of traces flushed from the head (format in `FORMAT.md`): traces sorted by id
/// in zstd blocks, and an index of every trace's id, block and summary kept in memory, so a trace is
/// found by binary search without reading any block but its own.
struct TraceSegment: Sendable {
    static let magic: [UInt8] = Array("OBSTSG".utf8) + [1, 0]
    static let trailer: [UInt8] = Array("OBSTSGIX".utf8)

    struct Block: Sendable {
        var offset: Int
        var length: Int
        var rawLength: Int
        var checksum: UInt32
    }

    let path: String
    let sequence: Int
    let size: Int
    /// The last WAL segment whose records this file holds.
    let walThrough: Int
    /// Sorted.
    let ids: [TraceID]
    let blockOf: [Int]
    let summaries: [TraceSummary]
    let blocks: [Block]
    /// Search index: term hash → positions of the traces holding it.
    let postings: [UInt64: [Int32]]
    /// Keys with too many values in this file to index.
    let unindexedKeys: Set<UInt64>
    let minTime: UInt64
    let maxTime: UInt64

    static func fileName(_ sequence: Int) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".seg"
    }

    /// Writes `traces` (sorted by id) into blocks of about `blockSize` bytes before compression.
    /// Values a key may have in one file and still be indexed; beyond, ids and the like are searched
    /// by reading blocks.
    static let maxValuesPerKey = 256

    static func write(directory: String, sequence: Int,
                      traces: [(id: TraceID, fragments: [ByteBuffer], summary: TraceSummary, terms: [IndexTerm])],
                      walThrough: Int, blockSize: Int) throws -> TraceSegment {
        let path = directory + "/" + fileName(sequence)
        let writer = try BlockFile.Writer(path: path, magic: magic, trailer: trailer)
        var blocks: [Block] = []
        var blockOf: [Int] = []
        var raw = ByteBuffer()
        func cut() throws {
            guard raw.readableBytes > 0 else { return }
            let compressed = raw.withUnsafeReadableBytes { Zstd.compress($0, level: 3) }
            let (offset, checksum) = try writer.append(compressed)
            blocks.append(Block(offset: offset, length: compressed.count, rawLength: raw.readableBytes, checksum: checksum))
            raw.clear()
        }
        for trace in traces {
            // Concatenated exports are one valid export: repeated fields append.
            raw.writeBytes(trace.id.bytes)
            raw.writeVarint(UInt64(trace.fragments.reduce(0) { $0 + $1.readableBytes }))
            for fragment in trace.fragments { raw.writeImmutableBuffer(fragment) }
            blockOf.append(blocks.count)
            if raw.readableBytes >= blockSize { try cut() }
        }
        try cut()
        var index = ByteBuffer()
        index.writeVarint(UInt64(walThrough))
        index.writeVarint(UInt64(traces.count))
        for (position, trace) in traces.enumerated() {
            let summary = trace.summary
            index.writeBytes(trace.id.bytes)
            index.writeVarint(UInt64(blockOf[position]))
            index.writeVarint(summary.start)
            index.writeVarint(summary.end)
            index.writeVarint(UInt64(summary.spanCount))
            TraceCodec.writeString(summary.rootService, into: &index)
            TraceCodec.writeString(summary.rootName, into: &index)
        }
        index.writeVarint(UInt64(blocks.count))
        for block in blocks {
            index.writeVarint(UInt64(block.offset))
            index.writeVarint(UInt64(block.length))
            index.writeVarint(UInt64(block.rawLength))
            index.writeInteger(block.checksum, endianness: .little)
        }
        let (postings, unindexed) = Self.postings(traces.map(\.terms))
        index.writeVarint(UInt64(unindexed.count))
        for key in unindexed.sorted() { index.writeInteger(key, endianness: .little) }
        index.writeVarint(UInt64(postings.count))
        for (term, positions) in postings.sorted(by: { $0.key < $1.key }) {
            index.writeInteger(term, endianness: .little)
            index.writeVarint(UInt64(positions.count))
            var previous: Int32 = 0
            for position in positions {
                index.writeVarint(UInt64(position - previous))
                previous = position
            }
        }
        let size = try writer.finish(index: index)
        return TraceSegment(path: path, sequence: sequence, size: size, walThrough: walThrough, ids: traces.map(\.id),
                            blockOf: blockOf, summaries: traces.map(\.summary), blocks: blocks, postings: postings,
                            unindexedKeys: unindexed)
    }

    /// Posting lists (ascending positions) of the terms of keys with few enough values.
    static func postings(_ terms: [[IndexTerm]]) -> ([UInt64: [Int32]], Set<UInt64>) {
        var values: [UInt64: Set<UInt64>] = [:]
        var unindexed = Set<UInt64>()
        var postings: [UInt64: [Int32]] = [:]
        for (position, set) in terms.enumerated() {
            for term in set where !unindexed.contains(term.key) {
                if values[term.key, default: []].insert(term.term).inserted, values[term.key]!.count > maxValuesPerKey {
                    unindexed.insert(term.key)
                    for dropped in values[term.key]! { postings[dropped] = nil }
                    values[term.key] = nil
                    continue
                }
                // A trace lists a term once per span; its position goes in once.
                if postings[term.term]?.last != Int32(position) { postings[term.term, default: []].append(Int32(position)) }
            }
        }
        return (postings, unindexed)
    }

    init(path: String, sequence: Int, size: Int, walThrough: Int, ids: [TraceID], blockOf: [Int], summaries: [TraceSummary],
         blocks: [Block], postings: [UInt64: [Int32]], unindexedKeys: Set<UInt64>) {
        self.postings = postings
        self.unindexedKeys = unindexedKeys
        self.path = path
        self.sequence = sequence
        self.size = size
        self.walThrough = walThrough
        self.ids = ids
        self.blockOf = blockOf
        self.summaries = summaries
        self.blocks = blocks
        minTime = summaries.map(\.start).min() ?? 0
        maxTime = summaries.map(\.end).max() ?? 0
    }

    /// Reads a segment's index. Blocking.
    static func open(path: String, sequence: Int) throws -> TraceSegment {
        do {
            var (index, size) = try BlockFile.readIndex(path: path, magic: magic, trailer: trailer)
            let walThrough = Int(clamping: try TraceCodec.varint(&index))
            let count = try TraceCodec.count(&index)
            var ids: [TraceID] = [], blockOf: [Int] = [], summaries: [TraceSummary] = []
            for _ in 0..<count {
                guard let idBytes = index.readBytes(length: 16), let id = TraceID(bytes: idBytes) else { throw TraceCodec.truncated }
                blockOf.append(Int(clamping: try TraceCodec.varint(&index)))
                let start = try TraceCodec.varint(&index), end = try TraceCodec.varint(&index)
                let spans = Int(clamping: try TraceCodec.varint(&index))
                let service = try TraceCodec.string(&index), name = try TraceCodec.string(&index)
                ids.append(id)
                summaries.append(TraceSummary(traceID: id, start: start, end: end, spanCount: spans, rootService: service, rootName: name))
            }
            var blocks: [Block] = []
            for _ in 0..<(try TraceCodec.count(&index)) {
                let offset = Int(clamping: try TraceCodec.varint(&index)), length = Int(clamping: try TraceCodec.varint(&index))
                let rawLength = Int(clamping: try TraceCodec.varint(&index))
                guard let checksum = index.readInteger(endianness: .little, as: UInt32.self) else { throw TraceCodec.truncated }
                // Blocks lie between the header and the index; a decompressed size past 64 MiB is damage.
                guard offset >= magic.count, offset <= size, length <= size - offset, rawLength <= 64 << 20 else {
                    throw BlockFile.Damage(description: "block out of bounds")
                }
                blocks.append(Block(offset: offset, length: length, rawLength: rawLength, checksum: checksum))
            }
            guard blockOf.allSatisfy({ $0 < blocks.count }), zip(ids, ids.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw BlockFile.Damage(description: "index out of order or naming missing blocks")
            }
            var unindexed = Set<UInt64>()
            for _ in 0..<(try TraceCodec.count(&index)) {
                guard let key = index.readInteger(endianness: .little, as: UInt64.self) else { throw TraceCodec.truncated }
                unindexed.insert(key)
            }
            var postings: [UInt64: [Int32]] = [:]
            for _ in 0..<(try TraceCodec.count(&index)) {
                guard let term = index.readInteger(endianness: .little, as: UInt64.self) else { throw TraceCodec.truncated }
                var positions: [Int32] = []
                var position: UInt64 = 0
                for _ in 0..<(try TraceCodec.count(&index)) {
                    position += try TraceCodec.varint(&index)
                    guard position < UInt64(ids.count) else { throw BlockFile.Damage(description: "posting beyond the trace table") }
                    positions.append(Int32(position))
                }
                postings[term] = positions
            }
            return TraceSegment(path: path, sequence: sequence, size: size, walThrough: walThrough, ids: ids, blockOf: blockOf,
                                summaries: summaries, blocks: blocks, postings: postings, unindexedKeys: unindexed)
        } catch let error as TraceStoreError {
            throw error
        } catch {
            throw TraceStoreError.corrupt(path: path, detail: "\(error)")
        }
    }

    /// Where `id` is in this segment's index.
    func position(of id: TraceID) -> Int? {
        var low = 0, high = ids.count
        while low < high {
            let middle = (low + high) / 2
            if ids[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low < ids.count && ids[low] == id ? low : nil
    }

    /// Every trace of block `number`, decoded. Blocking.
    func traces(inBlock number: Int, decoder: ZstdDecoder, only wanted: TraceID? = nil) throws -> [(TraceID, [ResourceSpans])] {
        let block = blocks[number]
        do {
            return try BlockFile.withBlock(path: path, offset: block.offset, length: block.length, checksum: block.checksum,
                                           buffer: &decoder.input) { compressed in
                try decoder.decompress(compressed, maxDecodedSize: max(block.rawLength, 1)) { raw in
                    var buffer = ByteBuffer(bytes: raw)
                    return try TraceCodec.readFragments(&buffer, count: nil).compactMap { id, bytes in
                        wanted == nil || wanted == id ? (id, try OTLPProtobuf.decode(bytes).batches) : nil
                    }
                }
            }
        } catch {
            throw TraceStoreError.corrupt(path: path, detail: "block \(number): \(error)")
        }
    }
}

/// Varints and strings in trace store indexes.
enum TraceCodec {
    static let truncated = CoreError.corrupt(codec: "trace store", detail: "truncated")

    static func varint(_ buffer: inout ByteBuffer) throws -> UInt64 { try buffer.readVarint(orThrow: truncated) }

    static func count(_ buffer: inout ByteBuffer) throws -> Int { try buffer.readCount(orThrow: truncated) }

    /// `trace id (16 bytes) | varint length | OTLP bytes`, repeated; the WAL record also starts
    /// with the count.
    static func writeFragments(_ fragments: [(id: TraceID, bytes: ByteBuffer)], into buffer: inout ByteBuffer) {
        buffer.writeVarint(UInt64(fragments.count))
        for fragment in fragments {
            buffer.writeBytes(fragment.id.bytes)
            buffer.writeVarint(UInt64(fragment.bytes.readableBytes))
            buffer.writeImmutableBuffer(fragment.bytes)
        }
    }

    /// Reads `count` fragments (as written by `writeFragments` when nil: the count comes first),
    /// or, with `count: nil` on a block, every fragment to the end.
    static func readFragments(_ buffer: inout ByteBuffer) throws -> [(id: TraceID, bytes: ByteBuffer)] {
        let count = try self.count(&buffer)
        return try readFragments(&buffer, count: count)
    }

    static func readFragments(_ buffer: inout ByteBuffer, count: Int?) throws -> [(id: TraceID, bytes: ByteBuffer)] {
        var result: [(id: TraceID, bytes: ByteBuffer)] = []
        while count.map({ result.count < $0 }) ?? (buffer.readableBytes > 0) {
            guard let idBytes = buffer.readBytes(length: 16), let id = TraceID(bytes: idBytes) else { throw truncated }
            let length = Int(clamping: try varint(&buffer))
            guard let bytes = buffer.readSlice(length: length) else { throw truncated }
            result.append((id, bytes))
        }
        return result
    }

    static func writeString(_ text: String, into buffer: inout ByteBuffer) { buffer.writeLengthPrefixed(text) }

    static func string(_ buffer: inout ByteBuffer) throws -> String { try buffer.readLengthPrefixedString(orThrow: truncated) }
}
