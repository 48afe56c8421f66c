import ObsCore

/// Reading: streams selected by matchers, entries by time range, direction and limit.
extension LogStore {
    /// What a query takes from the head under the lock: copies, so the lock is not held while
    /// blocks are decompressed.
    private struct HeadSlice {
        var id: UInt64
        var labels: Labels
        var blocks: [LogBlock]
        var open: [LogEntry]
    }

    static func matches(_ matchers: [LabelMatcher], _ labels: Labels) -> Bool {
        matchers.allSatisfy { $0.matches(labels[$0.name] ?? "") }
    }

    public func select(_ matchers: [LabelMatcher], start: Int64, end: Int64, direction: LogDirection, limit: Int,
                       filter: (@Sendable (UnsafeRawBufferPointer) -> Bool)?) throws -> [LogStream] {
        guard start < end, limit > 0 else { return [] }
        let (segments, heads) = state.withLock { state -> ([LogSegment], [HeadSlice]) in
            let heads = state.heads.values.filter { Self.matches(matchers, $0.labels) }.map { head in
                HeadSlice(id: head.id, labels: head.labels,
                          blocks: head.cut.filter { $0.maxTime >= start && $0.minTime < end },
                          open: head.openEntries(start: start, end: end, filter: filter))
            }
            return (state.segments.filter { $0.maxTime >= start && $0.minTime < end }, heads)
        }
        var labels: [UInt64: Labels] = [:]
        var entries: [UInt64: [LogEntry]] = [:]
        for segment in segments {
            var selected: [UInt64: Bool] = [:]
            for block in segment.blocks where block.maxTime >= start && block.minTime < end {
                let wanted = try selected[block.stream] ?? {
                    guard let set = segment.streams[block.stream] else {
                        throw LogIngestError.corrupt(path: segment.path, detail: "block of unknown stream \(block.stream)")
                    }
                    let wanted = Self.matches(matchers, set)
                    if wanted { labels[block.stream] = set }
                    selected[block.stream] = wanted
                    return wanted
                }()
                guard wanted else { continue }
                entries[block.stream, default: []] += try segment.entries(of: block, start: start, end: end, filter: filter)
            }
        }
        for head in heads {
            labels[head.id] = head.labels
            for block in head.blocks {
                entries[head.id, default: []] += try LogBlock.decode(block.bytes, rawLength: block.rawLength, start: start,
                                                                     end: end, filter: filter)
            }
            entries[head.id, default: []] += head.open
        }
        // The first `limit` entries in the query's direction, over all streams.
        var all: [(stream: UInt64, entry: LogEntry)] = []
        for (id, list) in entries {
            for entry in list { all.append((id, entry)) }
        }
        if direction == .forward {
            all.sort { ($0.entry.timestamp, $0.stream) < ($1.entry.timestamp, $1.stream) }
        } else {
            all.sort { ($0.entry.timestamp, $0.stream) > ($1.entry.timestamp, $1.stream) }
        }
        var grouped: [UInt64: [LogEntry]] = [:]
        for item in all.prefix(limit) { grouped[item.stream, default: []].append(item.entry) }
        return grouped.map { LogStream(labels: labels[$0.key]!, entries: $0.value) }.sorted { $0.labels < $1.labels }
    }

    public func streams(_ matchers: [LabelMatcher], start: Int64, end: Int64) throws -> [Labels] {
        state.withLock { state in
            var found = Set<UInt64>()
            var result: [Labels] = []
            func take(_ id: UInt64, _ set: Labels) {
                if found.insert(id).inserted, Self.matches(matchers, set) { result.append(set) }
            }
            for segment in state.segments where segment.maxTime >= start && segment.minTime < end {
                for block in segment.blocks where block.maxTime >= start && block.minTime < end && !found.contains(block.stream) {
                    if let set = segment.streams[block.stream] { take(block.stream, set) }
                }
            }
            for head in state.heads.values where !found.contains(head.id) {
                let inRange = head.cut.contains { $0.maxTime >= start && $0.minTime < end }
                    || head.open.contains { $0.timestamp >= start && $0.timestamp < end }
                if inRange { take(head.id, head.labels) }
            }
            return result.sorted()
        }
    }
}
