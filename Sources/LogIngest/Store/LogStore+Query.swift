import ObsCore

/// Reading: the streams that matchers select in a time range. Entries are read through `chunks`.
extension LogStore {
    static func matches(_ matchers: [LabelMatcher], _ labels: Labels) -> Bool {
        matchers.allSatisfy { $0.matches(labels[$0.name] ?? "") }
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
