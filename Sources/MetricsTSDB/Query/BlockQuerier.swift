import ObsCore

/// A read view of one block over `[minTime, maxTime]`.
struct BlockQuerier: MetricsQuerier {
    let block: Block
    let minTime: Int64
    let maxTime: Int64

    func select(_ matchers: [LabelMatcher]) throws -> [any StoredSeries] {
        let ordinals = try block.select(matchers)
        let tombstones = block.tombstones
        var result: [any StoredSeries] = []
        for ordinal in ordinals {
            let (labels, metas) = try block.series(ordinal)
            let overlapping = metas.filter { $0.maxTime >= minTime && $0.minTime <= maxTime }
            guard !overlapping.isEmpty else { continue }
            let chunks = try overlapping.map { try block.chunk(at: $0.offset) }
            // A chunk whose first or last sample is in range needs no decoding to prove it.
            let certain = overlapping.contains { $0.minTime >= minTime || $0.maxTime <= maxTime }
            let candidate = ChunkedSeries(labels: labels, chunks: chunks, minTime: minTime, maxTime: maxTime)
            if let deleted = tombstones[ordinal] {
                let filtered = FilteredSeries(base: candidate, deleted: deleted)
                if filtered.hasSamples { result.append(filtered) }
            } else if certain || candidate.hasSamples {
                result.append(candidate)
            }
        }
        return result
    }

    func labelNames(_ matchers: [LabelMatcher]) throws -> [String] {
        try SeriesSetLabels.names(try select(matchers))
    }

    func labelValues(_ name: String, _ matchers: [LabelMatcher]) throws -> [String] {
        try SeriesSetLabels.values(name, try select(matchers))
    }
}

/// Label names and values of a selected series set.
enum SeriesSetLabels {
    static func names(_ series: [any StoredSeries]) throws -> [String] {
        var names = Set<String>()
        for entry in series {
            for label in entry.labels { names.insert(label.name) }
        }
        return names.sorted()
    }

    static func values(_ name: String, _ series: [any StoredSeries]) throws -> [String] {
        Set(series.compactMap { $0.labels[name] }).sorted()
    }
}
