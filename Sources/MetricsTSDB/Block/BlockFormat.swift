/// Constants of the block files; layouts in `Block/FORMAT.md`.
enum BlockFormat {
    /// Version 2 may hold decimal chunks; version 1 (XOR and histogram chunks only) is still read.
    /// A build that knows only version 1 refuses the newer file instead of misreading its chunks.
    static let chunksMagic: [UInt8] = Array("OBSCHK".utf8) + [2, 0]
    static let readableChunksVersions: Set<UInt8> = [1, 2]
    /// Version 2 stores postings and chunk references as varint deltas; version 1 is still read.
    static let indexMagic: [UInt8] = Array("OBSIDX".utf8) + [2, 0]
    static let readableIndexVersions: Set<UInt8> = [1, 2]
    /// Five u64 section offsets and a u32 checksum.
    static let tocSize = 5 * 8 + 4
    static let chunksFile = "chunks"
    static let indexFile = "index"
    static let metaFile = "meta.json"
    static let tombstonesFile = "tombstones"
    static let tombstonesMagic: [UInt8] = Array("OBSTMB".utf8) + [1, 0]
}

/// One encoded chunk of a series with its time bounds (inclusive).
struct EncodedChunk: Sendable {
    var minTime: Int64
    var maxTime: Int64
    var bytes: [UInt8]

    var sampleCount: Int { Self.sampleCount(of: bytes) }

    /// The sample count a chunk's header states, whatever its kind (`Chunk/FORMAT.md`).
    static func sampleCount(of bytes: [UInt8]) -> Int {
        let header = bytes.first == HistogramChunkAppender.tag || bytes.first == DecimalChunk.tag ? 1 : 0
        return bytes.count >= header + 2 ? Int(bytes[header]) << 8 | Int(bytes[header + 1]) : 0
    }
}

/// Where a chunk lives inside a block's chunks file.
struct ChunkMeta: Sendable, Equatable {
    var minTime: Int64
    var maxTime: Int64
    var offset: UInt64
}
