import NIOCore
import ObsCore
import Synchronization

/// A persisted, immutable block opened for reading. The index and chunks files are memory-mapped;
/// the symbol table and label table are decoded once at open, series entries and chunks on demand.
/// Thread-safe: nothing changes after init.
final class Block: @unchecked Sendable {
    let directory: String
    let meta: BlockMeta
    private let index: MappedFile
    private let chunks: MappedFile
    private let symbols: [String]
    /// Label name → value → offset of its postings list.
    let labelTable: [String: [String: Int]]
    private let seriesTableOffset: Int
    let seriesCount: Int
    /// Index format version (1 or 2), which decides how postings and chunk references are encoded.
    let indexVersion: UInt8
    /// Deleted intervals per series ordinal, from the `tombstones` file; changed only under the
    /// store's compaction lock, read by queries at any time.
    private let tombstoneTable = Mutex<[UInt32: Intervals]>([:])

    init(directory: String) throws {
        self.directory = directory
        let metaPath = directory + "/" + BlockFormat.metaFile
        guard let metaBytes = try FileIO.readFile(metaPath) else {
            throw CoreError.corrupt(codec: "block", detail: "\(metaPath) is missing")
        }
        meta = try BlockMeta.decode(metaBytes, path: metaPath)
        index = try MappedFile(path: directory + "/" + BlockFormat.indexFile)
        chunks = try MappedFile(path: directory + "/" + BlockFormat.chunksFile)

        let bytes = index.bytes
        let file = index.path
        guard bytes.count >= BlockFormat.indexMagic.count + BlockFormat.tocSize,
              Array(bytes.prefix(6)) == Array(BlockFormat.indexMagic.prefix(6)),
              BlockFormat.readableIndexVersions.contains(bytes[6])
        else { throw CoreError.corrupt(codec: "block", detail: "\(file): bad header") }
        indexVersion = bytes[6]
        guard chunks.bytes.count >= BlockFormat.chunksMagic.count,
              Array(chunks.bytes.prefix(6)) == Array(BlockFormat.chunksMagic.prefix(6)),
              BlockFormat.readableChunksVersions.contains(chunks.bytes[6]), chunks.bytes[7] == 0
        else { throw CoreError.corrupt(codec: "block", detail: "\(chunks.path): bad header") }
        var checksum = RawCursor(bytes, file: file, at: bytes.count - 4)
        let stored = try checksum.u32()
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count - 4)])) == stored else {
            throw CoreError.corrupt(codec: "block", detail: "\(file): checksum mismatch")
        }
        var toc = RawCursor(bytes, file: file, at: bytes.count - BlockFormat.tocSize)
        let symbolsOffset = Int(clamping: try toc.u64())
        _ = try toc.u64()  // series entries start; reached through the series table
        _ = try toc.u64()  // postings start; reached through the label table
        let labelTableOffset = Int(clamping: try toc.u64())
        seriesTableOffset = Int(clamping: try toc.u64())

        var cursor = RawCursor(bytes, file: file, at: symbolsOffset)
        let symbolCount = Int(try cursor.u32())
        guard symbolCount <= bytes.count else { throw cursor.corrupt("symbol count \(symbolCount) too large") }
        var symbols: [String] = []
        symbols.reserveCapacity(symbolCount)
        for _ in 0..<symbolCount { symbols.append(try cursor.string()) }
        self.symbols = symbols

        cursor.offset = labelTableOffset
        let pairCount = Int(try cursor.u32())
        guard pairCount <= bytes.count else { throw cursor.corrupt("label count \(pairCount) too large") }
        var table: [String: [String: Int]] = [:]
        for _ in 0..<pairCount {
            let name = try Self.symbol(symbols, try cursor.varint(), cursor)
            let value = try Self.symbol(symbols, try cursor.varint(), cursor)
            table[name, default: [:]][value] = Int(clamping: try cursor.u64())
        }
        labelTable = table

        cursor.offset = seriesTableOffset
        seriesCount = Int(try cursor.u32())
        guard seriesTableOffset + 4 + seriesCount * 8 <= bytes.count else { throw cursor.corrupt("series table runs past the end") }
        let loaded = try Self.readTombstones(directory + "/" + BlockFormat.tombstonesFile)
        tombstoneTable.withLock { $0 = loaded }
    }

    var tombstones: [UInt32: Intervals] { tombstoneTable.withLock { $0 } }

    /// Adds deleted intervals and rewrites the `tombstones` file atomically. Blocking.
    func addTombstones(_ added: [UInt32: Intervals]) throws {
        var merged = tombstones
        for (ordinal, intervals) in added { merged[ordinal, default: Intervals()].add(intervals) }
        var file = ByteBuffer()
        file.writeBytes(BlockFormat.tombstonesMagic)
        file.writeInteger(UInt32(merged.count), endianness: .little)
        for ordinal in merged.keys.sorted() {
            let ranges = merged[ordinal]!.ranges
            file.writeVarint(UInt64(ordinal))
            file.writeVarint(UInt64(ranges.count))
            for range in ranges {
                file.writeSignedVarint(range.min)
                file.writeSignedVarint(range.max)
            }
        }
        file.writeInteger(CRC32C.checksum(file), endianness: .little)
        try FileIO.writeAtomically(Array(file.readableBytesView), to: directory + "/" + BlockFormat.tombstonesFile)
        tombstoneTable.withLock { $0 = merged }
    }

    private static func readTombstones(_ path: String) throws -> [UInt32: Intervals] {
        guard let bytes = try FileIO.readFile(path) else { return [:] }
        return try bytes.withUnsafeBytes { raw in
            let magic = BlockFormat.tombstonesMagic
            guard raw.count >= magic.count + 8, Array(raw.prefix(magic.count)) == magic else {
                throw CoreError.corrupt(codec: "block", detail: "\(path): bad header")
            }
            var trailer = RawCursor(raw, file: path, at: raw.count - 4)
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - 4)])) == (try trailer.u32()) else {
                throw CoreError.corrupt(codec: "block", detail: "\(path): checksum mismatch")
            }
            var cursor = RawCursor(UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - 4)]), file: path, at: magic.count)
            let count = Int(try cursor.u32())
            var table: [UInt32: Intervals] = [:]
            for _ in 0..<count {
                let ordinal = UInt32(truncatingIfNeeded: try cursor.varint())
                let rangeCount = try cursor.varint()
                var intervals = Intervals()
                for _ in 0..<rangeCount { intervals.add(min: try cursor.signedVarint(), max: try cursor.signedVarint()) }
                table[ordinal] = intervals
            }
            return table
        }
    }

    private static func symbol(_ symbols: [String], _ id: UInt64, _ cursor: RawCursor) throws -> String {
        guard id < UInt64(symbols.count) else { throw cursor.corrupt("symbol \(id) out of range") }
        return symbols[Int(id)]
    }

    /// Ordinals of the series matching every matcher, ascending.
    func select(_ matchers: [LabelMatcher]) throws -> [UInt32] {
        try PostingsSelection.select(
            matchers,
            all: { (0..<UInt32(seriesCount)).map { $0 } },
            values: { labelTable[$0] },
            resolve: { offsets in PostingsSelection.union(try offsets.map(postings(at:))) },
            labels: { try series($0).labels })
    }

    /// Series ordinals in the postings list at `offset`, ascending.
    func postings(at offset: Int) throws -> [UInt32] {
        var cursor = RawCursor(index.bytes, file: index.path, at: offset)
        let count = Int(try cursor.u32())
        // Every entry takes at least one byte in either version.
        guard offset + 4 + count <= index.bytes.count else { throw cursor.corrupt("postings run past the end") }
        var result: [UInt32] = []
        result.reserveCapacity(count)
        if indexVersion == 1 {
            for _ in 0..<count { result.append(try cursor.u32()) }
        } else {
            var previous: UInt64 = 0
            for position in 0..<count {
                let delta = try cursor.varint()
                let ordinal = position == 0 ? delta : previous &+ delta
                guard ordinal <= UInt64(UInt32.max) else { throw cursor.corrupt("postings entry out of range") }
                result.append(UInt32(ordinal))
                previous = ordinal
            }
        }
        return result
    }

    /// The labels and chunk metadata of series `ordinal`.
    func series(_ ordinal: UInt32) throws -> (labels: Labels, chunks: [ChunkMeta]) {
        guard Int(ordinal) < seriesCount else { throw CoreError.corrupt(codec: "block", detail: "series \(ordinal) out of range") }
        var table = RawCursor(index.bytes, file: index.path, at: seriesTableOffset + 4 + Int(ordinal) * 8)
        var cursor = RawCursor(index.bytes, file: index.path, at: Int(clamping: try table.u64()))
        let labelCount = Int(clamping: try cursor.varint())
        guard labelCount <= index.bytes.count else { throw cursor.corrupt("label count too large") }
        var pairs: [Label] = []
        pairs.reserveCapacity(labelCount)
        for _ in 0..<labelCount {
            let name = try Self.symbol(symbols, try cursor.varint(), cursor)
            let value = try Self.symbol(symbols, try cursor.varint(), cursor)
            pairs.append(Label(name, value))
        }
        let chunkCount = Int(clamping: try cursor.varint())
        guard chunkCount <= index.bytes.count else { throw cursor.corrupt("chunk count too large") }
        var metas: [ChunkMeta] = []
        metas.reserveCapacity(chunkCount)
        for position in 0..<chunkCount {
            if indexVersion == 1 || position == 0 {
                let minTime = try cursor.signedVarint()
                let span = try cursor.varint()
                metas.append(ChunkMeta(minTime: minTime, maxTime: minTime &+ Int64(bitPattern: span), offset: try cursor.varint()))
            } else {
                // Version 2: each later chunk relative to the one before it.
                let previous = metas[position - 1]
                let minTime = previous.maxTime &+ (try cursor.signedVarint())
                let span = try cursor.varint()
                let offset = previous.offset &+ UInt64(bitPattern: try cursor.signedVarint())
                metas.append(ChunkMeta(minTime: minTime, maxTime: minTime &+ Int64(bitPattern: span), offset: offset))
            }
        }
        return (Labels(sortedUnchecked: pairs), metas)
    }

    /// The bytes of the chunk at `offset`, checksum verified.
    func chunk(at offset: UInt64) throws -> [UInt8] {
        var cursor = RawCursor(chunks.bytes, file: chunks.path, at: Int(clamping: offset))
        let length = Int(try cursor.u32())
        let body = try cursor.bytes(length)
        let stored = try cursor.u32()
        guard CRC32C.checksum(body) == stored else { throw cursor.corrupt("chunk checksum mismatch") }
        return Array(body)
    }

    /// Size on disk of the block's files.
    var sizeInBytes: Int { index.bytes.count + chunks.bytes.count }

    func querier(minTime: Int64, maxTime: Int64) -> BlockQuerier {
        BlockQuerier(block: self, minTime: minTime, maxTime: maxTime)
    }
}
