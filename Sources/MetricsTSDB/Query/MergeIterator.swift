import ObsCore

/// Samples held in an array, sorted by time.
struct SampleArrayIterator: SampleIterator {
    private let samples: [(timestamp: Int64, bits: UInt64)]
    private var index = -1

    init(_ samples: [(timestamp: Int64, bits: UInt64)]) { self.samples = samples }

    var timestamp: Int64 { samples[index].timestamp }
    var value: Double { Double(bitPattern: samples[index].bits) }

    mutating func next() -> Bool {
        guard index + 1 < samples.count else {
            index = samples.count
            return false
        }
        index += 1
        return true
    }

    mutating func seek(_ target: Int64) -> Bool {
        if index >= 0 && index < samples.count && samples[index].timestamp >= target { return true }
        while next() {
            if samples[index].timestamp >= target { return true }
        }
        return false
    }
}

/// Two sorted sample streams read as one; where both have a timestamp the first stream's sample
/// wins (in-order data over out-of-order data).
struct MergeIterator<First: SampleIterator, Second: SampleIterator>: SampleIterator {
    private var first: First
    private var second: Second
    private var firstLive = false
    private var secondLive = false
    private var started = false
    private var useFirst = true

    init(_ first: First, _ second: Second) {
        self.first = first
        self.second = second
    }

    var timestamp: Int64 { useFirst ? first.timestamp : second.timestamp }
    var value: Double { useFirst ? first.value : second.value }
    var histogram: FloatHistogram? { useFirst ? first.histogram : second.histogram }

    mutating func next() -> Bool {
        if !started {
            started = true
            firstLive = first.next()
            secondLive = second.next()
        } else if useFirst {
            let current = first.timestamp
            firstLive = first.next()
            // A sample of the second stream at the same time was shadowed; step past it.
            if secondLive && second.timestamp == current { secondLive = second.next() }
        } else {
            secondLive = second.next()
        }
        return pick()
    }

    mutating func seek(_ target: Int64) -> Bool {
        if !started {
            started = true
            firstLive = first.seek(target)
            secondLive = second.seek(target)
            return pick()
        }
        if (firstLive || secondLive) && timestamp >= target { return true }
        if firstLive { firstLive = first.seek(target) }
        if secondLive { secondLive = second.seek(target) }
        return pick()
    }

    private mutating func pick() -> Bool {
        switch (firstLive, secondLive) {
        case (false, false): return false
        case (true, false): useFirst = true
        case (false, true): useFirst = false
        case (true, true):
            if second.timestamp == first.timestamp {
                useFirst = true
            } else {
                useFirst = first.timestamp < second.timestamp
            }
        }
        return true
    }
}
