import ObsCore
import Synchronization

/// One series in the head: its labels, closed chunks and the open chunk being appended to.
/// Thread-safe: every access goes through its lock, held only for the few instructions of an
/// append or a snapshot.
final class MemSeries: Sendable {
    let ref: SeriesRef
    let labels: Labels
    private let state = Mutex(State())
    /// Set once the series record is in the WAL, so later commits need not log it again.
    let logged = Atomic<Bool>(false)

    struct ClosedChunk: Sendable {
        var bytes: [UInt8]
        var minTime: Int64
        var maxTime: Int64
    }

    struct State: Sendable {
        var closed: [ClosedChunk] = []
        var open = XORAppender()
        /// The open chunk while the series is taking histograms (then `open` is empty).
        var openHistograms: HistogramChunkAppender?
        var lastTime: Int64 = .min
        var lastValueBits: UInt64 = 0
        /// The newest sample's histogram, `nil` when it was a float.
        var lastHistogram: FloatHistogram?
        /// Set when truncation dropped the series from the head; appends must go to a new series.
        var removed = false
        /// Samples accepted out of order (inside the out-of-order window), sorted by time.
        var outOfOrder: [(timestamp: Int64, bits: UInt64)] = []

        /// Mutating only so that callers holding the lock's `inout` state pass it by address: as a
        /// plain method the compiler copied the whole state (240 bytes and its references) per call.
        mutating func verdict(_ timestamp: Int64, _ value: Double, _ floor: Int64?) -> Verdict {
            if timestamp > lastTime { return .append }
            if timestamp == lastTime {
                return lastHistogram == nil && value.bitPattern == lastValueBits ? .duplicateOK : .duplicateConflict
            }
            guard let floor else { return .outOfOrder }
            guard timestamp >= floor else { return .tooOld }
            let index = outOfOrderIndex(timestamp)
            if index < outOfOrder.count && outOfOrder[index].timestamp == timestamp {
                return outOfOrder[index].bits == value.bitPattern ? .duplicateOK : .duplicateConflict
            }
            return .appendOutOfOrder
        }

        /// Appends in order, or into the out-of-order samples when the window allows; false when the
        /// sample is rejected.
        mutating func append(_ timestamp: Int64, _ value: Double, _ floor: Int64?) -> Bool {
            switch verdict(timestamp, value, floor) {
            case .append:
                if openHistograms != nil { closeOpenChunk() }
                if open.isFull { closeOpenChunk() }
                open.append(timestamp: timestamp, value: value)
                lastTime = timestamp
                lastValueBits = value.bitPattern
                lastHistogram = nil
            case .appendOutOfOrder:
                outOfOrder.insert((timestamp, value.bitPattern), at: outOfOrderIndex(timestamp))
            default:
                return false
            }
            return true
        }

        /// Histograms are appended in order only; an older one is out of order whatever the window.
        mutating func histogramVerdict(_ timestamp: Int64, _ histogram: FloatHistogram, _ floor: Int64?) -> Verdict {
            if timestamp > lastTime { return .append }
            if timestamp == lastTime {
                return lastHistogram?.sameValue(as: histogram) == true ? .duplicateOK : .duplicateConflict
            }
            if let floor, timestamp < floor { return .tooOld }
            return .outOfOrder
        }

        mutating func appendHistogram(_ timestamp: Int64, _ histogram: FloatHistogram, _ floor: Int64?) -> Bool {
            guard histogramVerdict(timestamp, histogram, floor) == .append else { return false }
            if open.count > 0 || openHistograms?.isFull == true { closeOpenChunk() }
            if openHistograms == nil { openHistograms = HistogramChunkAppender() }
            openHistograms!.append(timestamp: timestamp, histogram: histogram)
            lastTime = timestamp
            lastHistogram = histogram
            return true
        }

        /// Moves the open chunk, whichever kind, to the closed ones.
        mutating func closeOpenChunk() {
            if let chunk = openHistograms {
                closed.append(ClosedChunk(bytes: chunk.bytes, minTime: chunk.minTime, maxTime: chunk.maxTime))
                openHistograms = nil
            }
            if open.count > 0 {
                closed.append(ClosedChunk(bytes: open.compactBytes, minTime: open.minTime, maxTime: open.maxTime))
                open = XORAppender()
            }
        }

        var openChunk: (bytes: [UInt8], minTime: Int64, maxTime: Int64)? {
            if let chunk = openHistograms { return chunk.count > 0 ? (chunk.bytes, chunk.minTime, chunk.maxTime) : nil }
            return open.count > 0 ? (open.bytes, open.minTime, open.maxTime) : nil
        }

        /// Position of the first out-of-order sample at or after `time`.
        func outOfOrderIndex(_ time: Int64) -> Int {
            var low = 0, high = outOfOrder.count
            while low < high {
                let middle = (low + high) / 2
                if outOfOrder[middle].timestamp < time { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    enum AppendResult { case appended, rejected, removed }

    init(ref: SeriesRef, labels: Labels) {
        self.ref = ref
        self.labels = labels
    }

    /// Whether `timestamp`/`value` may be appended: after the last sample, equal to it with the
    /// identical value (a harmless re-send), or — with an out-of-order window, whose lower bound is
    /// `outOfOrderFloor` — older but inside the window.
    enum Verdict { case append, appendOutOfOrder, duplicateOK, outOfOrder, tooOld, duplicateConflict }

    func check(timestamp: Int64, value: Double, outOfOrderFloor: Int64?) -> Verdict {
        state.withLock { $0.verdict(timestamp, value, outOfOrderFloor) }
    }

    /// Appends if still in order (another writer may have raced ahead); returns whether it did.
    @discardableResult
    func append(timestamp: Int64, value: Double, outOfOrderFloor: Int64? = nil) -> Bool {
        appendChecked(timestamp: timestamp, value: value, outOfOrderFloor: outOfOrderFloor) == .appended
    }

    func checkHistogram(timestamp: Int64, histogram: FloatHistogram, outOfOrderFloor: Int64?) -> Verdict {
        state.withLock { $0.histogramVerdict(timestamp, histogram, outOfOrderFloor) }
    }

    func appendHistogramChecked(timestamp: Int64, histogram: FloatHistogram, outOfOrderFloor: Int64? = nil) -> AppendResult {
        state.withLock { state in
            if state.removed { return .removed }
            return state.appendHistogram(timestamp, histogram, outOfOrderFloor) ? .appended : .rejected
        }
    }

    /// Appends a run of samples under one lock (WAL replay); returns how many were taken and the
    /// oldest and newest timestamps among them.
    func append(run samples: UnsafeBufferPointer<WALSample>, minValid: Int64, outOfOrderFloor: Int64?)
        -> (count: Int, oldest: Int64, newest: Int64)
    {
        state.withLock { state in
            var count = 0
            var newest = Int64.min, oldest = Int64.max
            for sample in samples where sample.timestamp >= minValid
                && state.append(sample.timestamp, sample.value, outOfOrderFloor) {
                count += 1
                newest = max(newest, sample.timestamp)
                oldest = min(oldest, sample.timestamp)
            }
            return (count, oldest, newest)
        }
    }

    /// Like `append`, telling apart a series that truncation has dropped from the head.
    func appendChecked(timestamp: Int64, value: Double, outOfOrderFloor: Int64? = nil) -> AppendResult {
        state.withLock { state in
            if state.removed { return .removed }
            return state.append(timestamp, value, outOfOrderFloor) ? .appended : .rejected
        }
    }

    /// The chunks overlapping `[minTime, maxTime]`, copied out so readers never hold the lock.
    func chunks(minTime: Int64, maxTime: Int64) -> [[UInt8]] {
        chunksWithCertainty(minTime: minTime, maxTime: maxTime).chunks
    }

    /// Like `chunks`, and whether a chunk's first or last sample is known to fall inside the range
    /// (when not, the chunks may straddle the range without a sample in it).
    func chunksWithCertainty(minTime: Int64, maxTime: Int64) -> (chunks: [[UInt8]], certain: Bool) {
        state.withLock { state in
            var result: [[UInt8]] = []
            var certain = false
            func take(_ bytes: [UInt8], _ first: Int64, _ last: Int64) {
                guard last >= minTime && first <= maxTime else { return }
                result.append(bytes)
                if first >= minTime || last <= maxTime { certain = true }
            }
            for chunk in state.closed { take(chunk.bytes, chunk.minTime, chunk.maxTime) }
            if let open = state.openChunk { take(open.bytes, open.minTime, open.maxTime) }
            return (result, certain)
        }
    }

    var lastTime: Int64 { state.withLock { $0.lastTime } }

    func stateChunkCount() -> Int {
        state.withLock { $0.closed.count + ($0.openChunk != nil ? 1 : 0) }
    }

    /// Timestamp of the oldest sample still in memory, or `nil` if there is none.
    var firstTime: Int64? {
        state.withLock { state in
            let inOrder = state.closed.first?.minTime ?? state.openChunk?.minTime
            guard let oldest = state.outOfOrder.first?.timestamp else { return inOrder }
            return min(inOrder ?? .max, oldest)
        }
    }

    /// Out-of-order samples in `[minTime, maxTime]`, copied out.
    func outOfOrderSamples(minTime: Int64, maxTime: Int64) -> [(timestamp: Int64, bits: UInt64)] {
        state.withLock { state in
            guard !state.outOfOrder.isEmpty else { return [] }
            let start = state.outOfOrderIndex(minTime)
            var end = start
            while end < state.outOfOrder.count && state.outOfOrder[end].timestamp <= maxTime { end += 1 }
            return Array(state.outOfOrder[start..<end])
        }
    }

    /// The samples in `[minTime, maxTime)` as chunks, for writing a block: the closed chunks as they
    /// are when they all lie inside the range and no out-of-order sample does, otherwise re-encoded.
    func encodedChunks(minTime: Int64, maxTime: Int64) -> (chunks: [EncodedChunk], samples: Int) {
        let whole: [EncodedChunk]? = state.withLock { state in
            guard state.outOfOrder.isEmpty || state.outOfOrder.allSatisfy({ $0.timestamp < minTime || $0.timestamp >= maxTime })
            else { return nil }
            var chunks: [EncodedChunk] = []
            for chunk in state.closed where chunk.maxTime >= minTime && chunk.minTime < maxTime {
                guard chunk.minTime >= minTime, chunk.maxTime < maxTime else { return nil }
                chunks.append(EncodedChunk(minTime: chunk.minTime, maxTime: chunk.maxTime, bytes: chunk.bytes))
            }
            if let open = state.openChunk, open.maxTime >= minTime && open.minTime < maxTime { return nil }
            return chunks
        }
        if let whole {
            return (whole, whole.reduce(0) { $0 + $1.sampleCount })
        }
        var iterator = MergeIterator(
            ChunkListIterator(chunks: chunks(minTime: minTime, maxTime: maxTime - 1), minTime: minTime, maxTime: maxTime - 1),
            SampleArrayIterator(outOfOrderSamples(minTime: minTime, maxTime: maxTime - 1)))
        var builder = ChunkBuilder()
        builder.append(contentsOf: &iterator)
        return (builder.finish(), builder.samples)
    }

    /// The series' state for a head snapshot. An open histogram chunk is stored closed: they are
    /// rare, and the next histogram then starts a new chunk.
    func snapshot() -> WALSeriesChunks {
        state.withLock { state in
            var closed = state.closed.map { WALSeriesChunks.Chunk(minTime: $0.minTime, maxTime: $0.maxTime, bytes: $0.bytes) }
            if let histograms = state.openHistograms, histograms.count > 0 {
                closed.append(WALSeriesChunks.Chunk(minTime: histograms.minTime, maxTime: histograms.maxTime, bytes: histograms.bytes))
            }
            return WALSeriesChunks(
                ref: ref, lastTime: state.lastTime, lastValueBits: state.lastValueBits, closed: closed, open: state.open.count > 0 ? state.open.resumeState : nil,
                outOfOrder: state.outOfOrder.map { WALSeriesChunks.OutOfOrderSample(timestamp: $0.timestamp, bits: $0.bits) })
        }
    }

    /// Takes the state a snapshot stored, dropping closed chunks that end before `minValid` (as
    /// truncation would have). A series that already holds samples (a snapshot record that is not
    /// its first) gets the snapshot's samples appended one by one instead, with the usual checks.
    /// Returns how many samples were taken and their oldest and newest times, nil when none was.
    func restore(_ snapshot: WALSeriesChunks, minValid: Int64, outOfOrderFloor: Int64?) -> (count: Int, oldest: Int64, newest: Int64)? {
        guard let snapshot = snapshot.keeping(from: minValid) else { return nil }
        return state.withLock { state in
            guard state.lastTime == .min, state.closed.isEmpty, state.outOfOrder.isEmpty else {
                return Self.appendSamples(of: snapshot, to: &state, outOfOrderFloor: outOfOrderFloor)
            }
            state.closed = snapshot.closed.map { ClosedChunk(bytes: $0.bytes, minTime: $0.minTime, maxTime: $0.maxTime) }
            state.open = snapshot.open.flatMap(XORAppender.init(resuming:)) ?? XORAppender()
            state.outOfOrder = snapshot.outOfOrder.map { ($0.timestamp, $0.bits) }
            state.lastTime = snapshot.lastTime
            state.lastValueBits = snapshot.lastValueBits
            if snapshot.open == nil, let last = snapshot.closed.last, last.bytes.first == HistogramChunkAppender.tag,
               last.maxTime == snapshot.lastTime {
                // Equal histograms re-sent at the newest timestamp are accepted as duplicates.
                var histograms = HistogramChunkIterator(last.bytes)
                while histograms.next() { state.lastHistogram = histograms.histogram }
            }
            return snapshot.firstTime.map { (snapshot.sampleCount, $0, snapshot.lastTime) }
        }
    }

    private static func appendSamples(of snapshot: WALSeriesChunks, to state: inout State, outOfOrderFloor: Int64?)
        -> (count: Int, oldest: Int64, newest: Int64)?
    {
        var chunks = snapshot.closed.map(\.bytes)
        if let open = snapshot.open {
            chunks.append([UInt8(open.count >> 8), UInt8(open.count & 0xFF)] + open.bits)
        }
        var iterator = MergeIterator(
            ChunkListIterator(chunks: chunks, minTime: .min, maxTime: .max),
            SampleArrayIterator(snapshot.outOfOrder.map { ($0.timestamp, $0.bits) }))
        var oldest = Int64.max, newest = Int64.min, count = 0
        while iterator.next() {
            let taken = if let histogram = iterator.histogram {
                state.appendHistogram(iterator.timestamp, histogram, outOfOrderFloor)
            } else {
                state.append(iterator.timestamp, iterator.value, outOfOrderFloor)
            }
            if taken {
                count += 1
                oldest = min(oldest, iterator.timestamp)
                newest = max(newest, iterator.timestamp)
            }
        }
        return count > 0 ? (count, oldest, newest) : nil
    }

    /// Removes the samples in `deleted`, re-encoding the chunks that held them. The last appended
    /// timestamp is kept, so ordering rules for new samples do not change.
    func delete(_ deleted: Intervals) {
        state.withLock { state in
            var all: [[UInt8]] = state.closed.map(\.bytes)
            if let open = state.openChunk { all.append(open.bytes) }
            state.outOfOrder.removeAll { deleted.contains($0.timestamp) }
            var iterator = DeletionFilterIterator(ChunkListIterator(chunks: all, minTime: .min, maxTime: .max), deleted: deleted)
            var builder = ChunkBuilder()
            builder.append(contentsOf: &iterator)
            // Everything left becomes closed chunks; the next append starts a new open one.
            state.closed = builder.finish().map { ClosedChunk(bytes: $0.bytes, minTime: $0.minTime, maxTime: $0.maxTime) }
            state.open = XORAppender()
            state.openHistograms = nil
        }
    }

    /// Drops closed chunks that end before `time`; returns true when nothing is left in memory and
    /// no newer sample can be appended below `time`, so the series can be forgotten.
    func truncate(before time: Int64) -> Bool {
        state.withLock { state in
            state.closed.removeAll { $0.maxTime < time }
            state.outOfOrder.removeAll { $0.timestamp < time }
            // Decided under the lock, so no append can land in between and be lost with the series.
            state.removed = state.closed.isEmpty && state.outOfOrder.isEmpty
                && (state.openChunk.map { $0.maxTime < time } ?? true)
            return state.removed
        }
    }
}
