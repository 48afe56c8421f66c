import Dispatch
import Foundation
import ObsCore

/// One selected series' samples in a time range, as columns.
struct DecodedSamples {
    var timestamps: [Int64] = []
    var values: [Double] = []
    var histograms: [FloatHistogram?]?
}

/// Decodes selected series on every core. Reading chunks is most of a range query's time, series
/// decode independently of each other, and the evaluator runs one query on one thread: spreading
/// the series over the cores is what makes a lone query use the machine. Work goes in batches, so
/// the samples held at once stay bounded and each batch is checked against the query's limits
/// before the next is decoded.
enum SeriesDecoding {
    static let batchSize = 256
    static let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))

    /// Hands each series' samples in `[minTime, maxTime]` to `body`, in order, on the calling thread.
    static func forEach(_ series: [any StoredSeries], minTime: Int64, maxTime: Int64,
                        _ body: (Int, inout DecodedSamples) throws(PromQLError) -> Void) throws(PromQLError) {
        var start = 0
        while start < series.count {
            let end = min(series.count, start + batchSize)
            var batch = decode(series[start..<end], minTime: minTime, maxTime: maxTime)
            for index in batch.indices { try body(start + index, &batch[index]) }
            start = end
        }
    }

    private static func decode(_ series: ArraySlice<any StoredSeries>, minTime: Int64, maxTime: Int64) -> [DecodedSamples] {
        var decoded = [DecodedSamples](repeating: DecodedSamples(), count: series.count)
        let parallel = min(workers, max(1, series.count / 8))
        decoded.withUnsafeMutableBufferPointer { output in
            // Each slot is written by exactly one worker, and every series is only read: iterators
            // are value types over immutable chunk bytes (see `StoredSeries`).
            let shared = Shared(series: series, output: output)
            DispatchQueue.concurrentPerform(iterations: parallel) { worker in
                var index = worker
                while index < shared.series.count {
                    var iterator = shared.series[shared.series.startIndex + index].makeIterator()
                    var samples = DecodedSamples()
                    if iterator.seek(minTime) {
                        _ = iterator.collect(upTo: maxTime, timestamps: &samples.timestamps, values: &samples.values,
                                             histograms: &samples.histograms)
                    }
                    shared.output[index] = samples
                    index += parallel
                }
            }
        }
        return decoded
    }

    private struct Shared: @unchecked Sendable {
        let series: ArraySlice<any StoredSeries>
        let output: UnsafeMutableBufferPointer<DecodedSamples>
    }
}
