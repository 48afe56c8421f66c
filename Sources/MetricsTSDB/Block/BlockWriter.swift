import NIOCore
import ObsCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes one block: series are added in label order with their chunks, which stream to the
/// `chunks` file as they come; `finish` writes the index and `meta.json`, syncs everything and
/// renames the temporary directory into place. A crash before the rename leaves only a `*.tmp`
/// directory, removed on the next open. Owned by one thread.
final class BlockWriter {
    let parent: String
    let meta: BlockMeta
    private let temporary: String
    private let chunksFD: Int32
    /// Chunk bytes not yet written to the file; `written` bytes already are.
    private var chunks = ByteBuffer()
    private var written = 0
    private var series: [(labels: Labels, chunks: [ChunkMeta])] = []
    private var samples = 0
    private var chunkCount = 0

    init(parent: String, minTime: Int64, maxTime: Int64, level: Int, sources: [String], id: String) throws {
        self.parent = parent
        meta = BlockMeta(ulid: id, minTime: minTime, maxTime: maxTime,
                         stats: .init(numSeries: 0, numSamples: 0, numChunks: 0),
                         compaction: .init(level: level, sources: sources.isEmpty ? [id] : sources))
        temporary = parent + "/" + id + ".tmp"
        try FileIO.makeDirectories(temporary)
        let path = temporary + "/" + BlockFormat.chunksFile
        chunksFD = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard chunksFD >= 0 else { throw CoreError.io(operation: "open", path: path, errno: errno) }
        chunks.writeBytes(BlockFormat.chunksMagic)
    }

    deinit {
        close(chunksFD)
    }

    private func flushChunks(force: Bool) throws {
        guard force || chunks.readableBytes >= 1 << 20 else { return }
        try FileIO.writeAll(fd: chunksFD, Array(chunks.readableBytesView), path: temporary + "/" + BlockFormat.chunksFile)
        written += chunks.readableBytes
        chunks.clear()
    }

    /// Adds a series; calls must come in ascending label order. Series without chunks are skipped.
    func add(_ labels: Labels, chunks encoded: [EncodedChunk], sampleCount: Int) throws {
        guard !encoded.isEmpty else { return }
        precondition(series.last.map { $0.labels < labels } ?? true, "block series must be added in label order")
        var metas: [ChunkMeta] = []
        for chunk in encoded {
            let offset = UInt64(written + chunks.readableBytes)
            chunks.writeInteger(UInt32(chunk.bytes.count), endianness: .little)
            chunks.writeBytes(chunk.bytes)
            chunks.writeInteger(CRC32C.checksum(chunk.bytes), endianness: .little)
            metas.append(ChunkMeta(minTime: chunk.minTime, maxTime: chunk.maxTime, offset: offset))
        }
        series.append((labels, metas))
        samples += sampleCount
        chunkCount += encoded.count
        try flushChunks(force: false)
    }

    var isEmpty: Bool { series.isEmpty }

    /// Abandons the block: removes its temporary directory.
    func discard() throws {
        try FileIO.removeTree(temporary)
    }

    /// Writes the block and returns its final meta. Blocking.
    func finish() throws -> BlockMeta {
        var meta = self.meta
        meta.stats = .init(numSeries: series.count, numSamples: samples, numChunks: chunkCount)
        let final = parent + "/" + meta.ulid
        try flushChunks(force: true)
        guard fsync(chunksFD) == 0 else { throw CoreError.io(operation: "fsync", path: temporary, errno: errno) }
        try FileIO.writeAtomically(Array(buildIndex().readableBytesView), to: temporary + "/" + BlockFormat.indexFile)
        try FileIO.writeAtomically(try meta.encoded(), to: temporary + "/" + BlockFormat.metaFile)
        guard rename(temporary, final) == 0 else { throw CoreError.io(operation: "rename", path: final, errno: errno) }
        try FileIO.syncDirectory(parent)
        return meta
    }

    private func buildIndex() -> ByteBuffer {
        var index = ByteBuffer()
        index.writeBytes(BlockFormat.indexMagic)

        // Symbols: every distinct name and value, sorted, referenced by position.
        var symbolSet = Set<String>()
        for entry in series {
            for label in entry.labels {
                symbolSet.insert(label.name)
                symbolSet.insert(label.value)
            }
        }
        let symbols = symbolSet.sorted()
        var symbolID: [String: UInt64] = [:]
        for (position, symbol) in symbols.enumerated() { symbolID[symbol] = UInt64(position) }
        let symbolsOffset = UInt64(index.writerIndex)
        index.writeInteger(UInt32(symbols.count), endianness: .little)
        for symbol in symbols {
            index.writeVarint(UInt64(symbol.utf8.count))
            index.writeString(symbol)
        }

        // Series entries, in label order; ordinal = position.
        let seriesOffset = UInt64(index.writerIndex)
        var entryOffsets: [UInt64] = []
        var postings: [Label: [UInt32]] = [:]
        for (ordinal, entry) in series.enumerated() {
            entryOffsets.append(UInt64(index.writerIndex))
            index.writeVarint(UInt64(entry.labels.count))
            for label in entry.labels {
                index.writeVarint(symbolID[label.name]!)
                index.writeVarint(symbolID[label.value]!)
                postings[label, default: []].append(UInt32(ordinal))
            }
            index.writeVarint(UInt64(entry.chunks.count))
            var previous: ChunkMeta?
            for chunk in entry.chunks {
                if let previous {
                    // Chunks follow each other in time and in the file: deltas take a byte or two.
                    index.writeSignedVarint(chunk.minTime &- previous.maxTime)
                    index.writeVarint(UInt64(chunk.maxTime &- chunk.minTime))
                    index.writeSignedVarint(Int64(bitPattern: chunk.offset &- previous.offset))
                } else {
                    index.writeSignedVarint(chunk.minTime)
                    index.writeVarint(UInt64(chunk.maxTime &- chunk.minTime))
                    index.writeVarint(chunk.offset)
                }
                previous = chunk
            }
        }

        // Postings lists, one per label pair, sorted by name then value.
        let postingsOffset = UInt64(index.writerIndex)
        let pairs = postings.keys.sorted()
        var listOffsets: [UInt64] = []
        for pair in pairs {
            listOffsets.append(UInt64(index.writerIndex))
            let list = postings[pair]!
            index.writeInteger(UInt32(list.count), endianness: .little)
            var previous: UInt32 = 0
            for (position, ordinal) in list.enumerated() {
                index.writeVarint(UInt64(position == 0 ? ordinal : ordinal - previous))
                previous = ordinal
            }
        }

        // Label table: which pair's postings start where.
        let labelTableOffset = UInt64(index.writerIndex)
        index.writeInteger(UInt32(pairs.count), endianness: .little)
        for (pair, offset) in zip(pairs, listOffsets) {
            index.writeVarint(symbolID[pair.name]!)
            index.writeVarint(symbolID[pair.value]!)
            index.writeInteger(offset, endianness: .little)
        }

        // Series offsets: ordinal → entry, fixed width for direct access.
        let seriesTableOffset = UInt64(index.writerIndex)
        index.writeInteger(UInt32(entryOffsets.count), endianness: .little)
        for offset in entryOffsets { index.writeInteger(offset, endianness: .little) }

        for offset in [symbolsOffset, seriesOffset, postingsOffset, labelTableOffset, seriesTableOffset] {
            index.writeInteger(offset, endianness: .little)
        }
        index.writeInteger(CRC32C.checksum(index), endianness: .little)
        return index
    }
}
