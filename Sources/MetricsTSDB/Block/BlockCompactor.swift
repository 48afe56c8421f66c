import ObsCore

/// Merges adjacent blocks into larger ones: three 2h blocks into a 6h block, three of those into an
/// 18h block, and so on up to a maximum range, so long retention keeps few files and indexes.
/// Chunks are copied as they are; only the index is rebuilt. Blocking.
enum BlockCompactor {
    /// The ranges blocks are merged into, smallest first: `base × 3^k` up to `maximum`.
    static func ranges(base: Int64, maximum: Int64) -> [Int64] {
        var result: [Int64] = []
        var range = base * 3
        while range <= maximum {
            result.append(range)
            range *= 3
        }
        return result
    }

    /// A set of blocks to merge: at least two, all inside one aligned range that the head has left
    /// behind (`before` is the head's lower bound), so no further block can land in it.
    static func plan(_ blocks: [Block], ranges: [Int64], before: Int64) -> [Block]? {
        for range in ranges {
            var groups: [Int64: [Block]] = [:]
            for block in blocks {
                let start = MetricsStore.floor(block.meta.minTime, range)
                // Blocks that already span this range, or straddle its boundary, are left alone.
                guard block.meta.maxTime <= start + range, block.meta.maxTime - block.meta.minTime < range else { continue }
                groups[start, default: []].append(block)
            }
            for start in groups.keys.sorted() {
                let group = groups[start]!
                if group.count >= 2 && start + range <= before { return group.sorted { $0.meta.minTime < $1.meta.minTime } }
            }
        }
        return nil
    }

    /// Writes one block holding everything in `sources` (deleted intervals left out) and returns its
    /// meta. With one source and `level` unchanged this rewrites a block without its tombstones.
    static func merge(_ sources: [Block], into parent: String, id: String, raiseLevel: Bool = true) throws -> BlockMeta {
        var bySeries: [Labels: [(block: Block, chunks: [ChunkMeta], deleted: Intervals?)]] = [:]
        for block in sources {
            let tombstones = block.tombstones
            for ordinal in 0..<UInt32(block.seriesCount) {
                let (labels, chunks) = try block.series(ordinal)
                bySeries[labels, default: []].append((block, chunks, tombstones[ordinal]))
            }
        }
        let highest = sources.map(\.meta.compaction.level).max() ?? 0
        let level = raiseLevel ? highest + 1 : highest
        let origins = sources.flatMap(\.meta.compaction.sources)
        let writer = try BlockWriter(parent: parent, minTime: sources.map(\.meta.minTime).min()!,
                                 maxTime: sources.map(\.meta.maxTime).max()!, level: level, sources: origins, id: id)
        for labels in bySeries.keys.sorted() {
            var encoded: [EncodedChunk] = []
            var samples = 0
            for (block, metas, deleted) in bySeries[labels]! {
                let chunks = try metas.map { try block.chunk(at: $0.offset) }
                if let deleted {
                    // Only series with deletions are decoded and re-encoded.
                    var iterator = DeletionFilterIterator(
                        ChunkListIterator(chunks: chunks, minTime: .min, maxTime: .max), deleted: deleted)
                    var builder = ChunkBuilder()
                    builder.append(contentsOf: &iterator)
                    encoded += builder.finish()
                    samples += builder.samples
                } else {
                    for (meta, bytes) in zip(metas, chunks) {
                        samples += EncodedChunk.sampleCount(of: bytes)
                        encoded.append(EncodedChunk(minTime: meta.minTime, maxTime: meta.maxTime, bytes: bytes))
                    }
                }
            }
            try writer.add(labels, chunks: encoded, sampleCount: samples)
        }
        return try writer.finish()
    }

    /// Blocks whose data another block already holds: a higher-level block whose sources include all
    /// of theirs (a crash came between writing a merged block and deleting what it merged).
    static func superseded(_ blocks: [Block]) -> [Block] {
        blocks.filter { block in
            let own = Set(block.meta.compaction.sources)
            return blocks.contains { other in
                other !== block && other.meta.compaction.level > block.meta.compaction.level
                    && Set(other.meta.compaction.sources).isSuperset(of: own)
            }
        }
    }
}
