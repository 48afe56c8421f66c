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

/// Iterates consecutive chunks of one series, restricted to `[minTime, maxTime]`.
struct ChunkListIterator: SampleIterator {
    private let chunks: [[UInt8]]
    private let minTime: Int64
    private let maxTime: Int64
    private var index = -1
    private var current: XORIterator?
    private var started = false

    init(chunks: [[UInt8]], minTime: Int64, maxTime: Int64) {
        self.chunks = chunks
        self.minTime = minTime
        self.maxTime = maxTime
    }

    var timestamp: Int64 { current?.timestamp ?? .min }
    var value: Double { current?.value ?? .nan }

    mutating func next() -> Bool {
        if !started {
            started = true
            return seek(minTime)
        }
        return advance() && timestamp <= maxTime
    }

    mutating func seek(_ target: Int64) -> Bool {
        let goal = max(target, minTime)
        if started, current != nil, timestamp >= goal { return timestamp <= maxTime }
        started = true
        if current == nil && !advance() { return false }
        while timestamp < goal {
            if !advance() { return false }
        }
        return timestamp <= maxTime
    }

    mutating func collect(upTo limit: Int64, timestamps: inout [Int64], values: inout [Double]) -> Bool {
        let end = min(limit, maxTime)
        while current != nil {
            let t = current!.timestamp
            if t > end { return t <= maxTime }
            timestamps.append(t)
            values.append(current!.value)
            if !advance() { return false }
        }
        return false
    }

    /// The next raw sample across chunk boundaries, ignoring the range.
    private mutating func advance() -> Bool {
        while true {
            // Mutated in place: copying the iterator out and back costs a retain and release per sample.
            if current?.next() == true { return true }
            index += 1
            guard index < chunks.count else {
                current = nil
                return false
            }
            current = XORIterator(chunks[index])
        }
    }
}
