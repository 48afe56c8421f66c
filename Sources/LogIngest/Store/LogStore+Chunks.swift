import ObsCore

/// Chunks for query planning: segment blocks are read from their file when scanned, head blocks
/// and open entries are copied out under the lock so scans never hold it.
extension LogStore {
    public func chunks(_ matchers: [LabelMatcher], start: Int64, end: Int64) throws -> [any LogChunk] {
        guard start < end else { return [] }
        let (segments, heads) = state.withLock { state -> ([LogSegment], [any LogChunk]) in
            var heads: [any LogChunk] = []
            for head in state.heads.values where Self.matches(matchers, head.labels) {
                for block in head.cut where block.maxTime >= start && block.minTime < end {
                    heads.append(HeadBlockChunk(labels: head.labels, block: block))
                }
                let open = head.openEntries(start: start, end: end)
                if !open.isEmpty { heads.append(LogEntriesChunk(labels: head.labels, sortedEntries: open)) }
            }
            return (state.segments.filter { $0.maxTime >= start && $0.minTime < end }, heads)
        }
        var result: [any LogChunk] = []
        for segment in segments {
            var selected: [UInt64: Labels?] = [:]
            for block in segment.blocks where block.maxTime >= start && block.minTime < end {
                let labels = try selected[block.stream] ?? {
                    guard let set = segment.streams[block.stream] else {
                        throw LogIngestError.corrupt(path: segment.path, detail: "block of unknown stream \(block.stream)")
                    }
                    let wanted: Labels? = Self.matches(matchers, set) ? set : nil
                    selected[block.stream] = wanted
                    return wanted
                }()
                if let labels { result.append(SegmentBlockChunk(labels: labels, segment: segment, block: block, store: self)) }
            }
        }
        return result + heads
    }
}

struct SegmentBlockChunk: LogChunk {
    let labels: Labels
    let segment: LogSegment
    let block: BlockRef
    /// Told of a block that fails its checks, to set the segment aside.
    let store: LogStore

    var minTime: Int64 { block.minTime }
    var maxTime: Int64 { block.maxTime }
    var count: Int { block.count }
    var rawLength: Int { block.rawLength }
    var storedLength: Int { block.length }

    func scan(start: Int64, end: Int64, filter: ((UnsafeRawBufferPointer) -> Bool)?, decoder: ZstdDecoder?,
              _ visit: (LogEntryView) throws -> Void) throws {
        do {
            try segment.scan(block, start: start, end: end, filter: filter, decoder: decoder ?? ZstdDecoder(), visit)
        } catch let error as LogIngestError {
            // A damaged block has nothing left to give: the segment goes out of service and the
            // query is answered from the rest.
            guard case .corrupt = error else { throw error }
            store.setAside(segment, error)
        }
    }
}

struct HeadBlockChunk: LogChunk {
    let labels: Labels
    let block: LogBlock

    var minTime: Int64 { block.minTime }
    var maxTime: Int64 { block.maxTime }
    var count: Int { block.count }
    var rawLength: Int { block.rawLength }
    var storedLength: Int { block.bytes.count }

    func scan(start: Int64, end: Int64, filter: ((UnsafeRawBufferPointer) -> Bool)?, decoder: ZstdDecoder?,
              _ visit: (LogEntryView) throws -> Void) throws {
        try block.bytes.withUnsafeBytes { bytes in
            try LogBlock.scan(bytes, rawLength: block.rawLength, start: start, end: end, filter: filter, decoder: decoder ?? ZstdDecoder(), visit)
        }
    }
}
