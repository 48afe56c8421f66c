import ObsCore

/// One selected series' samples in a time range, as columns.
struct DecodedSamples {
    var timestamps: [Int64] = []
    var values: [Double] = []
    var histograms: [FloatHistogram?]?
}

/// Decodes selected series on every core (`Parallel`), in batches, so the samples held at once stay
/// bounded and each batch is checked against the query's limits before the next is decoded.
enum SeriesDecoding {
    static let batchSize = 256

    /// Hands each series' samples in `[minTime, maxTime]` to `body`, in order, on the calling thread.
    static func forEach(_ series: [any StoredSeries], minTime: Int64, maxTime: Int64,
                        _ body: (Int, inout DecodedSamples) throws(PromQLError) -> Void) throws(PromQLError) {
        var start = 0
        while start < series.count {
            let end = min(series.count, start + batchSize)
            // Iterators are value types over immutable chunk bytes (see `StoredSeries`): each series
            // is read by one worker only.
            var batch = Parallel.map(end - start) { offset -> DecodedSamples in
                var iterator = series[start + offset].makeIterator()
                var samples = DecodedSamples()
                if iterator.seek(minTime) {
                    _ = iterator.collect(upTo: maxTime, timestamps: &samples.timestamps, values: &samples.values,
                                         histograms: &samples.histograms)
                }
                return samples
            }
            for index in batch.indices { try body(start + index, &batch[index]) }
            start = end
        }
    }
}
