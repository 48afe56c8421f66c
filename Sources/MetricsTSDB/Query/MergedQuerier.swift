import ObsCore

/// One view over several time-disjoint queriers (blocks in time order, then the head): a series
/// present in several parts is returned once, its parts read one after the other.
struct MergedQuerier: MetricsQuerier {
    let parts: [any MetricsQuerier]

    func select(_ matchers: [LabelMatcher]) throws -> [any StoredSeries] {
        if parts.count == 1 { return try parts[0].select(matchers) }
        var merged: [Labels: [any StoredSeries]] = [:]
        for part in parts {
            for series in try part.select(matchers) { merged[series.labels, default: []].append(series) }
        }
        return merged.map { labels, pieces -> any StoredSeries in
            pieces.count == 1 ? pieces[0] : ChainedSeries(labels: labels, parts: pieces)
        }.sorted { $0.labels < $1.labels }
    }

    func labelNames(_ matchers: [LabelMatcher]) throws -> [String] {
        var names = Set<String>()
        for part in parts { names.formUnion(try part.labelNames(matchers)) }
        return names.sorted()
    }

    func labelValues(_ name: String, _ matchers: [LabelMatcher]) throws -> [String] {
        var values = Set<String>()
        for part in parts { values.formUnion(try part.labelValues(name, matchers)) }
        return values.sorted()
    }
}

/// A series stored in several time-ordered, non-overlapping parts.
struct ChainedSeries: StoredSeries {
    let labels: Labels
    let parts: [any StoredSeries]

    func makeIterator() -> any SampleIterator {
        ChainedIterator(parts: parts.map { $0.makeIterator() })
    }
}

struct ChainedIterator: SampleIterator {
    private var parts: [any SampleIterator]
    private var index = 0

    init(parts: [any SampleIterator]) { self.parts = parts }

    var timestamp: Int64 { parts[index].timestamp }
    var value: Double { parts[index].value }

    mutating func next() -> Bool {
        while index < parts.count {
            if parts[index].next() { return true }
            index += 1
        }
        index = parts.count - 1
        return false
    }

    mutating func seek(_ target: Int64) -> Bool {
        while index < parts.count {
            if parts[index].seek(target) { return true }
            index += 1
        }
        index = parts.count - 1
        return false
    }
}
