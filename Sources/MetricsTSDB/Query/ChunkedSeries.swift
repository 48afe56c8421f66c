import ObsCore

/// A series read from consecutive chunks, restricted to `[minTime, maxTime]`.
struct ChunkedSeries: StoredSeries {
    let labels: Labels
    let chunks: [[UInt8]]
    let minTime: Int64
    let maxTime: Int64

    func makeIterator() -> any SampleIterator {
        ChunkListIterator(chunks: chunks, minTime: minTime, maxTime: maxTime)
    }

    /// Chunks can overlap the range while all their samples fall outside it.
    var hasSamples: Bool {
        var probe = ChunkListIterator(chunks: chunks, minTime: minTime, maxTime: maxTime)
        return probe.next()
    }
}

/// Iterates consecutive chunks of one series, restricted to `[minTime, maxTime]`. Float (XOR or
/// decimal) and histogram chunks may alternate; the first byte of a chunk tells them apart.
struct ChunkListIterator: SampleIterator {
    private let chunks: [[UInt8]]
    private let minTime: Int64
    private let maxTime: Int64
    private var index = -1
    private var current = FloatChunkIterator([])
    private var currentHistograms: HistogramChunkIterator?
    /// True while standing on a sample.
    private var live = false
    private var started = false

    init(chunks: [[UInt8]], minTime: Int64, maxTime: Int64) {
        self.chunks = chunks
        self.minTime = minTime
        self.maxTime = maxTime
    }

    var timestamp: Int64 {
        guard live else { return .min }
        return currentHistograms?.timestamp ?? current.timestamp
    }

    var value: Double { live && currentHistograms == nil ? current.value : .nan }
    var histogram: FloatHistogram? { live ? currentHistograms?.histogram : nil }

    mutating func next() -> Bool {
        if !started {
            started = true
            return seek(minTime)
        }
        return advance() && timestamp <= maxTime
    }

    mutating func seek(_ target: Int64) -> Bool {
        let goal = max(target, minTime)
        if started, live, timestamp >= goal { return timestamp <= maxTime }
        started = true
        if !live && !advance() { return false }
        while timestamp < goal {
            if !advance() { return false }
        }
        return timestamp <= maxTime
    }

    mutating func collect(upTo limit: Int64, timestamps: inout [Int64], values: inout [Double],
                          histograms: inout [FloatHistogram?]?) -> Bool {
        let end = min(limit, maxTime)
        // Room for every sample the remaining chunks hold, by their headers: one allocation
        // instead of a doubling series of them.
        if live {
            let remaining = chunks[max(index, 0)...].reduce(0) { $0 + EncodedChunk.sampleCount(of: $1) }
            timestamps.reserveCapacity(timestamps.count + remaining)
            values.reserveCapacity(values.count + remaining)
        }
        while live {
            if let chunk = currentHistograms {
                let t = chunk.timestamp
                if t > end { return t <= maxTime }
                if histograms == nil { histograms = Array(repeating: nil, count: timestamps.count) }
                histograms!.append(chunk.histogram)
                timestamps.append(t)
                values.append(0)
            } else {
                // The rest of this float chunk in one pass, without the cross-chunk bookkeeping.
                let before = timestamps.count
                let stopped = current.appendRest(upTo: end, timestamps: &timestamps, values: &values)
                if histograms != nil { histograms!.append(contentsOf: repeatElement(nil, count: timestamps.count - before)) }
                if stopped { return current.timestamp <= maxTime }
            }
            if !advance() { return false }
        }
        return false
    }

    /// The next raw sample across chunk boundaries, ignoring the range.
    private mutating func advance() -> Bool {
        while true {
            // Mutated in place: copying the iterator out and back costs a retain and release per sample.
            if currentHistograms != nil {
                if currentHistograms!.next() { live = true; return true }
            } else if index >= 0, current.next() {
                live = true
                return true
            }
            index += 1
            guard index < chunks.count else {
                live = false
                currentHistograms = nil
                return false
            }
            if chunks[index].first == HistogramChunkAppender.tag {
                currentHistograms = HistogramChunkIterator(chunks[index])
            } else {
                currentHistograms = nil
                current = FloatChunkIterator(chunks[index])
            }
        }
    }
}
