import ObsCore

/// A read view of the head over `[minTime, maxTime]`. Chunks are copied out of each series when it
/// is selected, so iteration never takes a lock.
struct HeadQuerier: MetricsQuerier {
    let head: Head
    let minTime: Int64
    let maxTime: Int64

    func select(_ matchers: [LabelMatcher]) throws -> [any StoredSeries] {
        var series = head.withIndex { index in index.select(matchers).compactMap { index.series[$0] } }
        // Sorted here, on the concrete type, rather than as existentials afterwards.
        series.sort { $0.labels < $1.labels }
        var result: [any StoredSeries] = []
        result.reserveCapacity(series.count)
        let lower = max(minTime, head.minValidTime)
        for memSeries in series {
            let (chunks, certain) = memSeries.chunksWithCertainty(minTime: lower, maxTime: maxTime)
            let late = memSeries.outOfOrderSamples(minTime: lower, maxTime: maxTime)
            if chunks.isEmpty && late.isEmpty { continue }
            let candidate = ChunkedSeries(labels: memSeries.labels, chunks: chunks, minTime: lower, maxTime: maxTime)
            if late.isEmpty {
                if certain || candidate.hasSamples { result.append(candidate) }
            } else {
                result.append(OutOfOrderSeries(inOrder: candidate, late: late))
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


/// A head series with samples accepted out of order, read merged with its in-order chunks.
struct OutOfOrderSeries: StoredSeries {
    let inOrder: ChunkedSeries
    let late: [(timestamp: Int64, bits: UInt64)]

    var labels: Labels { inOrder.labels }

    func makeIterator() -> any SampleIterator {
        MergeIterator(ChunkListIterator(chunks: inOrder.chunks, minTime: inOrder.minTime, maxTime: inOrder.maxTime),
                      SampleArrayIterator(late))
    }
}
