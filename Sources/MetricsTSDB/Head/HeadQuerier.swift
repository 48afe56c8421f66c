import ObsCore

/// A read view of the head over `[minTime, maxTime]`. Chunks are copied out of each series when it
/// is selected, so iteration never takes a lock.
struct HeadQuerier: MetricsQuerier {
    let head: Head
    let minTime: Int64
    let maxTime: Int64

    func select(_ matchers: [LabelMatcher]) throws -> [any StoredSeries] {
        let series = head.withIndex { index in index.select(matchers).compactMap { index.series[$0] } }
        var result: [HeadSeries] = []
        for memSeries in series {
            let chunks = memSeries.chunks(minTime: minTime, maxTime: maxTime)
            if chunks.isEmpty { continue }
            var candidate = HeadSeries(labels: memSeries.labels, chunks: chunks, minTime: minTime, maxTime: maxTime)
            // Chunks overlap the range, but their samples may all fall outside it.
            var probe = candidate.makeIterator()
            guard probe.seek(minTime) else { continue }
            candidate.chunks = chunks
            result.append(candidate)
        }
        result.sort { $0.labels < $1.labels }
        return result
    }

    func labelNames(_ matchers: [LabelMatcher]) throws -> [String] {
        var names = Set<String>()
        for series in try select(matchers) {
            for label in series.labels { names.insert(label.name) }
        }
        return names.sorted()
    }

    func labelValues(_ name: String, _ matchers: [LabelMatcher]) throws -> [String] {
        var values = Set<String>()
        for series in try select(matchers) {
            if let value = series.labels[name] { values.insert(value) }
        }
        return values.sorted()
    }
}

struct HeadSeries: StoredSeries {
    let labels: Labels
    var chunks: [[UInt8]]
    let minTime: Int64
    let maxTime: Int64

    func makeIterator() -> any SampleIterator {
        ChunkListIterator(chunks: chunks, minTime: minTime, maxTime: maxTime)
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

    /// The next raw sample across chunk boundaries, ignoring the range.
    private mutating func advance() -> Bool {
        while true {
            if var iterator = current, iterator.next() {
                current = iterator
                return true
            }
            index += 1
            guard index < chunks.count else {
                current = nil
                return false
            }
            current = XORIterator(chunks[index])
        }
    }
}
