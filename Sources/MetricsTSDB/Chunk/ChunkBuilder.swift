/// Re-encodes a stream of samples into full chunks (block writing, deletions, merges): XOR or
/// decimal chunks for floats, histogram chunks for histograms, a new chunk wherever the kind changes.
/// Value type, one owner.
import ObsCore

struct ChunkBuilder {
    private(set) var chunks: [EncodedChunk] = []
    private(set) var samples = 0
    private var appender = XORAppender()
    private var histograms: HistogramChunkAppender?

    mutating func append(timestamp: Int64, value: Double) {
        if appender.isFull || histograms != nil { flush() }
        appender.append(timestamp: timestamp, value: value)
        samples += 1
    }

    mutating func append(timestamp: Int64, histogram: FloatHistogram) {
        if appender.count > 0 || histograms?.isFull == true { flush() }
        if histograms == nil { histograms = HistogramChunkAppender() }
        histograms!.append(timestamp: timestamp, histogram: histogram)
        samples += 1
    }

    /// Appends every remaining sample of `iterator`.
    mutating func append(contentsOf iterator: inout some SampleIterator) {
        while iterator.next() {
            if let histogram = iterator.histogram {
                append(timestamp: iterator.timestamp, histogram: histogram)
            } else {
                append(timestamp: iterator.timestamp, value: iterator.value)
            }
        }
    }

    mutating func finish() -> [EncodedChunk] {
        flush()
        return chunks
    }

    private mutating func flush() {
        if let open = histograms {
            if open.count > 0 { chunks.append(EncodedChunk(minTime: open.minTime, maxTime: open.maxTime, bytes: open.bytes)) }
            histograms = nil
        }
        guard appender.count > 0 else { return }
        chunks.append(EncodedChunk(minTime: appender.minTime, maxTime: appender.maxTime, bytes: appender.compactBytes))
        appender = XORAppender()
    }
}
