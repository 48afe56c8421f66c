import ObsCore

/// One view over several time-disjoint queriers (blocks in time order, then the head): a series
/// present in several parts is returned once, its parts read one after the other.
struct MergedQuerier: MetricsQuerier {
    let parts: [any MetricsQuerier]

    func select(_ matchers: [LabelMatcher]) throws -> [any StoredSeries] {
        if parts.count == 1 { return try parts[0].select(matchers) }
        // Each part answers sorted by labels: merge the lists in one pass, keeping time order
        // (the parts are ordered oldest first) among pieces of the same series.
        let lists = try parts.map { try $0.select(matchers) }
        var positions = Array(repeating: 0, count: lists.count)
        var result: [any StoredSeries] = []
        result.reserveCapacity(lists.map(\.count).max() ?? 0)
        while true {
            var smallest: Labels?
            for (i, list) in lists.enumerated() where positions[i] < list.count {
                let labels = list[positions[i]].labels
                if smallest == nil || labels < smallest! { smallest = labels }
            }
            guard let labels = smallest else { return result }
            var pieces: [any StoredSeries] = []
            for (i, list) in lists.enumerated() where positions[i] < list.count && list[positions[i]].labels == labels {
                pieces.append(list[positions[i]])
                positions[i] += 1
            }
            result.append(pieces.count == 1 ? pieces[0] : ChainedSeries(labels: labels, parts: pieces))
        }
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
    var histogram: FloatHistogram? { parts[index].histogram }

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

    mutating func collect(upTo maxTime: Int64, timestamps: inout [Int64], values: inout [Double],
                          histograms: inout [FloatHistogram?]?) -> Bool {
        while true {
            if parts[index].collect(upTo: maxTime, timestamps: &timestamps, values: &values, histograms: &histograms) {
                return true
            }
            // This part ran out below `maxTime`: continue with the next one that has samples.
            repeat {
                index += 1
                if index == parts.count {
                    index = parts.count - 1
                    return false
                }
            } while !parts[index].next()
        }
    }
}
