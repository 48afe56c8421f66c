import ObsCore

/// Cardinality figures of the head, as Prometheus reports them at `/api/v1/status/tsdb`.
public struct HeadStatistics: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var value: Int
    }

    public var numSeries = 0
    public var numLabelPairs = 0
    public var chunkCount = 0
    public var minTime: Int64 = 0
    public var maxTime: Int64 = 0
    public var seriesCountByMetricName: [Entry] = []
    public var labelValueCountByLabelName: [Entry] = []
    public var memoryInBytesByLabelName: [Entry] = []
    public var seriesCountByLabelValuePair: [Entry] = []
}

extension Head {
    func statistics(limit: Int) -> HeadStatistics {
        var stats = HeadStatistics()
        func top(_ entries: [HeadStatistics.Entry]) -> [HeadStatistics.Entry] {
            Array(entries.sorted { $0.value != $1.value ? $0.value > $1.value : $0.name < $1.name }.prefix(limit))
        }
        withIndex { index in
            stats.numSeries = index.series.count
            var pairs: [HeadStatistics.Entry] = []
            var valueCounts: [HeadStatistics.Entry] = []
            var memory: [HeadStatistics.Entry] = []
            for (name, values) in index.postings {
                valueCounts.append(.init(name: name, value: values.count))
                var bytes = 0
                for (value, refs) in values {
                    pairs.append(.init(name: "\(name)=\(value)", value: refs.count))
                    bytes += value.utf8.count * refs.count
                }
                memory.append(.init(name: name, value: bytes))
            }
            stats.numLabelPairs = pairs.count
            stats.seriesCountByMetricName = top((index.postings[Labels.metricName] ?? [:]).map { .init(name: $0.key, value: $0.value.count) })
            stats.labelValueCountByLabelName = top(valueCounts)
            stats.memoryInBytesByLabelName = top(memory)
            stats.seriesCountByLabelValuePair = top(pairs)
        }
        stats.chunkCount = allSeries().reduce(0) { $0 + $1.stateChunkCount() }
        if let bounds = timeBounds() {
            stats.minTime = bounds.min
            stats.maxTime = bounds.max
        }
        return stats
    }
}
